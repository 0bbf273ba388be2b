#!/usr/bin/env python3
"""Convert an HF oracle fixture (tests/fixtures/hf/<case>/) to GGUF the way llama.cpp does.

The metadata keys, tensor names and weight fix-ups follow llama.cpp's
`convert_hf_to_gguf.py` (`TextModel.set_gguf_parameters`, `LlamaModel`, `Qwen2Model`,
`Qwen3Model`, `Qwen2MoeModel`, `Gemma3Model`, `GPT2Model`, `Phi3MiniModel`; `GptOssModel`
and `DeepseekV2Model` in moe_families.py) and the names of `gguf-py/gguf/constants.py`. Only the tokenizer is left out: the fixtures have none.

Tensor types follow the converter's `prepare_tensors`: 1-D tensors, `*_norm.weight`,
`ffn_gate_inp` (MoE router), `position_embd` and `rope_freqs` stay F32; every other
tensor gets the requested type. A tensor whose rows are not whole 32-element blocks
stays F32. Q4_0 is what `llama-quantize --pure` makes (the converter has no Q4_0).

Usage:
    python convert_fixture.py <fixture_dir> <out.gguf> --type {f32,f16,q8_0,q4_0}
    python convert_fixture.py --all <fixtures/hf> <fixtures/gguf>   # the committed set

Deviation from llama.cpp, on purpose: for `rope_type: llama3` the converter reads
`original_max_position_embeddings` from the top level of config.json (default 8192);
HF keeps it in `rope_scaling`, so a model whose value is not 8192 would get wrong
`rope_freqs`. We read it from the RoPE parameters, i.e. what the model computes.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
from pathlib import Path

import gguf
import numpy as np
from gguf.quants import quantize

import moe_families
from moe_families import Packed

QTYPES = {
    "f32": gguf.GGMLQuantizationType.F32,
    "f16": gguf.GGMLQuantizationType.F16,
    "q8_0": gguf.GGMLQuantizationType.Q8_0,
    "q4_0": gguf.GGMLQuantizationType.Q4_0,
}
FILE_TYPES = {
    "f32": gguf.LlamaFileType.ALL_F32,
    "f16": gguf.LlamaFileType.MOSTLY_F16,
    "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
    "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0,
}
# HF model_type -> GGUF general.architecture
ARCH = {
    "llama": "llama",
    "mixtral": "llama",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
    "qwen3_moe": "qwen3moe",
    "gemma3_text": "gemma3",
    "gpt2": "gpt2",
    "phi3": "phi3",
    "gpt_oss": "gpt-oss",
    "deepseek_v3": "deepseek2",
}
# What --all writes: case -> formats (kept small: the files are committed).
# F32 (about 0.5 MB a case) only where it checks a transform no other file does.
COMMITTED = {
    "llama": ["f32", "q4_0"],  # Q/K permutation, llama3 rope_freqs
    "llama_tied_mqa": ["q4_0"],
    "llama_yarn": ["q8_0"],
    "llama_linear": ["q4_0"],
    "qwen2": ["q8_0"],
    "qwen3": ["f16"],
    "qwen3_moe": ["f32", "q4_0"],  # expert stacks
    "gemma3_text": ["q8_0"],
    "gpt2": ["f32"],  # Conv1D transpose, fused qkv, LayerNorm, learned positions
    "phi3": ["f32", "q4_0"],  # fused qkv and gate_up
    "mixtral": ["q4_0"],
    "gpt_oss": ["f32"],  # sinks, router bias, de-interleaved gate/up, expert biases
    "gpt_oss_mxfp4": ["f32"],  # the same with MXFP4 experts (kept MXFP4, as llama.cpp does)
    "deepseek_v3": ["f32"],  # MLA (k_b/v_b split), grouped sigmoid router, shared experts
}

# HF per-layer suffix -> GGUF suffix (gguf-py tensor_mapping.py, block tensors)
LAYER_NAMES = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.qkv_proj": "attn_qkv",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "mlp.gate_up_proj": "ffn_up",  # phi3: [gate; up] rows stay fused
    "mlp.gate": "ffn_gate_inp",  # qwen moe router
    "block_sparse_moe.gate": "ffn_gate_inp",  # mixtral router
    # gpt2
    "ln_1": "attn_norm",
    "attn.c_attn": "attn_qkv",
    "attn.c_proj": "attn_output",
    "ln_2": "ffn_norm",
    "mlp.c_fc": "ffn_up",
    "mlp.c_proj": "ffn_down",
}
GEMMA3_LAYER_NAMES = {
    **LAYER_NAMES,
    "post_attention_layernorm": "post_attention_norm",
    "pre_feedforward_layernorm": "ffn_norm",
    "post_feedforward_layernorm": "post_ffw_norm",
}
GLOBAL_NAMES = {
    "model.embed_tokens": "token_embd",
    "model.norm": "output_norm",
    "lm_head": "output",
    "transformer.wte": "token_embd",
    "transformer.wpe": "position_embd",
    "transformer.ln_f": "output_norm",
}
EXPERT_NAMES = {"gate_proj": "gate", "up_proj": "up", "down_proj": "down", "w1": "gate", "w3": "up", "w2": "down"}
ALWAYS_F32 = ("ffn_gate_inp.weight", "position_embd.weight", "rope_freqs.weight")


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    """safetensors -> numpy, bfloat16 widened exactly to float32 (numpy has no bf16)."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    dtypes = {"F32": np.float32, "F16": np.float16, "U8": np.uint8, "I64": np.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        buf = raw[8 + n + start : 8 + n + end]
        if info["dtype"] == "BF16":
            a = (np.frombuffer(buf, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(buf, dtypes[info["dtype"]])
        out[name] = a.reshape(info["shape"])
    return out


def rope_params(hp: dict) -> dict:
    """transformers-5 `rope_parameters` (per layer type for gemma3), or the legacy keys."""
    rp = dict(hp.get("rope_parameters") or hp.get("rope_scaling") or {})
    if "rope_theta" in hp:
        rp.setdefault("rope_theta", hp["rope_theta"])
    return rp


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """LlamaModel.permute: HF rotate-half rows -> llama.cpp's interleaved pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_freqs(rp: dict, head_dim: int) -> np.ndarray:
    """LlamaModel.generate_extra_tensors: per-frequency divisors for `rope_type: llama3`."""
    base, factor = rp.get("rope_theta", 10000.0), rp.get("factor", 8.0)
    low, high = rp.get("low_freq_factor", 1.0), rp.get("high_freq_factor", 4.0)
    old = rp.get("original_max_position_embeddings", 8192)  # see module doc
    freqs = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    out = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < old / high:
            out.append(1.0)
        elif wl > old / low:
            out.append(factor)
        else:
            s = (old / wl - low) / (high - low)
            out.append(1 / ((1 - s) / factor + s))
    return np.array(out, dtype=np.float32)


class Converter:
    def __init__(self, case_dir: Path):
        self.hp = json.loads((case_dir / "config.json").read_text())
        self.model_type = self.hp["model_type"]
        if self.model_type not in ARCH:
            raise SystemExit(f"{case_dir}: model_type {self.model_type!r} has no GGUF mapping here; known: {sorted(ARCH)}")
        self.arch = ARCH[self.model_type]
        self.hf = load_safetensors(case_dir / "model.safetensors")

    # ---------------------------------------------------------------- metadata
    def metadata(self, w: gguf.GGUFWriter) -> None:
        hp, mt = self.hp, self.model_type
        if mt == "gpt2":  # GPT2Model.set_gguf_parameters
            w.add_block_count(hp["n_layer"])
            w.add_context_length(hp["n_positions"])
            w.add_embedding_length(hp["n_embd"])
            w.add_feed_forward_length(hp.get("n_inner") or 4 * hp["n_embd"])
            w.add_head_count(hp["n_head"])
            w.add_layer_norm_eps(hp["layer_norm_epsilon"])
            return
        rp = rope_params(hp)
        w.add_block_count(hp["num_hidden_layers"])
        w.add_context_length(hp["max_position_embeddings"])
        w.add_embedding_length(hp["hidden_size"])
        w.add_feed_forward_length(hp["intermediate_size"])
        w.add_head_count(hp["num_attention_heads"])
        w.add_head_count_kv(1 if mt == "deepseek_v3" else hp["num_key_value_heads"])  # MLA as MQA
        w.add_layer_norm_rms_eps(hp["rms_norm_eps"])
        if hp.get("head_dim") is not None and mt != "deepseek_v3":  # its head_dim is the rope part
            w.add_key_length(hp["head_dim"])
            w.add_value_length(hp["head_dim"])
        full = rp.get("full_attention", rp)
        w.add_rope_freq_base(full.get("rope_theta", 10000.0))
        if (local := rp.get("sliding_attention", {}).get("rope_theta")) is not None:
            w.add_rope_freq_base_swa(local)
        rope_type = full.get("rope_type", "default")
        if rope_type == "linear":
            w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            w.add_rope_scaling_factor(full["factor"])
        elif rope_type == "yarn":
            w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
            w.add_rope_scaling_factor(full["factor"])
            w.add_rope_scaling_orig_ctx_len(full["original_max_position_embeddings"])
            if "beta_fast" in full:
                w.add_rope_scaling_yarn_beta_fast(full["beta_fast"])
            if "beta_slow" in full:
                w.add_rope_scaling_yarn_beta_slow(full["beta_slow"])
        elif rope_type not in ("default", "llama3"):  # llama3 -> rope_freqs tensor
            raise SystemExit(f"rope_type {rope_type!r} is not converted here")
        if (n := hp.get("num_local_experts", hp.get("num_experts", hp.get("n_routed_experts")))) is not None:
            w.add_expert_count(n)
            w.add_expert_used_count(hp["num_experts_per_tok"])
        if mt in ("llama", "mixtral"):  # LlamaModel.set_gguf_parameters
            w.add_vocab_size(hp["vocab_size"])
            w.add_rope_dimension_count(hp.get("head_dim") or hp["hidden_size"] // hp["num_attention_heads"])
        if mt == "qwen3_moe":  # Qwen2MoeModel.set_gguf_parameters
            w.add_expert_feed_forward_length(hp["moe_intermediate_size"])
        if mt == "gemma3_text":  # Gemma3Model.set_gguf_parameters
            w.add_sliding_window(hp["sliding_window"])
        if mt == "phi3":  # Phi3MiniModel.set_gguf_parameters
            rot = rp.get("partial_rotary_factor", hp.get("partial_rotary_factor", 1.0))
            w.add_rope_dimension_count(int(rot * hp["hidden_size"]) // hp["num_attention_heads"])
            w.add_rope_scaling_orig_ctx_len(hp.get("original_max_position_embeddings", hp["max_position_embeddings"]))
            if hp.get("sliding_window"):
                w.add_sliding_window(hp["sliding_window"])
        if mt == "gpt_oss":
            moe_families.gpt_oss_metadata(w, hp)
        if mt == "deepseek_v3":
            moe_families.deepseek2_metadata(w, hp)

    # ----------------------------------------------------------------- tensors
    def tensors(self) -> list[tuple[str, np.ndarray]]:
        hp, mt = self.hp, self.model_type
        names = GEMMA3_LAYER_NAMES if mt == "gemma3_text" else LAYER_NAMES
        out: list[tuple[str, np.ndarray]] = []
        experts: dict[tuple[int, str], dict[int, np.ndarray]] = {}
        for name, t in self.hf.items():
            if t.dtype != np.uint8:
                t = t.astype(np.float32)
            if mt == "gpt2" and name.endswith((".attn.bias", ".attn.masked_bias")):
                continue
            if mt == "gpt2" and name.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight")):
                t = t.T.copy()  # Conv1D [in, out] -> [out, in]
            if mt == "gemma3_text" and name.endswith("norm.weight"):
                t = t + 1.0  # Gemma3RMSNorm computes x * (1 + w)
            stem, kind = name.rsplit(".", 1)
            parts = stem.split(".")
            if stem in GLOBAL_NAMES:
                out.append((f"{GLOBAL_NAMES[stem]}.{kind}", t))
                if mt == "gpt2" and stem == "transformer.wte":
                    out.append(("output.weight", t))  # GPT2Model writes the tied head
                continue
            li = parts.index("layers") if "layers" in parts else parts.index("h")
            bid, rest = int(parts[li + 1]), ".".join(parts[li + 2:])
            if mt == "gpt_oss":
                out += moe_families.gpt_oss_layer(bid, rest, kind, t, self.hf, stem)
                continue
            if mt == "deepseek_v3" and ".experts." not in f".{rest}.":
                out += moe_families.deepseek2_layer(bid, rest, kind, t, hp)
                continue
            if ".experts." in f".{rest}.":  # mlp.experts.E.gate_proj / block_sparse_moe.experts.E.w1
                e, which = int(parts[-2]), EXPERT_NAMES[parts[-1]]
                experts.setdefault((bid, which), {})[e] = t
                continue
            if rest not in names:
                raise SystemExit(f"{name}: no GGUF name for `{rest}`")
            if mt in ("llama", "mixtral") and rest in ("self_attn.q_proj", "self_attn.k_proj"):
                heads = hp["num_attention_heads"] if rest.endswith("q_proj") else hp["num_key_value_heads"]
                t = permute(t, heads)
            out.append((f"blk.{bid}.{names[rest]}.{kind}", t))
        for (bid, which), per in sorted(experts.items()):
            stack = np.stack([per[e] for e in range(len(per))])  # [E, out, in]
            out.append((f"blk.{bid}.ffn_{which}_exps.weight", stack))
        rp = rope_params(hp)
        if mt in ("llama", "mixtral") and rp.get("rope_type") == "llama3":
            hd = hp.get("head_dim") or hp["hidden_size"] // hp["num_attention_heads"]
            out.append(("rope_freqs.weight", llama3_rope_freqs(rp, hd)))
        return out


def tensor_type(name: str, t: np.ndarray, fmt: str) -> gguf.GGMLQuantizationType:
    if t.ndim <= 1 or name.endswith("_norm.weight") or name.endswith(ALWAYS_F32):
        return gguf.GGMLQuantizationType.F32
    if fmt in ("q8_0", "q4_0") and t.shape[-1] % 32 != 0:
        return gguf.GGMLQuantizationType.F32  # not whole blocks: llama.cpp keeps it float
    return QTYPES[fmt]


def convert(case_dir: Path, out: Path, fmt: str) -> None:
    c = Converter(case_dir)
    w = gguf.GGUFWriter(str(out), c.arch)
    w.add_name(case_dir.name)
    c.metadata(w)
    w.add_file_type(FILE_TYPES[fmt])
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for name, t in c.tensors():
        if isinstance(t, Packed):
            w.add_tensor(name, np.ascontiguousarray(t.data), raw_dtype=t.ty)
            continue
        ty = tensor_type(name, t, fmt)
        data = quantize(np.ascontiguousarray(t, dtype=np.float32), ty)
        w.add_tensor(name, data, raw_dtype=ty)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path, help="fixture folder, or with --all the folder of fixtures")
    ap.add_argument("dst", type=Path, help="output .gguf, or with --all the output folder")
    ap.add_argument("--type", choices=sorted(QTYPES), default="f32")
    ap.add_argument("--all", action="store_true", help="write the committed set (COMMITTED)")
    a = ap.parse_args()
    if not a.all:
        convert(a.src, a.dst, a.type)
        return
    a.dst.mkdir(parents=True, exist_ok=True)
    for case, fmts in COMMITTED.items():
        for fmt in fmts:
            out = a.dst / f"{case}.{fmt}.gguf"
            convert(a.src / case, out, fmt)
            print(f"{out}  {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
