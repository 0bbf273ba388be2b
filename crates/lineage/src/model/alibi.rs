//! ALiBi (Press et al. 2021): per-head linear biases on attention scores. Slopes for any
//! head count: a geometric sequence for the largest power of two, then every other slope
//! of the next power (HF `build_alibi_tensor`).

use candle_core::{DType, Device, Tensor};

use crate::Result;

pub fn slopes(n_heads: usize) -> Vec<f64> {
    let closest = 1usize << (usize::BITS - 1 - n_heads.leading_zeros());
    let base = 2f64.powf(-(2f64.powf(-((closest as f64).log2() - 3.0))));
    let mut s: Vec<f64> = (1..=closest).map(|i| base.powi(i as i32)).collect();
    if closest < n_heads {
        let extra = 2f64.powf(-(2f64.powf(-((2.0 * closest as f64).log2() - 3.0))));
        let n_rest = n_heads - closest;
        s.extend((0..n_rest).map(|i| extra.powi((2 * i + 1) as i32)));
    }
    s
}

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
