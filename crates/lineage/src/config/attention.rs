//! Attention: heads, KV heads, latent (MLA), biases, scale, soft-cap, QK-norm, sinks.

/// Standard multi-head attention (MHA/GQA/MQA by `n_kv_heads`) or multi-head latent attention.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub enum AttentionKind {
    Standard,
    /// DeepSeek-V2/V3 multi-head latent attention.
    Latent(MlaConfig),
}

/// Multi-head latent attention dimensions (DeepSeek-V2 paper, HF `modeling_deepseek_v3.py`).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub struct MlaConfig {
    /// Rank of the query LoRA path (`q_lora_rank`); None = plain q projection.
    pub q_lora_rank: Option<usize>,
    /// Width of the compressed KV latent (`kv_lora_rank`).
    pub kv_lora_rank: usize,
    /// Per-head q/k dims without position (`qk_nope_head_dim`).
    pub qk_nope_head_dim: usize,
    /// Per-head q dims and shared k dims with RoPE (`qk_rope_head_dim`).
    pub qk_rope_head_dim: usize,
    /// Per-head value dims (`v_head_dim`).
    pub v_head_dim: usize,
}

/// Which projections carry a bias.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProjBias {
    pub q: bool,
    pub k: bool,
    pub v: bool,
    pub o: bool,
}

impl ProjBias {
    pub fn all(on: bool) -> Self {
        Self {
            q: on,
            k: on,
            v: on,
            o: on,
        }
    }
}

/// Where QK-norm normalises.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum QkNormScope {
    /// Over each head's head_dim (Qwen3, Gemma 3).
    PerHead,
    /// Over the whole projection width before the head split (OLMo 2).
    FullWidth,
}

/// The attention sublayer.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub struct AttentionConfig {
    pub kind: AttentionKind,
    /// Query heads (`num_attention_heads`).
    pub n_heads: usize,
    /// Key/value heads (`num_key_value_heads`): = n_heads MHA, 1 MQA, else GQA.
    pub n_kv_heads: usize,
    /// Per-head q/k/v width (`head_dim`), independent of d_model / n_heads.
    pub head_dim: usize,
    pub bias: ProjBias,
    /// Score scale; None = head_dim^-0.5 (`query_pre_attn_scalar^-0.5` for Gemma).
    pub scale: Option<f64>,
    /// `cap * tanh(s / cap)` on scores before the mask (`attn_logit_softcapping`).
    pub softcap: Option<f64>,
    /// RMS/LayerNorm (model's norm kind) on q and k before RoPE.
    pub qk_norm: Option<QkNormScope>,
    /// A learned per-head logit that joins the softmax and is dropped (gpt-oss).
    pub sinks: bool,
}

impl AttentionConfig {
    /// Score scale actually used.
    pub fn score_scale(&self) -> f64 {
        self.scale.unwrap_or_else(|| match &self.kind {
            AttentionKind::Standard => (self.head_dim as f64).powf(-0.5),
            AttentionKind::Latent(m) => {
                ((m.qk_nope_head_dim + m.qk_rope_head_dim) as f64).powf(-0.5)
            }
        })
    }
}
