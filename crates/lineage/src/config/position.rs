//! Position encodings: learned absolute, RoPE with its scalings, ALiBi.
//! RoPE scalings follow `transformers/modeling_rope_utils.py`.

/// How positions enter the model.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub enum Position {
    /// Learned absolute embeddings added to the token embedding (GPT-2).
    Learned,
    /// Rotary embeddings on q and k (Su et al. 2021).
    Rope(Rope),
    /// Linear attention biases per head (Press et al. 2021).
    Alibi,
    /// No position information beyond the causal mask.
    None,
}

/// Which dimensions form a rotated pair.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopePairing {
    /// Pairs (i, i + d/2): GPT-NeoX / HF layout.
    RotateHalf,
    /// Pairs (2i, 2i+1): original RoFormer / GPT-J / DeepSeek `rope_interleave`.
    Interleaved,
}

/// Rotary embedding parameters.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub struct Rope {
    /// Base of the frequencies (HF `rope_theta`).
    pub theta: f64,
    /// Number of rotated dims per head (HF `partial_rotary_factor * head_dim`).
    pub rotary_dim: usize,
    pub pairing: RopePairing,
    pub scaling: RopeScaling,
}

/// Context-extension scalings of the RoPE frequencies.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions divided by `factor` (HF `linear`).
    Linear {
        factor: f64,
    },
    /// NTK-aware base rescaling once the sequence exceeds `original_max` (HF `dynamic`).
    DynamicNtk {
        factor: f64,
        original_max: usize,
    },
    /// Llama 3.1 wavelength-dependent interpolation (HF `llama3`).
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max: usize,
    },
    /// YaRN (Peng et al. 2023) (HF `yarn`).
    Yarn {
        factor: f64,
        original_max: usize,
        beta_fast: f64,
        beta_slow: f64,
        /// Multiplier on cos/sin; resolved by the adapter from mscale / mscale_all_dim.
        attention_factor: f64,
        /// Whether the correction range is floor/ceil'd (false for gpt-oss).
        truncate: bool,
    },
    /// Every frequency divided by its own factor, at any length: llama.cpp's
    /// `rope_freqs.weight` (GGUF), which its converter precomputes for llama3 scaling.
    FreqFactors {
        factors: Vec<f64>,
    },
    /// Phi-3 LongRoPE: per-frequency factors, short below `original_max`, long above.
    LongRope {
        short_factor: Vec<f64>,
        long_factor: Vec<f64>,
        original_max: usize,
        attention_factor: f64,
    },
}
