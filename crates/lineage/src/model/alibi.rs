//! ALiBi (Press et al. 2021): per-head linear biases on attention scores. The slopes come
//! from the layer plan (`plan::build::alibi_slopes`, any head count).

use candle_core::{DType, Device, Tensor};

use crate::Result;

/// Bias `[1, H, 1, S]` = slope_h * j for key positions `k0..k0+S` (HF's form, equal to
/// `slope_h * (j - i)` up to a per-row constant that softmax ignores).
pub fn bias(slopes: &[f64], k0: usize, s: usize, dtype: DType) -> Result<Tensor> {
    let h = slopes.len();
    let v: Vec<f32> = slopes
        .iter()
        .flat_map(|&m| (k0..k0 + s).map(move |j| (m as f32) * j as f32))
        .collect();
    Ok(Tensor::from_vec(v, (1, h, 1, s), &Device::Cpu)?.to_dtype(dtype)?)
}
