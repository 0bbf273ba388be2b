//! Weight memory in common storage formats, from the parameter counts by component.
//! Each format states its counting rule (`WeightFormat::rule`); block scales are counted
//! where they are part of the format's bits per weight (Q4_K, MXFP4) and noted where
//! they are not (FP8/INT8 per-block or per-row scales, < 0.1 %).
//! Q4_K: llama.cpp `ggml-common.h` `block_q4_K` = 144 bytes per 256 weights = 4.5 bits;
//! llama.cpp keeps 1-D tensors and the MoE router (`ffn_gate_inp`) in f32.
//! MXFP4: OCP Microscaling spec v1.0, 32 E2M1 values + one E8M0 scale = 4.25 bits; the
//! gpt-oss checkpoints store only the routed-expert matrices this way, all else bf16.

use serde::Serialize;

use super::params::{ParamCounts, Part};
use super::to_u64;
use crate::Result;

/// A storage format of the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightFormat {
    F32,
    Bf16,
    Fp8,
    Int8,
    Q4K,
    Mxfp4,
}

impl WeightFormat {
    pub const ALL: [WeightFormat; 6] = [
        Self::F32,
        Self::Bf16,
        Self::Fp8,
        Self::Int8,
        Self::Q4K,
        Self::Mxfp4,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::Fp8 => "fp8",
            Self::Int8 => "int8",
            Self::Q4K => "q4_k",
            Self::Mxfp4 => "mxfp4",
        }
    }

    /// How the bytes are counted, in words.
    pub fn rule(self) -> &'static str {
        match self {
            Self::F32 => "every parameter 4 bytes",
            Self::Bf16 => "every parameter 2 bytes",
            Self::Fp8 => "linear-layer matrices (attention, FFN, experts) 1 byte; embeddings, LM head, router and vectors bf16 (DeepSeek-V3 FP8 layout); 128x128 block scales not counted",
            Self::Int8 => "linear-layer matrices 1 byte; embeddings, LM head, router and vectors bf16 (weight-only W8A16); per-row scales not counted",
            Self::Q4K => "every matrix incl. embeddings and LM head 4.5 bits (pure Q4_K, no Q6_K head as in Q4_K_M); router matrices and vectors f32 as llama.cpp keeps them",
            Self::Mxfp4 => "routed-expert matrices 4.25 bits; everything else (incl. expert biases) bf16, as gpt-oss ships; a dense model is plain bf16",
        }
    }

    /// Bits of every component's matrices and vectors: `(matrix bits, vector bits)` by
    /// component name of [`ParamCounts::components`].
    fn bits(self, component: &str) -> (u128, u128) {
        // Bits are scaled by 4 so that 4.25 and 4.5 stay integral: (bits*4).
        let linear = matches!(
            component,
            "attention" | "ffn_dense" | "experts" | "shared_experts"
        );
        match self {
            Self::F32 => (128, 128),
            Self::Bf16 => (64, 64),
            Self::Fp8 | Self::Int8 => (if linear { 32 } else { 64 }, 64),
            Self::Q4K => (if component == "router" { 128 } else { 18 }, 128),
            Self::Mxfp4 => (if component == "experts" { 17 } else { 64 }, 64),
        }
    }

    /// Bytes of all weights in this format.
    pub fn bytes(self, p: &ParamCounts) -> Result<u64> {
        let quarter_bits: u128 = p
            .components()
            .iter()
            .map(|(name, Part { matrix, vector })| {
                let (mb, vb) = self.bits(name);
                *matrix as u128 * mb + *vector as u128 * vb
            })
            .sum();
        to_u64(quarter_bits.div_ceil(32), "weight bytes")
    }
}

/// Weight bytes in one format, with its counting rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WeightBytes {
    pub format: WeightFormat,
    pub bytes: u64,
    pub rule: &'static str,
}

/// Weight bytes in every format.
pub fn weight_bytes(p: &ParamCounts) -> Result<Vec<WeightBytes>> {
    WeightFormat::ALL
        .iter()
        .map(|&f| {
            Ok(WeightBytes {
                format: f,
                bytes: f.bytes(p)?,
                rule: f.rule(),
            })
        })
        .collect()
}
