//! The canonical model description: plain data whose fields are the components.
//!
//! Every family adapter (`crate::families`) produces a [`ModelConfig`]; the one forward
//! (`crate::model`) composes what it says. Components are named for the technique, never
//! for a family. Dimension glossary (HF key / GGUF key):
//! `vocab_size` (vocab_size / token_embd rows), `d_model` (hidden_size / embedding_length),
//! `n_layers` (num_hidden_layers / block_count), `n_heads` (num_attention_heads /
//! attention.head_count), `n_kv_heads` (num_key_value_heads / attention.head_count_kv),
//! `head_dim` (head_dim / attention.key_length), `d_ff` (intermediate_size /
//! feed_forward_length), `n_experts`, `top_k`, `context_len` (max_position_embeddings /
//! context_length).

mod attention;
mod chat;
mod ffn;
mod norm;
mod position;
pub mod tensors;
mod validate;

pub use attention::{AttentionConfig, AttentionKind, MlaConfig, ProjBias, QkNormScope};
pub use chat::ChatFormat;
pub use ffn::{Activation, FfnConfig, FfnKind, GroupLimit, GroupScore, MoeConfig, Router};
pub use norm::{NormConfig, NormKind, NormPlacement};
pub use position::{Position, Rope, RopePairing, RopeScaling};
pub use tensors::{TensorRole, TensorSpec};

/// How the two sublayers of a block combine with the residual stream.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq)]
pub enum Residual {
    /// `x = x + attn(..x..); x = x + ffn(..x..)` (GPT-2, Llama, ...).
    Sequential,
    /// `x = x + attn(n1(x)) + ffn(n2(x))` (GPT-J, GPT-NeoX, Falcon, PaLM).
    /// `shared_norm`: one norm feeds both branches (GPT-J, Falcon-7B).
    Parallel { shared_norm: bool },
}

/// The block: where norms sit and how sublayers join the residual stream.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub struct BlockConfig {
    pub norm: NormConfig,
    pub placement: NormPlacement,
    pub residual: Residual,
}

/// Token embedding options.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub struct EmbeddingConfig {
    /// Multiply embeddings by this (Gemma: sqrt(d_model), rounded to the weight dtype).
    pub scale: Option<f64>,
    /// A norm applied to the embeddings (BLOOM's `word_embeddings_layernorm`).
    pub norm: Option<NormConfig>,
    /// LM head shares the token embedding matrix (`tie_word_embeddings`).
    pub tied_lm_head: bool,
}

/// What differs from one layer to the next.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub struct LayerSpec {
    /// Sliding window W: query i sees keys i-W < j <= i. None = full causal attention.
    pub window: Option<usize>,
    /// Position encoding of this layer when it differs from the model's (Gemma 3 local layers).
    pub rope: Option<Rope>,
    /// Whether this layer's FFN is the mixture of experts (false: dense FFN).
    pub moe: bool,
}

/// Storage precision of a checkpoint (compute is f32 on the reference path).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    F16,
    Bf16,
    /// GGUF block-quantised weights (mixed types).
    Quantized,
}

/// The one description of a decoder-only transformer.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Family adapter that produced this config (informational only).
    pub family: String,
    /// Number of tokens (HF `vocab_size`).
    pub vocab_size: usize,
    /// Residual stream width (HF `hidden_size`).
    pub d_model: usize,
    /// Maximum sequence length the model supports (HF `max_position_embeddings`).
    pub context_len: usize,
    pub embedding: EmbeddingConfig,
    /// Default position encoding of every layer.
    pub position: Position,
    pub attention: AttentionConfig,
    pub ffn: FfnConfig,
    pub block: BlockConfig,
    /// Norm before the LM head (always present in the families we know).
    pub final_norm: NormConfig,
    /// Per-layer differences; its length is the number of layers.
    pub layers: Vec<LayerSpec>,
    /// `cap * tanh(logits / cap)` on the output logits (Gemma 2).
    pub final_logit_softcap: Option<f64>,
    /// Dropout probability used only in training.
    pub dropout: f64,
    pub precision: Precision,
    /// Prompt format of conversations, set by the adapter (gpt-oss: harmony). Absent
    /// from configs serialized before the field existed, which all used templates.
    #[serde(default)]
    pub chat: ChatFormat,
    /// Keys of the source config that the adapter did not interpret.
    pub unknown_keys: Vec<String>,
}

impl ModelConfig {
    pub fn n_layers(&self) -> usize {
        self.layers.len()
    }

    /// Checks every invariant; adapters call this once after mapping.
    pub fn validate(&self) -> crate::Result<()> {
        validate::validate(self)
    }
}
