//! `--set` keys for values a GGUF file cannot state and llama.cpp hard-codes (Gemma's
//! attention scale and layer types, gpt-oss's SwiGLU limit): a user whose checkpoint
//! differs from llama.cpp's assumption says so here. Named as in HF config.json.

use crate::config::{FfnKind, ModelConfig};
use crate::{Error, Result};

pub const KEYS: &[(&str, &str)] = &[
    (
        "query_pre_attn_scalar",
        "attention scores scaled by value^-0.5 (Gemma); `none` = 1/sqrt(head_dim)",
    ),
    (
        "layer_types",
        "comma list of sliding|full, one per layer; sliding layers take the model's window",
    ),
    ("swiglu_limit", "clamp of the clamped SwiGLU (gpt-oss)"),
];

/// Applies `key`; `Ok(false)` when the key is not one of [`KEYS`].
pub fn apply(c: &mut ModelConfig, key: &str, value: &str) -> Result<bool> {
    match key {
        "query_pre_attn_scalar" => {
            c.attention.scale = match value {
                "none" | "null" => None,
                v => Some(positive(key, v)?.powf(-0.5)),
            }
        }
        "layer_types" => layer_types(c, value)?,
        "swiglu_limit" => {
            let FfnKind::ClampedSwiGlu { limit, .. } = &mut c.ffn.kind else {
                return Err(Error::invalid(
                    key,
                    "applies to clamped-SwiGLU models (gpt-oss)",
                ));
            };
            *limit = positive(key, value)?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn positive(key: &str, value: &str) -> Result<f64> {
    match value.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(Error::invalid(
            key,
            format!("`{value}` is not a positive number"),
        )),
    }
}

fn layer_types(c: &mut ModelConfig, value: &str) -> Result<()> {
    let key = "layer_types";
    let sliding: Vec<bool> = value
        .split(',')
        .map(|t| match t.trim() {
            "sliding" | "sliding_attention" | "S" => Ok(true),
            "full" | "full_attention" | "F" => Ok(false),
            other => Err(Error::invalid(
                key,
                format!("`{other}`: expected sliding or full"),
            )),
        })
        .collect::<Result<_>>()?;
    if sliding.len() != c.n_layers() {
        let msg = format!("{} entries for {} layers", sliding.len(), c.n_layers());
        return Err(Error::invalid(key, msg));
    }
    let template = c.layers.iter().find(|l| l.window.is_some()).cloned();
    let Some(template) = template else {
        return Err(Error::invalid(
            key,
            "the model has no sliding window (set `window` first)",
        ));
    };
    for (l, s) in c.layers.iter_mut().zip(sliding) {
        l.window = s.then_some(template.window.unwrap_or(0));
        l.rope = if s { template.rope.clone() } else { None };
    }
    Ok(())
}
