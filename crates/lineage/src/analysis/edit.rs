//! `key=value` edits of a canonical config ("what if Llama had 64 KV heads?"), keyed by
//! the dimension glossary of `crate::config`. The edited config is re-validated, so an
//! edit that breaks an invariant is an error naming it.

use super::nearest;
use crate::config::{AttentionKind, ModelConfig, Position, Rope};
use crate::{Error, Result};

/// Every key `apply` understands, with what it sets.
pub const KEYS: &[(&str, &str)] = &[
    ("vocab_size", "tokens in the vocabulary"),
    ("d_model", "residual width"),
    ("n_layers", "layers (the per-layer pattern repeats)"),
    ("n_heads", "query heads"),
    ("n_kv_heads", "key/value heads"),
    ("head_dim", "per-head width (standard attention)"),
    ("d_ff", "dense FFN hidden width"),
    ("context_len", "maximum context length"),
    ("n_experts", "routed experts per MoE layer"),
    ("top_k", "experts per token"),
    ("d_expert", "hidden width of one expert"),
    ("n_shared_experts", "shared experts per MoE layer"),
    (
        "window",
        "sliding window of the windowed layers (all layers if none is); `none` removes",
    ),
    ("kv_lora_rank", "MLA latent width"),
    (
        "q_lora_rank",
        "MLA query LoRA rank; `none` for a plain q projection",
    ),
    ("qk_rope_head_dim", "MLA RoPE key width"),
    ("qk_nope_head_dim", "MLA non-RoPE q/k width"),
    ("v_head_dim", "MLA value width"),
    (
        "tied_lm_head",
        "true/false: LM head shares the token embedding",
    ),
];

/// Parses `key=value` and applies it to `c`, then validates `c`.
pub fn apply_assignment(c: &mut ModelConfig, assignment: &str) -> Result<()> {
    let (key, value) = assignment.split_once('=').ok_or_else(|| {
        Error::BadInput(format!(
            "`--set {assignment}`: expected key=value, e.g. n_kv_heads=8"
        ))
    })?;
    apply(c, key.trim(), value.trim())?;
    c.validate()
}

/// Sets `key` to `value` (no validation; see [`apply_assignment`]).
pub fn apply(c: &mut ModelConfig, key: &str, value: &str) -> Result<()> {
    match key {
        "vocab_size" => c.vocab_size = num(key, value)?,
        "d_model" => c.d_model = num(key, value)?,
        "n_layers" => set_layers(c, num(key, value)?)?,
        "n_heads" => {
            // An MHA model stays MHA: its KV heads follow the query heads.
            let n = num(key, value)?;
            if c.attention.n_kv_heads == c.attention.n_heads {
                c.attention.n_kv_heads = n;
            }
            c.attention.n_heads = n;
        }
        "n_kv_heads" => c.attention.n_kv_heads = num(key, value)?,
        "head_dim" => set_head_dim(c, num(key, value)?)?,
        "d_ff" => c.ffn.d_ff = num(key, value)?,
        "context_len" => c.context_len = num(key, value)?,
        "window" => set_window(c, opt_num(key, value)?),
        "tied_lm_head" => c.embedding.tied_lm_head = boolean(key, value)?,
        "n_experts" | "top_k" | "d_expert" | "n_shared_experts" => {
            set_moe(c, key, num(key, value)?)?
        }
        "kv_lora_rank" | "q_lora_rank" | "qk_rope_head_dim" | "qk_nope_head_dim" | "v_head_dim" => {
            set_mla(c, key, value)?
        }
        _ => {
            if !super::components::apply(c, key, value)?
                && !super::edit_numerics::apply(c, key, value)?
            {
                return Err(unknown(key));
            }
        }
    }
    Ok(())
}

fn unknown(key: &str) -> Error {
    let names: Vec<&str> = KEYS
        .iter()
        .chain(super::components::KEYS)
        .chain(super::edit_numerics::KEYS)
        .map(|(k, _)| *k)
        .collect();
    Error::UnknownConfigKey {
        key: key.to_string(),
        suggestions: nearest(key, names.iter().copied()),
        valid: names.join(", "),
    }
}

fn num(key: &str, value: &str) -> Result<usize> {
    value
        .replace('_', "")
        .parse()
        .map_err(|_| Error::invalid(key, format!("`{value}` is not a non-negative integer")))
}

fn opt_num(key: &str, value: &str) -> Result<Option<usize>> {
    match value {
        "none" | "null" | "off" => Ok(None),
        v => num(key, v).map(Some),
    }
}

fn boolean(key: &str, value: &str) -> Result<bool> {
    value
        .parse()
        .map_err(|_| Error::invalid(key, format!("`{value}` is not true or false")))
}

fn set_layers(c: &mut ModelConfig, n: usize) -> Result<()> {
    if n == 0 || n > super::MAX_DIM {
        return Err(Error::invalid(
            "n_layers",
            format!("= {n} must be within 1..={}", super::MAX_DIM),
        ));
    }
    let pattern = c.layers.clone();
    c.layers = (0..n).map(|i| pattern[i % pattern.len()].clone()).collect();
    Ok(())
}

fn set_head_dim(c: &mut ModelConfig, hd: usize) -> Result<()> {
    if matches!(c.attention.kind, AttentionKind::Latent(_)) {
        return Err(Error::invalid(
            "head_dim",
            "is qk_nope_head_dim + qk_rope_head_dim under MLA; set those",
        ));
    }
    let old = c.attention.head_dim.max(1);
    c.attention.head_dim = hd;
    // Keep the rotary fraction (partial rotary): rotary_dim scales with head_dim.
    for r in ropes(c) {
        r.rotary_dim = (r.rotary_dim * hd / old) & !1;
    }
    Ok(())
}

/// The model's RoPE and every per-layer override.
fn ropes(c: &mut ModelConfig) -> Vec<&mut Rope> {
    let first = match &mut c.position {
        Position::Rope(r) => Some(r),
        _ => None,
    };
    first
        .into_iter()
        .chain(c.layers.iter_mut().filter_map(|l| l.rope.as_mut()))
        .collect()
}

fn set_window(c: &mut ModelConfig, w: Option<usize>) {
    let any = c.layers.iter().any(|l| l.window.is_some());
    for l in c.layers.iter_mut().filter(|l| l.window.is_some() || !any) {
        l.window = w;
    }
}

fn set_moe(c: &mut ModelConfig, key: &str, v: usize) -> Result<()> {
    let m = c.ffn.moe.as_mut().ok_or_else(|| {
        Error::invalid(
            key,
            "applies to mixture-of-experts models; this one is dense",
        )
    })?;
    match key {
        "n_experts" => m.n_experts = v,
        "top_k" => m.top_k = v,
        "d_expert" => m.d_expert = v,
        _ => m.n_shared_experts = v,
    }
    Ok(())
}

fn set_mla(c: &mut ModelConfig, key: &str, value: &str) -> Result<()> {
    let AttentionKind::Latent(m) = &mut c.attention.kind else {
        return Err(Error::invalid(
            key,
            "applies to multi-head latent attention; this model uses standard attention",
        ));
    };
    match key {
        "q_lora_rank" => m.q_lora_rank = opt_num(key, value)?,
        "kv_lora_rank" => m.kv_lora_rank = num(key, value)?,
        "qk_rope_head_dim" => m.qk_rope_head_dim = num(key, value)?,
        "qk_nope_head_dim" => m.qk_nope_head_dim = num(key, value)?,
        _ => m.v_head_dim = num(key, value)?,
    }
    let rope_dim = m.qk_rope_head_dim;
    c.attention.head_dim = m.qk_nope_head_dim + m.qk_rope_head_dim;
    for r in ropes(c) {
        r.rotary_dim = rope_dim;
    }
    Ok(())
}
