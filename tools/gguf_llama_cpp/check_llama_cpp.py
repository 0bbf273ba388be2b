#!/usr/bin/env python3
"""Runs every converter-written F32 fixture through llama.cpp itself and through lineage.

    python check_llama_cpp.py LINEAGE_BIN [FIXTURE_DIR] [HF_DIR]

Needs `llama-cpp-python` (PyPI, built from its sdist). For each `<case>.f32.gguf` it evaluates
the fixture's first input row with llama.cpp (f32 weights, one sequence) and with
`lineage forward --precision f32`, and prints max|logit difference| of lineage vs llama.cpp
and of HF's logits vs llama.cpp. Where llama.cpp hard-codes a value the file cannot state
(Gemma 3's layer pattern and scale, Mistral's window, gpt-oss's SwiGLU limit, DeepSeek's
gating without `expert_gating_func`), lineage should agree with llama.cpp and HF should not.
LongRoPE: llama.cpp picks the short or long factors by context *size* (and pads n_ctx to
256), lineage and transformers by sequence length, so on the fixture's 32 tokens llama.cpp
uses the long factors and the others the short ones; the `<case>.long` row compares a
96-token input, past the original context of 64, where all three use the long factors.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[2]


def llama_cpp_logits(path: Path, ids: list[int], n_ctx: int) -> np.ndarray:
    from llama_cpp import Llama

    m = Llama(model_path=str(path), logits_all=True, n_ctx=n_ctx, n_threads=2, n_batch=len(ids), verbose=False)
    m.eval(ids)
    return np.array(m.scores[: len(ids)], dtype=np.float64)


def lineage_logits(binary: str, path: Path, ids: np.ndarray, tmp: Path) -> np.ndarray:
    inp, out = tmp / "in.safetensors", tmp / "out.safetensors"
    save_file({"input_ids": torch.from_numpy(ids).long().contiguous()}, str(inp))
    subprocess.run([binary, "forward", str(path), "--precision", "f32", "--input", str(inp), "--out", str(out)],
                   check=True, capture_output=True)
    return load_file(str(out))["logits"][0].astype(np.float64)


def main() -> None:
    binary = sys.argv[1]
    fixtures = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "crates/lineage/tests/fixtures/gguf_llama_cpp"
    hf_dir = Path(sys.argv[3]) if len(sys.argv) > 3 else ROOT / "crates/lineage/tests/fixtures/hf"
    print("| case | lineage vs llama.cpp | HF vs llama.cpp |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory() as t:
        for f in sorted(fixtures.glob("*.f32.gguf")):
            case = f.name.removesuffix(".f32.gguf")
            runs = [(case, hf_dir / case / "expected.safetensors")]
            long = fixtures / f"{case}.long.expected.safetensors"
            if long.is_file():
                runs.append((f"{case}.long", long))
            for name, oracle in runs:
                exp = load_file(str(oracle))
                ids = exp["input_ids"][:1]
                try:
                    ref = llama_cpp_logits(f, ids[0].tolist(), 256)
                except Exception as e:  # llama.cpp refuses the file
                    print(f"| {name} | llama.cpp failed: {e} | |", flush=True)
                    continue
                ours = lineage_logits(binary, f, ids, Path(t))
                hf = exp["logits"][0].astype(np.float64)
                print(f"| {name} | {np.abs(ours - ref).max():.2e} | {np.abs(hf - ref).max():.2e} |", flush=True)


if __name__ == "__main__":
    main()
