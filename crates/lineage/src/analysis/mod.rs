//! Accounting from the canonical config alone: exact parameter counts by component,
//! KV-cache bytes, forward FLOPs per token and weight memory per storage format, plus
//! built-in presets of published models and `key=value` edits of a config. What
//! `lineage inspect` prints. References: nanoGPT `model.py` (`get_num_params`,
//! `estimate_mfu`), Kaplan et al. 2020 §2.1 (FLOPs per token), DeepSeek-V2 §2.1 (MLA).

pub mod components;
pub mod describe;
pub mod edit;
pub mod edit_numerics;
pub mod flops;
pub mod kv_cache;
pub mod memory;
pub mod params;
pub mod presets;

use std::collections::BTreeMap;

use serde::Serialize;

pub use flops::FlopsPerToken;
pub use kv_cache::{KvCacheSize, KvDtype};
pub use memory::{WeightBytes, WeightFormat};
pub use params::{ParamCounts, Part};

use crate::config::{AttentionKind, ModelConfig};
use crate::{Error, Result};

/// Largest dimension the analysis accepts (2^24): keeps every product exact in u128.
pub const MAX_DIM: usize = 1 << 24;
/// Largest context length for KV and FLOP figures (2^32 tokens).
pub const MAX_CONTEXT: usize = 1 << 32;

/// Rejects dimensions past [`MAX_DIM`] so that no count can overflow.
pub(crate) fn check_dims(c: &ModelConfig) -> Result<()> {
    let a = &c.attention;
    let mut dims = vec![
        ("vocab_size", c.vocab_size),
        ("d_model", c.d_model),
        ("n_layers", c.n_layers()),
        ("context_len", c.context_len),
        ("n_heads", a.n_heads),
        ("n_kv_heads", a.n_kv_heads),
        ("head_dim", a.head_dim),
        ("d_ff", c.ffn.d_ff),
    ];
    if let AttentionKind::Latent(m) = &a.kind {
        dims.extend([
            ("q_lora_rank", m.q_lora_rank.unwrap_or(0)),
            ("kv_lora_rank", m.kv_lora_rank),
            ("qk_nope_head_dim", m.qk_nope_head_dim),
            ("qk_rope_head_dim", m.qk_rope_head_dim),
            ("v_head_dim", m.v_head_dim),
        ]);
    }
    if let Some(m) = &c.ffn.moe {
        dims.extend([
            ("n_experts", m.n_experts),
            ("d_expert", m.d_expert),
            ("n_shared_experts", m.n_shared_experts),
        ]);
    }
    match dims.iter().find(|(_, v)| *v > MAX_DIM) {
        Some((k, v)) => Err(Error::invalid(
            k,
            format!("= {v} exceeds the analysis limit of {MAX_DIM}"),
        )),
        None => Ok(()),
    }
}

pub(crate) fn check_context(t: usize) -> Result<()> {
    if t > MAX_CONTEXT {
        return Err(Error::invalid(
            "context",
            format!("= {t} exceeds the analysis limit of {MAX_CONTEXT}"),
        ));
    }
    Ok(())
}

pub(crate) fn to_u64(v: u128, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::invalid(what, format!("= {v} does not fit in 64 bits")))
}

/// What to account for besides the config itself.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub kv_dtype: KvDtype,
    /// Context length of the FLOP figures; None = the model's `context_len`.
    pub context: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            kv_dtype: KvDtype::Bf16,
            context: None,
        }
    }
}

/// Everything `inspect` reports about one model. JSON keys are stable.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub family: String,
    pub total_params: u64,
    pub active_params: u64,
    /// Active parameters less the token and position embedding tables.
    pub active_params_without_embeddings: u64,
    /// Component name -> parameters (matrices + vectors).
    pub params_by_component: BTreeMap<&'static str, u64>,
    /// The same, split into matrices and vectors.
    pub params_by_component_detail: BTreeMap<&'static str, Part>,
    pub kv_dtype: KvDtype,
    pub kv_cache_bytes_per_token: u64,
    /// Cache of one sequence at the model's `context_len`.
    pub kv_cache: KvCacheSize,
    /// What the engine's paged cache holds per position (f32 rows of every layer):
    /// `lineage bench --json`'s `kv_bytes_per_token`.
    pub engine_kv_bytes_per_token: u64,
    pub flops_per_token: FlopsPerToken,
    /// Format name -> bytes.
    pub weight_bytes: BTreeMap<&'static str, u64>,
    /// Format name -> how its bytes are counted.
    pub weight_bytes_rules: BTreeMap<&'static str, &'static str>,
    /// Component choices (norm, position, attention, FFN/MoE, windows, context...).
    pub components: BTreeMap<&'static str, String>,
    pub unknown_keys: Vec<String>,
}

/// Accounts for `c` under `o`.
pub fn summarize(c: &ModelConfig, o: &Options) -> Result<Summary> {
    let p = params::count(c)?;
    let kv = kv_cache::size(c, o.kv_dtype, c.context_len)?;
    let flops = flops::per_token(c, &p, o.context.unwrap_or(c.context_len))?;
    let wb = memory::weight_bytes(&p)?;
    Ok(Summary {
        family: c.family.clone(),
        total_params: p.total(),
        active_params: p.active(),
        active_params_without_embeddings: p.active_without_embeddings(),
        params_by_component: p
            .components()
            .iter()
            .map(|(n, x)| (*n, x.total()))
            .collect(),
        params_by_component_detail: p.components().into_iter().collect(),
        kv_dtype: o.kv_dtype,
        kv_cache_bytes_per_token: kv.bytes_per_token,
        kv_cache: kv,
        engine_kv_bytes_per_token: kv_cache::size(c, KvDtype::F32, 1)?.bytes_per_token,
        flops_per_token: flops,
        weight_bytes: wb.iter().map(|w| (w.format.name(), w.bytes)).collect(),
        weight_bytes_rules: wb.iter().map(|w| (w.format.name(), w.rule)).collect(),
        components: describe::describe(c).into_iter().collect(),
        unknown_keys: c.unknown_keys.clone(),
    })
}

/// Levenshtein distance, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Up to three of `names` nearest to `name` (edit distance, then prefix/substring matches).
pub fn nearest<'a>(name: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let lower = name.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = names
        .into_iter()
        .map(|n| {
            let d = edit_distance(&lower, n);
            let d = if !lower.is_empty() && n.contains(&lower) {
                d.min(1)
            } else {
                d
            };
            (d, n)
        })
        .collect();
    scored.sort();
    let limit = (lower.chars().count() / 2).max(2);
    scored
        .into_iter()
        .filter(|(d, _)| *d <= limit)
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect()
}
