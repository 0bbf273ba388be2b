//! Post-training quantization of a trained model: validation loss after quantizing the
//! block matrices to Q8_0, Q4_0, Q4_K or MXFP4 (ggml's reference quantizers,
//! `kernels::quant::quantize`; Q4_K by ggml's method, `quantize_k`), against f32.
//!
//! What is quantized: every projection matrix of every block (`attn_q/k/v/output`, the
//! MLA projections, `ffn_gate/up/down`, shared experts). What stays f32: the token and
//! position embeddings (and so the LM head tied to them; an untied `output.weight` too),
//! norms, biases, attention sinks and the MoE router `ffn_gate_inp` (llama.cpp does not
//! quantize it either: `llama-quant.cpp`). A matrix that is not a whole number of blocks
//! stays f32 and is counted at 32 bits in `bits_per_weight`.
//!
//! Two-dimensional matrices are kept quantized (`Weight::Quant`) and run through the
//! normal forward (`model::Linear` multiplies the blocks with f32 activations). MoE
//! expert stacks `[E, out, in]` have no quantized path in `model::moe` other than MXFP4
//! storage, so every format is applied to them as quantize-then-dequantize: the same
//! values, held dense.
//!
//! Q4_K's 256-value super-blocks do not divide the study's d_model of 128. llama.cpp
//! would fall back to Q5_0 for such matrices and so measure a mix; here instead a matrix
//! whose rows are not whole blocks but whose size is is quantized as one long row (each
//! 32-value sub-block still lies inside one row; only the super-block's two f16 scales
//! span rows) and held dense after dequantization: Q4_K's numerics, exactly, in a
//! storage layout a matmul kernel could not use. The 32-value formats need the same only
//! for a matrix whose width is not a multiple of 32 (a matched SwiGLU d_ff can be such).

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::results::{QuantResult, Stat};
use super::stats::stat;
use super::trained::{some_val_windows, window_losses, TrainedRun};
use crate::config::tensors::tensors;
use crate::config::{ModelConfig, TensorRole};
use crate::kernels::quant::quantize::quantize_row;
use crate::kernels::quant::{GgmlType, QMatrix};
use crate::model::Model;
use crate::weights::{Weight, Weights};
use crate::{Error, Result};

/// A weight format the study compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantFormat {
    Q8_0,
    Q4_0,
    Mxfp4,
    Q4K,
}

impl QuantFormat {
    pub const ALL: [QuantFormat; 4] = [Self::Q8_0, Self::Q4_0, Self::Q4K, Self::Mxfp4];

    /// The name in [`QuantResult::format`].
    pub fn name(self) -> &'static str {
        match self {
            Self::Q8_0 => "q8_0",
            Self::Q4_0 => "q4_0",
            Self::Mxfp4 => "mxfp4",
            Self::Q4K => "q4_k",
        }
    }

    pub fn ggml_type(self) -> GgmlType {
        match self {
            Self::Q8_0 => GgmlType::Q8_0,
            Self::Q4_0 => GgmlType::Q4_0,
            Self::Mxfp4 => GgmlType::MXFP4,
            Self::Q4K => GgmlType::Q4_K,
        }
    }
}

/// A model's weights with its block matrices quantized.
#[derive(Debug, Clone)]
pub struct Quantized {
    pub weights: Weights,
    /// Parameters in quantized blocks (expert stacks included).
    pub quantized_params: usize,
    /// Parameters of in-scope matrices left f32 (width not a multiple of 32).
    pub kept_f32_params: usize,
    /// Storage bits per parameter over the in-scope matrices.
    pub bits_per_weight: f64,
}

/// Whether tensor `name` of `role` is in the quantization scope (see the module header).
fn in_scope(name: &str, role: TensorRole) -> bool {
    matches!(role, TensorRole::Matrix | TensorRole::ResidualOut)
        && name.starts_with("blk.")
        && !name.contains("ffn_gate_inp")
}

/// `weights` of `cfg` with every in-scope matrix quantized to `format`.
pub fn quantize_weights(
    cfg: &ModelConfig,
    weights: &Weights,
    format: QuantFormat,
) -> Result<Quantized> {
    let ty = format.ggml_type();
    let mut out = weights.clone();
    let (mut quantized, mut kept, mut bits) = (0usize, 0usize, 0f64);
    for spec in tensors(cfg)
        .into_iter()
        .filter(|s| in_scope(&s.name, s.role))
    {
        let values = dense_values(weights, &spec.name)?;
        let block = ty.block_size();
        let cols = *spec.shape.last().unwrap_or(&0);
        // Rows that are not whole blocks: one long row when the matrix is whole blocks
        // (see the module header), else the matrix stays f32.
        let row_len = if cols > 0 && cols.is_multiple_of(block) {
            cols
        } else if !values.is_empty() && values.len().is_multiple_of(block) {
            values.len()
        } else {
            kept += values.len();
            bits += 32.0 * values.len() as f64;
            continue;
        };
        let blocks: Vec<u8> = values
            .chunks_exact(row_len)
            .map(|row| quantize_row(ty, row))
            .collect::<Result<Vec<_>>>()?
            .concat();
        quantized += values.len();
        bits += 8.0 * blocks.len() as f64;
        let rows = values.len() / row_len;
        let q = QMatrix::from_vec(&spec.name, ty, rows, row_len, blocks)?;
        let w = if spec.shape.len() == 2 && row_len == cols {
            Weight::Quant(q)
        } else {
            Weight::Dense(Tensor::from_vec(
                q.dequantize(),
                spec.shape.as_slice(),
                &Device::Cpu,
            )?)
        };
        out.insert_weight(spec.name, w);
    }
    let total = (quantized + kept).max(1) as f64;
    Ok(Quantized {
        weights: out,
        quantized_params: quantized,
        kept_f32_params: kept,
        bits_per_weight: bits / total,
    })
}

fn dense_values(w: &Weights, name: &str) -> Result<Vec<f32>> {
    match w.get(name)? {
        Weight::Dense(t) => Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?),
        _ => Err(Error::BadInput(format!(
            "tensor `{name}` is already quantized; quantize from the f32 checkpoint"
        ))),
    }
}

/// Validation loss of `run` in f32 and in each of `formats`, on up to `max_windows`
/// windows of `seq_len + 1` tokens of `data_dir`. `val_loss` is over the windows of this
/// one run (n = windows); `delta_pct = 100 (loss - loss_f32) / loss_f32` on the means;
/// `bits_per_weight` is over the in-scope matrices (32 for f32).
pub fn losses(
    run: &TrainedRun,
    data_dir: &Path,
    seq_len: usize,
    max_windows: usize,
    formats: &[QuantFormat],
) -> Result<Vec<QuantResult>> {
    let windows = some_val_windows(data_dir, seq_len, max_windows)?;
    let m = run.open()?;
    let eval = |w: &Weights| -> Result<Stat> {
        Ok(stat(&window_losses(&Model::new(&m.cfg, w)?, &windows)?))
    };
    let base = eval(&m.weights)?;
    let row = |format: &str, bits: f64, s: Stat| QuantResult {
        variant: run.variant.clone(),
        format: format.to_string(),
        bits_per_weight: bits,
        val_loss: s,
        delta_pct: 100.0 * (s.mean - base.mean) / base.mean,
        seed_losses: vec![(run.seed, s.mean)],
    };
    let mut out = vec![row("f32", 32.0, base)];
    for &f in formats {
        let q = quantize_weights(&m.cfg, &m.weights, f)?;
        out.push(row(f.name(), q.bits_per_weight, eval(&q.weights)?));
    }
    Ok(out)
}

/// `losses` over several trained models of one variant (one per seed): per format, the
/// loss statistic is over the models' mean losses, `seed_losses` holds each model's, and
/// `delta_pct` compares the means over models.
pub fn losses_over_runs(
    runs: &[TrainedRun],
    data_dir: &Path,
    seq_len: usize,
    max_windows: usize,
    formats: &[QuantFormat],
) -> Result<Vec<QuantResult>> {
    let per_run = runs
        .iter()
        .map(|r| losses(r, data_dir, seq_len, max_windows, formats))
        .collect::<Result<Vec<_>>>()?;
    let Some(first) = per_run.first() else {
        return Ok(Vec::new());
    };
    let mut out: Vec<QuantResult> = Vec::with_capacity(first.len());
    for (i, row) in first.iter().enumerate() {
        let seed_losses: Vec<(u64, f64)> = per_run
            .iter()
            .flat_map(|rows| rows[i].seed_losses.clone())
            .collect();
        let means: Vec<f64> = seed_losses.iter().map(|(_, l)| *l).collect();
        out.push(QuantResult {
            val_loss: stat(&means),
            seed_losses,
            ..row.clone()
        });
    }
    let base = out[0].val_loss.mean;
    for q in &mut out {
        q.delta_pct = 100.0 * (q.val_loss.mean - base) / base;
    }
    Ok(out)
}
