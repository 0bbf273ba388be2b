#!/usr/bin/env python3
"""Check a `lineage export --format gguf` file with llama.cpp (llama-cpp-python) and gguf-py.

    python tools/export_check/check_gguf.py MODEL.gguf [MODEL.gguf ...]
        [--lineage target/debug/lineage] [--input IN.safetensors] [--new-tokens 16]
        [--tol-logits T]

Per file, with whatever of the two libraries is importable (each check says when it is
skipped; exit status 2 when neither could run):
  * gguf-py (`pip install gguf`): `GGUFReader` parses the file; architecture, tensor
    count/types and the tokenizer keys are printed.
  * llama_cpp (`pip install llama-cpp-python`): the model loads; on the first row of
    input ids (from --input's `input_ids`, else seeded random ids) llama.cpp's logits
    (`logits_all=True`) are compared with `lineage forward FILE --precision f32`, and
    llama.cpp's greedy continuation with `lineage generate --greedy --precision f32`.
    llama.cpp computes in its own kernels (F16 intermediate tables for GELU, its matmul
    accumulation), so logits differ at the 1e-4 .. 1e-3 level even for F32 files; the
    greedy tokens must be equal unless top-2 margins are tiny (printed). The default logit
    tolerance follows the weights: 1e-3 for F32; 5e-3 for F16 (llama.cpp rounds the
    activations to F16 for those matmuls); 5e-2 for Q8_0 (it quantizes the activations to
    8 bits, lineage keeps them f32). `--tol-logits` overrides it.
Exit status 1 if a check that ran failed.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def try_import(name):
    try:
        return __import__(name)
    except ImportError:
        return None


def ids_for(args, vocab: int) -> np.ndarray:
    if args.input:
        from safetensors.numpy import load_file

        return load_file(str(args.input))["input_ids"][:1].astype(np.int64)
    rng = np.random.default_rng(args.seed)
    return rng.integers(0, vocab, (1, args.seq), dtype=np.int64)


def lineage(args, cmd: list[str], path: Path, ids: np.ndarray, key: str) -> np.ndarray:
    from safetensors.numpy import load_file, save_file

    with tempfile.TemporaryDirectory() as t:
        inp, out = Path(t) / "ids.safetensors", Path(t) / "out.safetensors"
        save_file({"input_ids": np.ascontiguousarray(ids)}, str(inp))
        full = [args.lineage, cmd[0], str(path), "--input", str(inp), "--out", str(out), "--precision", "f32", *cmd[1:]]
        r = subprocess.run(full, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(full)} failed:\n{r.stderr}")
        return load_file(str(out))[key]


def check_reader(gguf, path: Path) -> bool:
    r = gguf.GGUFReader(str(path))
    f = r.fields
    arch = bytes(f["general.architecture"].parts[-1]).decode()
    types = sorted({t.tensor_type.name for t in r.tensors})
    tok = bytes(f["tokenizer.ggml.model"].parts[-1]).decode() if "tokenizer.ggml.model" in f else "(none)"
    print(f"  gguf-py: arch {arch}, {len(r.tensors)} tensors ({', '.join(types)}), tokenizer {tok}")
    return types


# Logit tolerance by the coarsest weight type in the file (see the module header).
TOLERANCE = {"Q8_0": 5e-2, "F16": 5e-3, "F32": 1e-3}


def tolerance(args, types) -> float:
    if args.tol_logits is not None:
        return args.tol_logits
    return max((TOLERANCE.get(t, 5e-2) for t in types or ["F32"]), default=1e-3)


def check_llama_cpp(llama_cpp, args, path: Path, tol: float) -> bool:
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=args.seq + args.new_tokens + 8, logits_all=True, verbose=False)
    ids = ids_for(args, llm.n_vocab())
    toks = [int(x) for x in ids[0]]
    llm.reset()
    llm.eval(toks)
    ref = np.array(llm.scores[: len(toks)], dtype=np.float32)
    ours = lineage(args, ["forward"], path, ids, "logits")[0]
    d = float(np.abs(ref - ours).max())
    ok = d <= tol
    print(f"  llama.cpp vs lineage forward: logits max|Δ| = {d:.3e} {'ok' if ok else 'FAIL'} (tol {tol:.0e})")
    greedy = []
    llm.reset()
    llm.eval(toks)
    margins = []
    for _ in range(args.new_tokens):
        s = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        top = np.argsort(-s)[:2]
        margins.append(float(s[top[0]] - s[top[1]]))
        greedy.append(int(top[0]))
        llm.eval([greedy[-1]])
    ours_ids = lineage(args, ["generate", "--greedy", "--max-new-tokens", str(args.new_tokens)], path, ids, "ids")[0]
    ours_new = [int(x) for x in ours_ids[len(toks):]]
    same = ours_new == greedy
    print(f"  greedy {args.new_tokens} tokens: llama.cpp {greedy} / lineage {ours_new}: "
          f"{'equal' if same else 'DIFFER'} (min top-2 margin {min(margins):.2e})")
    return ok and same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--lineage", default="target/debug/lineage")
    ap.add_argument("--input", type=Path)
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--tol-logits", type=float, default=None)
    args = ap.parse_args()
    gguf, llama_cpp = try_import("gguf"), try_import("llama_cpp")
    if gguf is None:
        print("gguf-py not importable: reader check skipped")
    if llama_cpp is None:
        print("llama_cpp not importable: llama.cpp logits/greedy check skipped")
    if gguf is None and llama_cpp is None:
        sys.exit(2)
    ok = True
    for path in args.files:
        print(path)
        types = check_reader(gguf, path) if gguf is not None else None
        if llama_cpp is not None:
            ok &= check_llama_cpp(llama_cpp, args, path, tolerance(args, types))
    print("all checks that ran passed" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
