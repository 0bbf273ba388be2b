"""Quantization fixtures from an outside oracle: gguf-py (`pip install gguf numpy`).

For every ggml block type lineage supports, writes raw block bytes and gguf-py's
dequantized f32 values to crates/lineage/tests/fixtures/quant/quant_fixtures.safetensors:
  <TYPE>.blocks   U8  [n_bytes]      the blocks, row after row
  <TYPE>.dequant  F32 [ROWS, COLS]   gguf.quants.dequantize(blocks, TYPE)
Types gguf-py can quantize are quantized from random normal rows; for the K-quants
(gguf-py only dequantizes them) the blocks are random bytes with sane f16 scales.
The safetensors file is written by hand (8-byte header length, JSON, data) to need no
extra package. Run: python tools/quant_fixtures/make_quant_fixtures.py
"""
import json
import os
import struct

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGML_QUANT_SIZES, quants

ROWS, COLS = 2, 512
SEED = 20240611
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "lineage", "tests",
                   "fixtures", "quant", "quant_fixtures.safetensors")

QUANTIZABLE = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.MXFP4]
# Byte offsets of the f16 scale fields inside each K-quant block.
K_SCALE_FIELDS = {T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}


def quantized(rng, qtype):
    x = (rng.standard_normal((ROWS, COLS)) * rng.uniform(0.01, 2.0, (ROWS, 1))).astype(np.float32)
    x[0, :7] = [0.0, -0.0, 1e-8, -3.5, 3.5, 100.0, -100.0]  # edge values in one block
    if qtype == T.F32:
        return x.view(np.uint8).reshape(ROWS, -1)
    if qtype == T.F16:
        return x.astype(np.float16).view(np.uint8).reshape(ROWS, -1)
    return quants.quantize(x, qtype)


def random_k_blocks(rng, qtype):
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    n_blocks = ROWS * COLS // block_size
    b = rng.integers(0, 256, (n_blocks, type_size), dtype=np.uint8)
    for off in K_SCALE_FIELDS[qtype]:
        scale = (rng.standard_normal(n_blocks) * 0.01).astype(np.float16)
        b[:, off:off + 2] = scale.view(np.uint8).reshape(n_blocks, 2)
    return b.reshape(ROWS, -1)


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, (dtype, arr) in tensors.items():
        data = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for blob in blobs:
            f.write(blob)


def main():
    rng = np.random.default_rng(SEED)
    tensors = {}
    for qtype in QUANTIZABLE + list(K_SCALE_FIELDS):
        blocks = quantized(rng, qtype) if qtype in QUANTIZABLE else random_k_blocks(rng, qtype)
        deq = quants.dequantize(blocks, qtype).astype(np.float32).reshape(ROWS, COLS)
        assert np.isfinite(deq).all(), qtype.name
        tensors[f"{qtype.name}.blocks"] = ("U8", blocks.reshape(-1))
        tensors[f"{qtype.name}.dequant"] = ("F32", deq)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_safetensors(OUT, tensors)
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
