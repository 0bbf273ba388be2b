//! Exact parameter counts from a [`ModelConfig`] alone, by component, mirroring the
//! tensors `crate::model` loads (so the total equals `Weights::n_params()` of a checkpoint).
//! Active parameters per token follow Shazeer et al. 2017 / Fedus et al. 2021: everything
//! except the routed experts, plus `top_k` routed experts in every MoE layer.

use serde::Serialize;

use super::{check_dims, to_u64};
use crate::config::*;
use crate::Result;

/// Parameters of one component, split by tensor rank: matrices (2-D and expert stacks)
/// and vectors (norm weights, biases, sinks, router correction biases). Memory formats
/// store the two differently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Part {
    pub matrix: u64,
    pub vector: u64,
}

impl Part {
    pub fn total(&self) -> u64 {
        self.matrix + self.vector
    }
}

/// Parameters by component. Every parameter is in exactly one component.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ParamCounts {
    /// Token embedding table `vocab_size x d_model`.
    pub embeddings: Part,
    /// Learned absolute position table `context_len x d_model` (0 otherwise).
    pub position_embeddings: Part,
    /// Output projection; 0 when tied to the token embedding.
    pub lm_head: Part,
    /// q/k/v/o (or MLA projections), their biases, QK-norms, MLA's inner norms, sinks.
    pub attention: Part,
    /// FFN of the dense (non-MoE) layers.
    pub ffn_dense: Part,
    /// Routed experts of all MoE layers.
    pub experts: Part,
    /// Always-on shared experts of all MoE layers.
    pub shared_experts: Part,
    /// Router projections, router biases and selection-correction biases.
    pub router: Part,
    /// Block norms, the final norm and an embedding norm.
    pub norms: Part,
    /// Routed-expert parameters one token uses: `top_k` experts per MoE layer.
    pub experts_active: Part,
}

impl ParamCounts {
    /// `(name, part)` for every component, in a stable order (JSON keys, tables).
    pub fn components(&self) -> [(&'static str, Part); 9] {
        [
            ("embeddings", self.embeddings),
            ("position_embeddings", self.position_embeddings),
            ("lm_head", self.lm_head),
            ("attention", self.attention),
            ("ffn_dense", self.ffn_dense),
            ("experts", self.experts),
            ("shared_experts", self.shared_experts),
            ("router", self.router),
            ("norms", self.norms),
        ]
    }

    pub fn total(&self) -> u64 {
        self.components().iter().map(|(_, p)| p.total()).sum()
    }

    /// Parameters one token touches: all but the routed experts, plus its `top_k`.
    pub fn active(&self) -> u64 {
        self.total() - self.experts.total() + self.experts_active.total()
    }

    /// Active parameters without the input embedding table (a lookup, not a matmul);
    /// some publishers (gpt-oss) quote active parameters this way.
    pub fn active_without_embeddings(&self) -> u64 {
        self.active() - self.embeddings.total() - self.position_embeddings.total()
    }
}

/// Counts every parameter of `c`. Errors only when a dimension is beyond the analysis
/// limit (see [`check_dims`]) or a count overflows u64.
pub fn count(c: &ModelConfig) -> Result<ParamCounts> {
    check_dims(c)?;
    let d = c.d_model as u128;
    let mut p = Acc::default();
    p.embeddings.matrix += c.vocab_size as u128 * d;
    if c.position == Position::Learned {
        p.position_embeddings.matrix += c.context_len as u128 * d;
    }
    if !c.embedding.tied_lm_head {
        p.lm_head.matrix += c.vocab_size as u128 * d;
    }
    if let Some(n) = &c.embedding.norm {
        p.norms.vector += norm(n, d);
    }
    p.norms.vector += norm(&c.final_norm, d);
    for layer in &c.layers {
        p.norms.vector += block_norms(c);
        p.attention = p.attention.add(attention(c));
        match (&c.ffn.moe, layer.moe) {
            (Some(m), true) => moe_layer(c, m, &mut p),
            _ => p.ffn_dense = p.ffn_dense.add(ffn(c, c.ffn.d_ff as u128, c.ffn.bias)),
        }
    }
    p.finish()
}

/// u128 accumulator: no dimension product can overflow it under [`check_dims`].
#[derive(Default)]
struct Acc {
    embeddings: Wide,
    position_embeddings: Wide,
    lm_head: Wide,
    attention: Wide,
    ffn_dense: Wide,
    experts: Wide,
    shared_experts: Wide,
    router: Wide,
    norms: Wide,
    experts_active: Wide,
}

#[derive(Default, Clone, Copy)]
struct Wide {
    matrix: u128,
    vector: u128,
}

impl Wide {
    fn add(self, o: Wide) -> Wide {
        Wide {
            matrix: self.matrix + o.matrix,
            vector: self.vector + o.vector,
        }
    }
    fn times(self, k: u128) -> Wide {
        Wide {
            matrix: self.matrix * k,
            vector: self.vector * k,
        }
    }
    fn narrow(self, what: &str) -> Result<Part> {
        Ok(Part {
            matrix: to_u64(self.matrix, what)?,
            vector: to_u64(self.vector, what)?,
        })
    }
}

impl Acc {
    fn finish(self) -> Result<ParamCounts> {
        let all = [
            self.embeddings,
            self.position_embeddings,
            self.lm_head,
            self.attention,
            self.ffn_dense,
            self.experts,
            self.shared_experts,
            self.router,
            self.norms,
        ];
        let total = all.iter().fold(0u128, |s, w| s + w.matrix + w.vector);
        to_u64(total, "total parameters")?;
        Ok(ParamCounts {
            embeddings: self.embeddings.narrow("embeddings")?,
            position_embeddings: self.position_embeddings.narrow("position embeddings")?,
            lm_head: self.lm_head.narrow("lm_head")?,
            attention: self.attention.narrow("attention")?,
            ffn_dense: self.ffn_dense.narrow("ffn")?,
            experts: self.experts.narrow("experts")?,
            shared_experts: self.shared_experts.narrow("shared experts")?,
            router: self.router.narrow("router")?,
            norms: self.norms.narrow("norms")?,
            experts_active: self.experts_active.narrow("active experts")?,
        })
    }
}

/// Weights of one norm over `dim` features.
fn norm(n: &NormConfig, dim: u128) -> u128 {
    match n.kind {
        NormKind::LayerNorm { bias: true } => 2 * dim,
        NormKind::LayerNorm { bias: false } | NormKind::RmsNorm { .. } => dim,
    }
}

/// The norms of one block, as `model::block::Block::load` loads them.
fn block_norms(c: &ModelConfig) -> u128 {
    let pl = c.block.placement;
    let pre = pl.has_pre() || pl == NormPlacement::Post;
    let two = !matches!(c.block.residual, Residual::Parallel { shared_norm: true });
    let count = [
        pre,
        pl.has_post_sublayer(),
        pre && two,
        pl.has_post_sublayer(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    count as u128 * norm(&c.block.norm, c.d_model as u128)
}

/// `out x in` matrix plus an optional `out` bias.
fn linear(inp: u128, out: u128, bias: bool) -> Wide {
    Wide {
        matrix: inp * out,
        vector: if bias { out } else { 0 },
    }
}

/// One attention sublayer.
fn attention(c: &ModelConfig) -> Wide {
    let a = &c.attention;
    let (d, h, n) = (c.d_model as u128, a.n_heads as u128, &c.block.norm);
    match &a.kind {
        AttentionKind::Standard => {
            let (hd, kv) = (a.head_dim as u128, a.n_kv_heads as u128);
            let mut w = linear(d, h * hd, a.bias.q)
                .add(linear(d, kv * hd, a.bias.k))
                .add(linear(d, kv * hd, a.bias.v))
                .add(linear(h * hd, d, a.bias.o));
            w.vector += match a.qk_norm {
                None => 0,
                Some(QkNormScope::PerHead) => 2 * norm(n, hd),
                Some(QkNormScope::FullWidth) => norm(n, h * hd) + norm(n, kv * hd),
            };
            if a.sinks {
                w.vector += h;
            }
            w
        }
        AttentionKind::Latent(m) => mla(d, h, n, m),
    }
}

/// Multi-head latent attention (DeepSeek-V2 §2.1): q LoRA (or plain q), the joint KV
/// down-projection with the shared RoPE key, the KV up-projection and the output.
fn mla(d: u128, h: u128, n: &NormConfig, m: &MlaConfig) -> Wide {
    let qk = (m.qk_nope_head_dim + m.qk_rope_head_dim) as u128;
    let (r_kv, rope) = (m.kv_lora_rank as u128, m.qk_rope_head_dim as u128);
    let mut w = match m.q_lora_rank {
        None => linear(d, h * qk, false),
        Some(r) => {
            let r = r as u128;
            let mut q = linear(d, r, false).add(linear(r, h * qk, false));
            q.vector += norm(n, r);
            q
        }
    };
    w = w.add(linear(d, r_kv + rope, false));
    w.vector += norm(n, r_kv);
    w = w.add(linear(
        r_kv,
        h * (m.qk_nope_head_dim + m.v_head_dim) as u128,
        false,
    ));
    w.add(linear(h * m.v_head_dim as u128, d, false))
}

/// One dense FFN of hidden width `f` (gate, up, down).
fn ffn(c: &ModelConfig, f: u128, bias: bool) -> Wide {
    let d = c.d_model as u128;
    let gated = !matches!(c.ffn.kind, FfnKind::Mlp(_));
    let mut w = linear(d, f, bias).add(linear(f, d, bias));
    if gated {
        w = w.add(linear(d, f, bias));
    }
    w
}

/// One MoE layer: router, routed experts (all and the active `top_k`), shared experts.
fn moe_layer(c: &ModelConfig, m: &MoeConfig, p: &mut Acc) {
    let (d, e) = (c.d_model as u128, m.n_experts as u128);
    let mut router = linear(d, e, m.router_bias);
    if m.router.has_correction_bias() {
        router.vector += e; // e_score_correction_bias
    }
    p.router = p.router.add(router);
    let expert = ffn(c, m.d_expert as u128, m.expert_bias);
    p.experts = p.experts.add(expert.times(e));
    p.experts_active = p.experts_active.add(expert.times(m.top_k as u128));
    if m.n_shared_experts > 0 {
        let shared = ffn(c, (m.n_shared_experts * m.d_expert) as u128, c.ffn.bias);
        p.shared_experts = p.shared_experts.add(shared);
    }
}
