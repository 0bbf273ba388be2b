//! Normalisation: kind, epsilon and placement within a block.

/// Which normalisation function.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq)]
pub enum NormKind {
    /// `(x - mean) / sqrt(var + eps) * w (+ b)` (Ba et al. 2016).
    LayerNorm { bias: bool },
    /// `x / sqrt(mean(x^2) + eps) * w`, or `* (1 + w)` with `offset_one` (Gemma).
    RmsNorm { offset_one: bool },
}

/// A norm with its epsilon (HF `layer_norm_epsilon` / `rms_norm_eps`).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct NormConfig {
    pub kind: NormKind,
    pub eps: f64,
}

/// Where norms sit around each sublayer f (attention or FFN).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormPlacement {
    /// `x + f(norm(x))` (GPT-2 onwards).
    Pre,
    /// `norm(x + f(x))` (original Transformer, BERT).
    Post,
    /// `x + post_norm(f(pre_norm(x)))` (Gemma 2/3).
    Sandwich,
    /// `x + post_norm(f(x))`: no input norm (OLMo 2).
    PostSublayer,
}

impl NormPlacement {
    /// Whether the sublayer input is normalised.
    pub fn has_pre(self) -> bool {
        matches!(self, Self::Pre | Self::Sandwich)
    }
    /// Whether the sublayer output is normalised before the residual add.
    pub fn has_post_sublayer(self) -> bool {
        matches!(self, Self::Sandwich | Self::PostSublayer)
    }
}
