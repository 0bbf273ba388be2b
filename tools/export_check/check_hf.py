#!/usr/bin/env python3
"""Check a `lineage export --format hf` folder with Hugging Face transformers.

    /tmp/venv-ref/bin/python tools/export_check/check_hf.py EXPORT_DIR [EXPORT_DIR ...]
        [--lineage target/debug/lineage] [--input IN.safetensors] [--batch 2 --seq 32]
        [--tol 1e-4]

For each folder: `AutoModelForCausalLM.from_pretrained` (float32, eager attention) runs
on input ids (from --input's `input_ids`, else seeded random ids), `lineage forward` runs
on the same folder and ids, and the max |Δ| of the logits is printed. When the folder has
a tokenizer, `AutoTokenizer.from_pretrained` must load it and encode like the raw
`tokenizers` library on a few probes. Exit status 1 if any check fails.
Needs torch, transformers (5.x; 4.x reads the legacy keys the export also writes) and
safetensors, e.g. the oracle venv of tools/oracle/requirements.txt.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

PROBES = ["The quick brown fox", "didn't 1984 jumps<|endoftext|>over", "  two spaces\tand\nnewlines"]


def input_ids(args, vocab: int) -> torch.Tensor:
    if args.input:
        return load_file(args.input)["input_ids"].to(torch.int64)
    g = torch.Generator().manual_seed(args.seed)
    return torch.randint(0, vocab, (args.batch, args.seq), generator=g, dtype=torch.int64)


def lineage_logits(args, folder: Path, ids: torch.Tensor, tmp: Path) -> torch.Tensor:
    inp, out = tmp / "ids.safetensors", tmp / "lineage_out.safetensors"
    save_file({"input_ids": ids.contiguous()}, str(inp))
    cmd = [args.lineage, "forward", str(folder), "--input", str(inp), "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return load_file(str(out))["logits"]


def check_tokenizer(folder: Path) -> bool:
    if not (folder / "tokenizer.json").is_file():
        return True
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(folder / "tokenizer.json"))
    auto = AutoTokenizer.from_pretrained(folder)
    ok = True
    for p in PROBES:
        a = auto(p, add_special_tokens=False)["input_ids"]
        b = raw.encode(p, add_special_tokens=False).ids
        if a != b:
            print(f"  tokenizer: {p!r}: AutoTokenizer {a} != tokenizers {b}")
            ok = False
    print(f"  tokenizer: AutoTokenizer ({type(auto).__name__}) loads, eos={auto.eos_token!r}, "
          f"probes {'equal' if ok else 'DIFFER'}")
    return ok


def check(args, folder: Path) -> bool:
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    ids = input_ids(args, model.config.vocab_size)
    with torch.no_grad():
        hf = model(ids, use_cache=False).logits
    with tempfile.TemporaryDirectory() as t:
        ours = lineage_logits(args, folder, ids, Path(t))
    d = (hf - ours).abs().max().item()
    ok = d <= args.tol
    print(f"{folder}: {type(model).__name__} ({model.config.model_type}) logits {list(hf.shape)} "
          f"vs lineage forward: max|Δ| = {d:.3e} {'ok' if ok else 'FAIL'} (tol {args.tol:.0e})")
    return check_tokenizer(folder) and ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--lineage", default="target/debug/lineage")
    ap.add_argument("--input", type=Path)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    results = [check(args, f) for f in args.folders]
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
