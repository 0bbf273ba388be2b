"""gpt-oss and DeepSeek-V3 the way llama.cpp's `convert_hf_to_gguf.py` converts them
(`GptOssModel` -> arch `gpt-oss`, `DeepseekV2Model` -> arch `deepseek2`).

gpt-oss: `post_attention_layernorm` is `post_attention_norm` (the arch has no `ffn_norm`),
`self_attn.sinks` gets `.weight`, the router is `ffn_gate_inp` (+ bias), `gate_up_proj`
columns alternate gate/up and are split into `ffn_gate_exps`/`ffn_up_exps` `[E, out, in]`,
and MXFP4 experts are repacked from the HF nibble order into ggml's MXFP4 blocks
(`GptOssModel.repack_mxfp4`): per 32 values one E8M0 scale byte, then 16 bytes where
element j is the low nibble of byte j and element j+16 its high nibble.

deepseek2: MLA is written as llama.cpp writes it today (MQA form: `head_count_kv` 1,
`key_length` = kv_lora_rank + rope dims, `key_length_mla` = nope + rope) and
`kv_b_proj` is split into `attn_k_b` (`[heads, kv_lora, nope]`, transposed) and
`attn_v_b` (`[heads, v, kv_lora]`). `e_score_correction_bias` -> `exp_probs_b.bias`.
Deviation: the converter writes `expert_gating_func` only when config.json has
`scoring_func` (real DeepSeek-V3 configs say "sigmoid"; transformers 5 drops the key,
so the fixture lacks it). We always write SIGMOID, which is what HF computes.
"""

from __future__ import annotations

import gguf
import numpy as np


class Packed:
    """Bytes already in a GGUF block format (written as they are)."""

    def __init__(self, data: np.ndarray, ty: gguf.GGMLQuantizationType):
        self.data, self.ty = data, ty


# -------------------------------------------------------------------- gpt-oss
def gpt_oss_metadata(w: gguf.GGUFWriter, hp: dict) -> None:
    w.add_sliding_window(hp["sliding_window"])
    w.add_expert_feed_forward_length(hp["intermediate_size"])


def repack_mxfp4(blocks: np.ndarray, scales: np.ndarray) -> Packed:
    """HF `[E, out, in/32, 16]` blocks (byte k: element 2k low, 2k+1 high) + scales
    `[E, out, in/32]` -> ggml MXFP4 rows `[E, out, in/32 * 17]`."""
    codes = np.stack([blocks & 0x0F, blocks >> 4], axis=-1).reshape(*blocks.shape[:-1], 32)
    qs = (codes[..., :16] | (codes[..., 16:] << 4)).astype(np.uint8)
    data = np.concatenate([scales[..., None].astype(np.uint8), qs], axis=-1)
    return Packed(data.reshape(blocks.shape[0], blocks.shape[1], -1), gguf.GGMLQuantizationType.MXFP4)


def gpt_oss_layer(bid: int, rest: str, kind: str, t: np.ndarray, hf: dict, prefix: str) -> list:
    """One HF per-layer tensor -> GGUF tensors (empty when a sibling writes it)."""
    simple = {
        "input_layernorm": "attn_norm",
        "post_attention_layernorm": "post_attention_norm",
        "self_attn.q_proj": "attn_q",
        "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output",
        "mlp.router": "ffn_gate_inp",
    }
    b = f"blk.{bid}"
    if rest in simple:
        return [(f"{b}.{simple[rest]}.{kind}", t)]
    full = f"{rest}.{kind}"
    if full == "self_attn.sinks":
        return [(f"{b}.attn_sinks.weight", t)]
    if full == "mlp.experts.gate_up_proj_bias":
        return [(f"{b}.ffn_gate_exps.bias", t[..., ::2]), (f"{b}.ffn_up_exps.bias", t[..., 1::2])]
    if full == "mlp.experts.down_proj_bias":
        return [(f"{b}.ffn_down_exps.bias", t)]
    if full == "mlp.experts.gate_up_proj":  # [E, in, 2I] -> [E, 2I, in], rows alternate
        tt = np.swapaxes(t, 1, 2)
        return [(f"{b}.ffn_gate_exps.weight", tt[:, ::2]), (f"{b}.ffn_up_exps.weight", tt[:, 1::2])]
    if full == "mlp.experts.down_proj":
        return [(f"{b}.ffn_down_exps.weight", np.swapaxes(t, 1, 2))]
    if full == "mlp.experts.gate_up_proj_scales":
        blocks, scales = hf[f"{prefix}.gate_up_proj_blocks"], hf[f"{prefix}.gate_up_proj_scales"]
        return [
            (f"{b}.ffn_gate_exps.weight", repack_mxfp4(blocks[:, ::2], scales[:, ::2])),
            (f"{b}.ffn_up_exps.weight", repack_mxfp4(blocks[:, 1::2], scales[:, 1::2])),
        ]
    if full == "mlp.experts.down_proj_scales":
        return [(f"{b}.ffn_down_exps.weight", repack_mxfp4(hf[f"{prefix}.down_proj_blocks"], t))]
    if full.endswith("_blocks"):
        return []  # written with its scales
    raise SystemExit(f"gpt-oss: no GGUF name for `{full}`")


# ------------------------------------------------------------------ deepseek2
def deepseek2_metadata(w: gguf.GGUFWriter, hp: dict) -> None:
    """`DeepseekV2Model.set_gguf_parameters` (after `TextModel`'s common keys)."""
    rp = dict(hp.get("rope_parameters") or hp.get("rope_scaling") or {})
    kv_lora, rope = hp["kv_lora_rank"], hp["qk_rope_head_dim"]
    w.add_leading_dense_block_count(hp.get("first_k_dense_replace", 0))
    w.add_vocab_size(hp["vocab_size"])
    if hp.get("q_lora_rank") is not None:
        w.add_q_lora_rank(hp["q_lora_rank"])
    w.add_kv_lora_rank(kv_lora)
    w.add_key_length(kv_lora + rope)
    w.add_value_length(kv_lora)
    w.add_key_length_mla(hp["qk_nope_head_dim"] + rope)
    w.add_value_length_mla(hp["v_head_dim"])
    w.add_expert_feed_forward_length(hp["moe_intermediate_size"])
    w.add_expert_shared_count(hp.get("n_shared_experts", 0))
    w.add_expert_weights_scale(hp["routed_scaling_factor"])
    if hp.get("norm_topk_prob"):
        w.add_expert_weights_norm(True)
    w.add_expert_group_count(hp["n_group"])
    w.add_expert_group_used_count(hp["topk_group"])
    w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)  # see module doc
    w.add_rope_dimension_count(rope)
    if (m := rp.get("mscale_all_dim")) is not None:
        w.add_rope_scaling_yarn_log_mul(0.1 * m)


DEEPSEEK_NAMES = {
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
    "self_attn.q_a_proj": "attn_q_a",
    "self_attn.q_a_layernorm": "attn_q_a_norm",
    "self_attn.q_b_proj": "attn_q_b",
    "self_attn.q_proj": "attn_q",
    "self_attn.kv_a_proj_with_mqa": "attn_kv_a_mqa",
    "self_attn.kv_a_layernorm": "attn_kv_a_norm",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "mlp.gate": "ffn_gate_inp",
    "mlp.shared_experts.gate_proj": "ffn_gate_shexp",
    "mlp.shared_experts.up_proj": "ffn_up_shexp",
    "mlp.shared_experts.down_proj": "ffn_down_shexp",
}


def deepseek2_layer(bid: int, rest: str, kind: str, t: np.ndarray, hp: dict) -> list:
    b = f"blk.{bid}"
    if f"{rest}.{kind}" == "mlp.gate.e_score_correction_bias":
        return [(f"{b}.exp_probs_b.bias", t)]
    if rest == "self_attn.kv_b_proj":  # [heads*(nope+v), kv_lora] -> k_b^T, v_b
        heads, nope, v = hp["num_key_value_heads"], hp["qk_nope_head_dim"], hp["v_head_dim"]
        kv_b = t.reshape(heads, nope + v, t.shape[-1])
        return [(f"{b}.attn_k_b.weight", np.swapaxes(kv_b[:, :nope], 1, 2)), (f"{b}.attn_v_b.weight", kv_b[:, nope:])]
    if rest not in DEEPSEEK_NAMES:
        raise SystemExit(f"deepseek2: no GGUF name for `{rest}`")
    return [(f"{b}.{DEEPSEEK_NAMES[rest]}.{kind}", t)]
