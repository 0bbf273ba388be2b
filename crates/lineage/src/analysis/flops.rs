//! Forward FLOPs of one token that attends `T` cached positions (decoding at context `T`).
//! Matmuls: 2 FLOPs (multiply + add) per active weight-matrix element (Kaplan et al. 2020,
//! Table 1), including the LM head even when it shares the embedding matrix, excluding
//! the embedding lookups. Attention: `QK^T` and `AV` cost `2 * n_heads * d_qk * T` and
//! `2 * n_heads * d_v * T` per layer, `T` capped at a sliding layer's window; MLA counts
//! its un-absorbed q/k (`qk_nope + qk_rope`) and v head dims. Softmax, norms, biases and
//! activations are left out (O(d) per token). The `2N` column is the usual approximation
//! with N = active parameters.

use serde::Serialize;

use super::params::ParamCounts;
use super::{check_context, check_dims, to_u64};
use crate::config::{AttentionKind, ModelConfig};
use crate::Result;

/// FLOPs per token at one context length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlopsPerToken {
    /// Context length `T` the token attends over.
    pub context: u64,
    /// `2 *` active weight-matrix elements (LM head included).
    pub matmul: u64,
    /// Score and value products, window-capped.
    pub attention: u64,
    /// `matmul + attention`.
    pub total: u64,
    /// `2 * active_params`.
    pub approx_2n: u64,
}

/// Weight-matrix elements one token multiplies with: attention, dense FFN, shared and
/// `top_k` routed experts, router and the LM head (tied or not).
pub fn active_matmul_params(c: &ModelConfig, p: &ParamCounts) -> Result<u64> {
    to_u64(matmul_params(c, p), "matmul parameters")
}

fn matmul_params(c: &ModelConfig, p: &ParamCounts) -> u128 {
    let head = c.vocab_size as u128 * c.d_model as u128;
    let parts = [
        p.attention,
        p.ffn_dense,
        p.shared_experts,
        p.experts_active,
        p.router,
    ];
    head + parts.iter().map(|x| x.matrix as u128).sum::<u128>()
}

/// Attention FLOPs of one token at context `t`, summed over layers.
pub fn attention_flops(c: &ModelConfig, t: usize) -> Result<u64> {
    check_dims(c)?;
    check_context(t)?;
    let a = &c.attention;
    let (qk, v) = match &a.kind {
        AttentionKind::Standard => (a.head_dim, a.head_dim),
        AttentionKind::Latent(m) => (m.qk_nope_head_dim + m.qk_rope_head_dim, m.v_head_dim),
    };
    let per_key = 2 * a.n_heads as u128 * (qk + v) as u128;
    let keys: u128 = c
        .layers
        .iter()
        .map(|l| l.window.map_or(t, |w| w.min(t)) as u128)
        .sum();
    to_u64(per_key * keys, "attention FLOPs")
}

/// All forward FLOP figures of one token at context `t`.
pub fn per_token(c: &ModelConfig, p: &ParamCounts, t: usize) -> Result<FlopsPerToken> {
    let matmul = 2 * matmul_params(c, p);
    let attention = attention_flops(c, t)?;
    Ok(FlopsPerToken {
        context: t as u64,
        matmul: to_u64(matmul, "matmul FLOPs")?,
        attention,
        total: to_u64(matmul + attention as u128, "FLOPs")?,
        approx_2n: to_u64(2 * p.active() as u128, "2N FLOPs")?,
    })
}
