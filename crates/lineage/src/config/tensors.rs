//! The canonical tensors a [`ModelConfig`] needs: name, shape and role, in llama.cpp's
//! vocabulary. The list itself is the layer plan's (`crate::plan`), which both executors
//! load from.

use super::*;

/// What a tensor is for; initialisation and weight-decay groups are chosen by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorRole {
    /// Token or learned position table (a lookup, not a matmul).
    Embedding,
    /// A projection matrix (or expert stack) feeding the residual stream's branches.
    Matrix,
    /// A projection writing back into the residual stream (attn_output, ffn_down):
    /// GPT-2 scales its init by 1/sqrt(2 * n_layers).
    ResidualOut,
    /// Norm gain: ones (zeros for `1 + w` gains).
    NormGain { offset_one: bool },
    /// Bias, norm shift, attention sink, router correction: zeros.
    Bias,
}

/// One canonical tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub role: TensorRole,
}

/// Every tensor of `c`, in a stable order: the layer plan's list
/// ([`crate::plan::ModelPlan::tensors`]).
pub fn tensors(c: &ModelConfig) -> Vec<TensorSpec> {
    crate::plan::ModelPlan::of_valid(c).tensors()
}
