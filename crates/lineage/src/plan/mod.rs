//! The layer plan: what each layer of a [`ModelConfig`] computes and which canonical
//! tensors it reads, decided once from the config.
//!
//! `crate::model` (the differentiable reference) and `crate::engine` (the fast path) both
//! load from a [`ModelPlan`]; training initialises its [`tensors`](ModelPlan::tensors) and
//! export writes them. A new component is a new variant here, and the compiler then points
//! at the `match` arm each executor must add, so the two cannot drift apart.

mod build;
mod tensors;

use crate::config::{
    FfnKind, MlaConfig, ModelConfig, MoeConfig, NormConfig, NormPlacement, QkNormScope, Residual,
    Rope, TensorRole,
};
use crate::Result;

/// A norm's canonical name (without `.weight`), function and width.
#[derive(Debug, Clone, PartialEq)]
pub struct NormSlot {
    pub name: String,
    pub cfg: NormConfig,
    pub dim: usize,
}

/// A projection `{name}.weight` `[out, inp]`, with `{name}.bias` `[out]` if `bias`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearSlot {
    pub name: String,
    pub out: usize,
    pub inp: usize,
    pub bias: bool,
    pub role: TensorRole,
}

/// An expert stack `{name}.weight` `[experts, out, inp]`, biases `[experts, out]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StackSlot {
    pub name: String,
    pub experts: usize,
    pub out: usize,
    pub inp: usize,
    pub bias: bool,
    pub role: TensorRole,
}

/// How a layer's attention knows positions.
#[derive(Debug, Clone, PartialEq)]
pub enum Positional {
    /// Rotary embeddings on q and k (the layer's own or the model's).
    Rope(Rope),
    /// Per-head linear score biases with these slopes (one per query head).
    Alibi(Vec<f64>),
    /// None in the layer: learned absolute embeddings, or none at all.
    None,
}

/// What a layer's queries may see besides the causal mask.
#[derive(Debug, Clone, PartialEq)]
pub struct Visibility {
    /// Sliding window W: query i sees keys i-W < j <= i.
    pub window: Option<usize>,
    pub position: Positional,
}

/// QK-norm: where it normalises and its two norms.
#[derive(Debug, Clone, PartialEq)]
pub struct QkNorm {
    pub scope: QkNormScope,
    pub q: NormSlot,
    pub k: NormSlot,
}

/// Standard multi-head attention (MHA / GQA / MQA).
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionPlan {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub scale: f64,
    pub softcap: Option<f64>,
    pub q: LinearSlot,
    pub k: LinearSlot,
    pub v: LinearSlot,
    pub o: LinearSlot,
    pub qk_norm: Option<QkNorm>,
    /// `{name}` `[n_heads]`: a learned logit per head that joins the softmax (gpt-oss).
    pub sinks: Option<String>,
    pub sees: Visibility,
}

/// The query path of multi-head latent attention.
#[derive(Debug, Clone, PartialEq)]
pub enum LatentQuery {
    Direct(LinearSlot),
    LoRa {
        down: LinearSlot,
        norm: NormSlot,
        up: LinearSlot,
    },
}

/// Multi-head latent attention (DeepSeek-V2/V3).
#[derive(Debug, Clone, PartialEq)]
pub struct LatentPlan {
    pub m: MlaConfig,
    pub n_heads: usize,
    pub scale: f64,
    pub query: LatentQuery,
    /// `[kv_lora_rank + qk_rope_head_dim, d]`: the latent and the shared RoPE key.
    pub kv_a: LinearSlot,
    pub kv_norm: NormSlot,
    /// `[n_heads * (qk_nope_head_dim + v_head_dim), kv_lora_rank]`.
    pub kv_b: LinearSlot,
    pub o: LinearSlot,
    pub sees: Visibility,
}

/// The token mixer of a layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Mixer {
    Attention(AttentionPlan),
    Latent(LatentPlan),
}

/// A dense FFN (or the fused shared experts): gate absent for plain MLPs.
#[derive(Debug, Clone, PartialEq)]
pub struct DensePlan {
    pub kind: FfnKind,
    pub gate: Option<LinearSlot>,
    pub up: LinearSlot,
    pub down: LinearSlot,
}

/// A mixture-of-experts FFN.
#[derive(Debug, Clone, PartialEq)]
pub struct MoePlan {
    pub cfg: MoeConfig,
    pub kind: FfnKind,
    pub router: LinearSlot,
    /// `{name}` `[n_experts]`: the selection-only correction bias.
    pub correction: Option<String>,
    pub gate: Option<StackSlot>,
    pub up: StackSlot,
    pub down: StackSlot,
    pub shared: Option<DensePlan>,
}

/// The FFN of a layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Ffn {
    Dense(DensePlan),
    Moe(MoePlan),
}

/// The norms around the two sublayers; which exist follows the placement.
#[derive(Debug, Clone, PartialEq)]
pub struct SublayerNorms {
    /// Before attention (pre, sandwich), or after the attention join (post).
    pub attn: Option<NormSlot>,
    /// On the attention output before the join (sandwich, post-sublayer).
    pub attn_post: Option<NormSlot>,
    /// Before the FFN, or after its join (post); absent under a shared parallel norm.
    pub ffn: Option<NormSlot>,
    pub ffn_post: Option<NormSlot>,
}

/// One decoder layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerPlan {
    pub index: usize,
    pub placement: NormPlacement,
    pub residual: Residual,
    pub norms: SublayerNorms,
    pub mixer: Mixer,
    pub ffn: Ffn,
}

/// Token (and learned position) embeddings.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingPlan {
    /// `token_embd.weight` `[vocab, d]`.
    pub token: String,
    /// `position_embd.weight` `[context_len, d]` for learned absolute positions.
    pub position: Option<String>,
    pub scale: Option<f64>,
    pub norm: Option<NormSlot>,
}

/// The whole model: embeddings, layers, final norm, head.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPlan {
    pub vocab: usize,
    pub d_model: usize,
    pub context_len: usize,
    pub embedding: EmbeddingPlan,
    pub layers: Vec<LayerPlan>,
    pub final_norm: NormSlot,
    /// `output` `[vocab, d]`; None when tied to the token embedding.
    pub head: Option<LinearSlot>,
    pub final_softcap: Option<f64>,
}

impl ModelPlan {
    /// The plan of a config, after checking the config's invariants: the one validation
    /// both executors share.
    pub fn new(cfg: &ModelConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(build::model(cfg))
    }

    /// The plan of a config already validated (the tensor list of a config being built).
    pub fn of_valid(cfg: &ModelConfig) -> Self {
        build::model(cfg)
    }
}

impl Visibility {
    /// The RoPE of this layer, if it rotates.
    pub fn rope(&self) -> Option<&Rope> {
        match &self.position {
            Positional::Rope(r) => Some(r),
            _ => None,
        }
    }

    /// ALiBi slopes, one per query head, if the layer uses them.
    pub fn alibi(&self) -> Option<&[f64]> {
        match &self.position {
            Positional::Alibi(s) => Some(s),
            _ => None,
        }
    }
}

impl Mixer {
    pub fn sees(&self) -> &Visibility {
        match self {
            Mixer::Attention(a) => &a.sees,
            Mixer::Latent(l) => &l.sees,
        }
    }
}
