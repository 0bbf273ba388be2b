#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (fuzz/seeds/<target>/, and
fuzz/seeds/gguf/ for both GGUF targets) from real
files: the fixtures' GGUF headers (llama.cpp's own converter), the real SmolLM2 and
Gemma-3 headers with their vocabularies cut to 512 entries, the fixture configs and
safetensors headers, chat templates, harmony text, tokenizers trained here, kernel blocks.

Needs gguf-py, numpy and tokenizers (e.g. /tmp/venv-ref: `pip install gguf tokenizers`)
and, for the two real headers, the models in the lineage cache (scripts/fetch-models.sh).
Seeds are headers only: the targets append zero data (fuzz/src/lib.rs, DATA_PAD).
"""
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FX = ROOT / "crates/lineage/tests/fixtures"
OUT = ROOT / "fuzz/seeds"
CACHE = Path(os.environ.get("LINEAGE_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lineage")
KEEP = 512


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def gguf_header_prefix(path):
    """The bytes before the data section: header, metadata, tensor infos."""
    import gguf
    r = gguf.GGUFReader(str(path))
    return path.read_bytes()[: r.data_offset]


def trimmed_real_header(path):
    """A real file's header with long arrays cut to KEEP entries (tensor infos kept)."""
    import gguf
    r = gguf.GGUFReader(str(path))
    arch = r.fields["general.architecture"].contents()
    tmp = OUT / "tmp.gguf"
    w = gguf.GGUFWriter(str(tmp), arch)
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        vt = f.types[0]
        v = f.contents()
        if vt == gguf.GGUFValueType.ARRAY:
            w.add_key_value(name, v[:KEEP], vt, sub_type=f.types[-1])
        else:
            w.add_key_value(name, v, vt)
    for t in r.tensors:
        shape = [int(d) for d in reversed(t.shape.tolist())]
        block, size = gguf.GGML_QUANT_SIZES[t.tensor_type]
        byte_shape = shape[:-1] + [shape[-1] // block * size]  # gguf-py takes bytes per row
        w.add_tensor_info(t.name, byte_shape, np.dtype(np.uint8), int(t.n_bytes), raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def gguf_seeds():
    for p in sorted((FX / "gguf_llama_cpp").glob("*.q8_0.gguf")) + [FX / "gguf_llama_cpp/gpt_oss_mxfp4.f32.gguf"]:
        put("gguf", p.stem, gguf_header_prefix(p))
    for name in ("SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"):
        p = CACHE / name
        if not p.is_file():
            sys.exit(f"{p} missing: run scripts/fetch-models.sh")
        put("gguf", name + ".header", trimmed_real_header(p))


def safetensors_seeds():
    for d in sorted((FX / "hf").iterdir()):
        st = d / "model.safetensors"
        if not st.is_file():
            continue
        b = st.read_bytes()
        (n,) = struct.unpack("<Q", b[:8])
        put("safetensors_header", d.name, b"\x00" + b[: 8 + n])
        put("config_json", d.name, (d / "config.json").read_bytes())
        names = list(json.loads(b[8 : 8 + n]))
        index = {"metadata": {"total_size": len(b)}, "weight_map": {k: f"model-0000{i % 2 + 1}-of-00002.safetensors" for i, k in enumerate(names) if k != "__metadata__"}}
        put("safetensors_header", d.name + ".index", b"\x01" + json.dumps(index).encode())


def tokenizer_seeds():
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers, normalizers
    text = [m for c in json.loads((FX / "text/chat_template_refs.json").read_text())["cases"] for m in [c.get("expected") or c["template"]]]
    text += [(FX / "text/gpt_oss_chat_template.jinja").read_text()]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(text, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    put("tokenizer_json", "bytelevel_bpe", bpe.to_str())
    uni = Tokenizer(models.Unigram())
    uni.normalizer = normalizers.NFKC()
    uni.pre_tokenizer = pre_tokenizers.Metaspace()
    uni.decoder = decoders.Metaspace()
    uni.train_from_iterator(text, trainers.UnigramTrainer(vocab_size=200, special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>"))
    put("tokenizer_json", "unigram", uni.to_str())
    wp = Tokenizer(models.WordLevel(vocab={"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    wp.pre_tokenizer = pre_tokenizers.Whitespace()
    put("tokenizer_json", "wordlevel", wp.to_str())


def text_seeds():
    refs = json.loads((FX / "text/chat_template_refs.json").read_text())
    tok_refs = json.loads((FX / "text/smollm2_token_refs.json").read_text())
    cases = tok_refs["cases"] if isinstance(tok_refs, dict) and "cases" in tok_refs else tok_refs
    texts = [c["text"] for c in cases if isinstance(c, dict) and "text" in c][:24]
    for i, t in enumerate(texts):
        put("gguf_vocab", f"bpe{i}", b"\x01" + t.encode())
        put("gguf_vocab", f"spm{i}", b"\x03" + t.encode())
    put("gguf_vocab", "crafted", b"\x00\x00a\x00b\x00ab\x00c\xffa b\x01ab c\xff\x01\x00\x00\x00\x02\x00\x00\x00abcab")
    seen = set()
    for c in refs["cases"]:
        msgs = b"\x1e".join(m["role"].encode() + b"\x1f" + m["content"].encode() for m in c["messages"])
        key = c["name"].split("/")[0] + "_" + c["name"].split("/")[1]
        if key in seen:
            continue
        seen.add(key)
        put("chat_template", key, c["template"].encode() + b"\x00" + msgs)
    gpt_oss = (FX / "text/gpt_oss_chat_template.jinja").read_bytes()
    put("chat_template", "gpt_oss", gpt_oss + b"\x00user\x1fhi\x1eassistant\x1fhello")
    for h in refs["harmony"]:
        put("harmony", h["name"].replace("/", "_"), h["expected"])
    put("harmony", "completion", "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Paris.<|return|>")
    put("harmony", "tool_call", "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}<|call|>")


def kernel_seeds():
    rng = np.random.default_rng(0)
    # ggml type ids lineage multiplies: F32 F16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K..Q6_K BF16 MXFP4
    for ty in (0, 1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 30, 39):
        head = bytes([ty, 3, 2, 2])
        x = rng.integers(-64, 64, 2 * 2 * 256, dtype=np.int8).tobytes()
        w = rng.integers(0, 256, 3 * 2 * 256, dtype=np.uint8)
        w[1::34] &= 0x3B  # keep most f16 scales finite (exponent below all-ones)
        put("quant_kernels", f"type{ty}", head + x + w.tobytes())
    for i, logits in enumerate([[0.5, -1.0, 2.0, 2.0], [float("nan"), 1.0, float("inf")], [float("-inf")] * 4, [1e38, -1e38, 0.0]]):
        cfg = struct.pack("<fIfffffBIQ", [0.0, 0.8, 1.5][i % 3], 2, 0.9, 0.05, 1.1, 0.5, 0.5, 0, 8, i)
        hist = bytes([3]) + struct.pack("<III", 0, 1, 2)
        put("sampler", f"case{i}", cfg + hist + struct.pack(f"<{len(logits)}f", *logits))


if __name__ == "__main__":
    gguf_seeds()
    safetensors_seeds()
    tokenizer_seeds()
    text_seeds()
    kernel_seeds()
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"seeds: {sum(1 for f in OUT.rglob('*') if f.is_file())} files, {total / 1e6:.1f} MB")
