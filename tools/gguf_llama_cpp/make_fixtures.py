#!/usr/bin/env python3
"""GGUF fixtures written by llama.cpp's own converter, with their HF oracles.

    python make_fixtures.py LLAMA_CPP_DIR HF_FIXTURES OUT_DIR [--only a,b]

LLAMA_CPP_DIR is `vendor/llama.cpp` of the PyPI `llama-cpp-python` sdist. For every case of
HF_FIXTURES (the transformers-made checkpoints, see ../oracle/) this script:

1. stages the checkpoint with a minimal byte-level tokenizer (the converter needs one; see
   run_converter.py) and, where the converter fails on the config transformers 5 saved, with
   the key real checkpoints of that family carry (CONFIG_FIXUPS; each is recorded in the
   README together with the converter's error);
2. runs `convert_hf_to_gguf.py` unchanged, `--outtype f32` and `--outtype q8_0`;
3. makes the Q8_0 oracle: HF run on the weights the Q8_0 file holds. A third conversion of
   an *index* checkpoint (every element = its global position + 1, exact in f32) tells,
   for every GGUF element, which HF element the converter's permutations, transposes,
   splits and stacks moved there; each dequantised element of every non-F32 tensor (Q8_0,
   and the F16 the converter keeps for a few, e.g. DeepSeek's `attn_k_b`) is put back at that HF
   position, the checkpoint is saved, re-loaded with `from_pretrained` and run in f32 with
   eager attention on the fixture's `input_ids`. Writes `<case>.q8_0.expected.safetensors`
   (`logits`).

The F32 files are compared with the HF fixture's own `expected.safetensors`; cases in
LONG_INPUTS also get `<case>.long.expected.safetensors`: HF's logits on a seeded input
longer than the fixture's (LongRoPE past its original context).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file as load_np, save_file as save_np
from safetensors.torch import save_file as save_torch

HERE = Path(__file__).resolve().parent

# What the converter reads that transformers 5 no longer saves (`key`: value from config).
CONFIG_FIXUPS = {
    # GPT2Model.set_gguf_parameters reads `n_ctx`; real GPT-2 configs carry it (= n_positions).
    "gpt2": lambda c: c.setdefault("n_ctx", c["n_positions"]),
    # GPTNeoXModel reads `rotary_pct`; transformers 5 moves it into rope_parameters, and its
    # AutoConfig drops it even from config.json, so this case also needs CONFIG_JSON.
    "gpt_neox": lambda c: c.setdefault("rotary_pct", c["rope_parameters"]["partial_rotary_factor"]),
    # FalconModel takes `num_kv_heads` before `multi_query`, and transformers 5 fills it with
    # the head count for a multi-query model (HF's modelling ignores it there: one KV head).
    # Saying 1, which is what the model computes, lets the converter split the QKV.
    "falcon_mq": lambda c: c.update(num_kv_heads=1),
}
# Cases converted from config.json as written (run_converter.py --config-json).
CONFIG_JSON = {"gpt_neox"}
# Cases that also get HF logits on a longer input: LongRoPE past its original context.
LONG_INPUTS = {"phi3_longrope": 96}
# Q8_0 of an MXFP4 checkpoint would requantise its experts; the F32 file keeps them MXFP4.
NO_Q8_0 = {"gpt_oss_mxfp4"}


def byte_tokenizer(vocab_size: int) -> dict:
    sys.path.insert(0, str(HERE))
    from run_converter import byte_level_char

    vocab = {byte_level_char(b): b for b in range(256)}
    vocab.update({f"[PAD{i}]": i for i in range(256, vocab_size)})
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  # llama.cpp refuses a BPE vocabulary without merges; one is enough to load.
                  "merges": [["\u0120", "\u0120"]]},
    }


def stage(src: Path, dst: Path, case: str, weights: dict | None = None) -> list[str]:
    dst.mkdir(parents=True)
    cfg = json.loads((src / "config.json").read_text())
    before = dict(cfg)
    if case in CONFIG_FIXUPS:
        CONFIG_FIXUPS[case](cfg)
    changed = sorted(k for k in set(cfg) | set(before) if cfg.get(k) != before.get(k))
    (dst / "config.json").write_text(json.dumps(cfg, indent=2))
    if weights is None:
        shutil.copy(src / "model.safetensors", dst / "model.safetensors")
    else:
        save_np(weights, str(dst / "model.safetensors"), metadata={"format": "pt"})
    (dst / "tokenizer.json").write_text(json.dumps(byte_tokenizer(cfg["vocab_size"])))
    (dst / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "GPT2Tokenizer"}))
    return changed


def convert(llama_cpp: Path, model_dir: Path, out: Path, outtype: str, case: str) -> None:
    raw = ["--config-json"] if case in CONFIG_JSON else []
    cmd = [sys.executable, str(HERE / "run_converter.py"), str(llama_cpp), *raw, str(model_dir),
           "--outfile", str(out), "--outtype", outtype]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"converter failed on {model_dir.name} ({outtype}): " + r.stderr.strip().splitlines()[-1])


def gguf_tensors(path: Path) -> dict:
    import gguf
    from gguf.quants import dequantize

    out = {}
    for t in gguf.GGUFReader(str(path)).tensors:
        shape = tuple(int(d) for d in reversed(t.shape))
        qt = gguf.GGMLQuantizationType(t.tensor_type)
        out[t.name] = (qt, dequantize(t.data, qt).reshape(shape).astype(np.float32))
    return out


def index_weights(hf: dict) -> tuple[dict, list]:
    """Every element replaced by its global position + 1 (exact in f32 below 2^24)."""
    idx, spans, start = {}, [], 1
    for name, w in hf.items():
        n = w.size
        idx[name] = np.arange(start, start + n, dtype=np.float64).reshape(w.shape).astype(np.float32)
        spans.append((name, start, n))
        start += n
    assert start < 2**24, "index checkpoint too large for exact f32 positions"
    return idx, spans


def dequantized_hf(hf: dict, q8: dict, index: dict, spans: list) -> dict:
    flat = {name: hf[name].astype(np.float32).ravel().copy() for name in hf}
    written: dict[str, dict[int, float]] = {}
    for gname, (qt, values) in q8.items():
        if qt.name == "F32":  # every other type rounded the weights (Q8_0, and F16 for some)
            continue
        pos = index[gname][1]
        assert np.all(pos == np.round(pos)) and pos.min() >= 1, f"{gname}: not a pure gather of HF elements"
        for name, start, n in spans:
            sel = (pos >= start) & (pos < start + n)
            if not sel.any():
                continue
            at = (pos[sel] - start).astype(np.int64)
            vals = values[sel]
            prev = written.setdefault(name, {})
            for a, v in zip(at.tolist(), vals.tolist()):
                assert prev.setdefault(a, v) == v, f"{name}[{a}] gets two values"
            flat[name][at] = vals
    return {name: flat[name].reshape(hf[name].shape) for name in hf}


def hf_logits(model_dir: Path, ids: torch.Tensor) -> torch.Tensor:
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager",
                                             experts_implementation="eager").eval()
    with torch.no_grad():
        return m(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).logits


def run_case(llama_cpp: Path, src: Path, out: Path, tmp: Path) -> dict:
    case = src.name
    info = {"case": case}
    if case in CONFIG_FIXUPS:  # record what the converter says without the fix-up
        stage(src, tmp / "plain", "")
        try:
            convert(llama_cpp, tmp / "plain", tmp / "plain.gguf", "f32", "")
            info["without_fixup"] = "converted"
        except RuntimeError as e:
            info["without_fixup"] = str(e).split(": ", 1)[1]
    info["config_fixup"] = stage(src, tmp / "model", case)
    convert(llama_cpp, tmp / "model", out / f"{case}.f32.gguf", "f32", case)
    if case in LONG_INPUTS:
        vocab = json.loads((src / "config.json").read_text())["vocab_size"]
        rng = np.random.default_rng(0)
        ids = torch.from_numpy(rng.integers(0, vocab, (1, LONG_INPUTS[case]))).long()
        logits = hf_logits(src, ids)
        save_torch({"input_ids": ids, "logits": logits.contiguous()}, str(out / f"{case}.long.expected.safetensors"))
    if case in NO_Q8_0:
        return info
    convert(llama_cpp, tmp / "model", out / f"{case}.q8_0.gguf", "q8_0", case)
    hf = load_np(str(src / "model.safetensors"))
    idx_w, spans = index_weights(hf)
    stage(src, tmp / "index", case, idx_w)
    convert(llama_cpp, tmp / "index", tmp / "index.gguf", "f32", case)
    deq = dequantized_hf(hf, gguf_tensors(out / f"{case}.q8_0.gguf"), gguf_tensors(tmp / "index.gguf"), spans)
    stage(src, tmp / "deq", case, deq)
    ids = torch.from_numpy(load_np(str(src / "expected.safetensors"))["input_ids"]).long()
    logits = hf_logits(tmp / "deq", ids)
    save_torch({"input_ids": ids, "logits": logits.contiguous()}, str(out / f"{case}.q8_0.expected.safetensors"))
    return info


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("llama_cpp", type=Path)
    p.add_argument("hf", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--only", default="")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    only = set(filter(None, a.only.split(",")))
    cases = sorted(d for d in a.hf.iterdir() if (d / "config.json").is_file() and (not only or d.name in only))
    report = []
    for src in cases:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                info = run_case(a.llama_cpp, src, a.out, Path(tmp))
            except Exception as e:  # recorded, the other cases still run
                info = {"case": src.name, "error": str(e)}
        print(json.dumps(info), flush=True)
        report.append(info)
    # --only updates its cases in the record and keeps the others.
    record = a.out / "conversions.json"
    old = json.loads(record.read_text()) if record.is_file() else []
    merged = {r["case"]: r for r in old} | {r["case"]: r for r in report}
    record.write_text(json.dumps([merged[k] for k in sorted(merged)], indent=1) + "\n")


if __name__ == "__main__":
    main()
