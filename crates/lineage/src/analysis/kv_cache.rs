//! KV-cache size: what a decoder keeps per token and layer. Standard attention keeps K and
//! V, `2 * n_kv_heads * head_dim` values (Ainslie et al. 2023 for GQA/MQA); multi-head
//! latent attention keeps the compressed latent and the shared RoPE key,
//! `kv_lora_rank + qk_rope_head_dim` values (DeepSeek-V2 §2.1.2, Table 1). A sliding-window
//! layer never holds more than its window (ring buffer).

use std::str::FromStr;

use serde::Serialize;

use super::{check_context, check_dims, to_u64};
use crate::config::{AttentionKind, ModelConfig};
use crate::{Error, Result};

/// Storage type of cached keys and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KvDtype {
    F32,
    F16,
    Bf16,
    /// FP8 (E4M3 or E5M2), one byte per value; per-tensor scales not counted.
    Fp8,
    /// llama.cpp Q8_0: blocks of 32 values = 32 int8 + one f16 scale (34 bytes).
    Q8_0,
    /// llama.cpp Q4_0: blocks of 32 values = 16 bytes of nibbles + one f16 scale (18 bytes).
    Q4_0,
}

impl KvDtype {
    pub const ALL: [KvDtype; 6] = [
        Self::F32,
        Self::F16,
        Self::Bf16,
        Self::Fp8,
        Self::Q8_0,
        Self::Q4_0,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
            Self::Fp8 => "fp8",
            Self::Q8_0 => "q8_0",
            Self::Q4_0 => "q4_0",
        }
    }

    /// Bytes per block of `values` values: `(bytes, values)`.
    pub fn bytes_per_block(self) -> (u128, u128) {
        match self {
            Self::F32 => (4, 1),
            Self::F16 | Self::Bf16 => (2, 1),
            Self::Fp8 => (1, 1),
            Self::Q8_0 => (34, 32),
            Self::Q4_0 => (18, 32),
        }
    }

    /// Bytes for `n` values, rounded up to whole bytes.
    pub fn bytes(self, n: u128) -> u128 {
        let (b, v) = self.bytes_per_block();
        (n * b).div_ceil(v)
    }
}

impl FromStr for KvDtype {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "float32" | "fp32" => "f32",
            "float16" | "fp16" => "f16",
            "bfloat16" => "bf16",
            "f8" | "fp8_e4m3" | "e4m3" | "fp8_e5m2" => "fp8",
            other => other,
        };
        Self::ALL
            .into_iter()
            .find(|d| d.name() == alias)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|d| d.name()).collect();
                Error::BadInput(format!(
                    "unknown KV-cache dtype `{s}`; one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// Cached values (not bytes) one token adds to one layer.
pub fn values_per_token_layer(c: &ModelConfig) -> u128 {
    let a = &c.attention;
    match &a.kind {
        AttentionKind::Standard => 2 * a.n_kv_heads as u128 * a.head_dim as u128,
        AttentionKind::Latent(m) => (m.kv_lora_rank + m.qk_rope_head_dim) as u128,
    }
}

/// KV-cache sizes of one model for one dtype.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KvCacheSize {
    pub dtype: KvDtype,
    /// Values each layer stores per token.
    pub values_per_token_per_layer: u64,
    /// Bytes one more token costs while the context is shorter than every window.
    pub bytes_per_token: u64,
    /// Context length of the totals below.
    pub context: u64,
    /// Bytes of the whole cache for one sequence of `context` tokens (windows capped).
    pub bytes_at_context: u64,
    /// `bytes_at_context / context`: the average per token once windows are full.
    pub bytes_per_token_at_context: u64,
}

/// Bytes of one sequence's cache at context `t`; sliding-window layers hold at most their window.
pub fn bytes_at(c: &ModelConfig, dtype: KvDtype, t: usize) -> Result<u64> {
    check_dims(c)?;
    check_context(t)?;
    let per = values_per_token_layer(c);
    let held: u128 = c
        .layers
        .iter()
        .map(|l| l.window.map_or(t, |w| w.min(t)) as u128)
        .sum();
    to_u64(dtype.bytes(per * held), "KV-cache bytes")
}

/// Per-token and whole-context sizes at context `t`.
pub fn size(c: &ModelConfig, dtype: KvDtype, t: usize) -> Result<KvCacheSize> {
    check_dims(c)?;
    let per = values_per_token_layer(c);
    let bytes_per_token = to_u64(dtype.bytes(per * c.n_layers() as u128), "KV-cache bytes")?;
    let total = bytes_at(c, dtype, t)?;
    Ok(KvCacheSize {
        dtype,
        values_per_token_per_layer: to_u64(per, "KV values")?,
        bytes_per_token,
        context: t as u64,
        bytes_at_context: total,
        bytes_per_token_at_context: total.checked_div(t as u64).unwrap_or(0),
    })
}
