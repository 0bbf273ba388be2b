//! Differentiable element-wise and reduction helpers built from candle ops, generic in
//! dtype (f32 for inference checks, f64 for gradient checks).

use candle_core::{Tensor, D};

use crate::config::Activation;
use crate::Result;

/// Softmax over the last dim; the max shift is detached (it cancels in the gradient).
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let m = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&m)?.exp()?;
    let s = e.sum_keepdim(D::Minus1)?;
    Ok(e.broadcast_div(&s)?)
}

/// Log-softmax over the last dim.
pub fn log_softmax_last(x: &Tensor) -> Result<Tensor> {
    let m = x.max_keepdim(D::Minus1)?.detach();
    let shifted = x.broadcast_sub(&m)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(shifted.broadcast_sub(&lse)?)
}

/// `log(sum(exp(x)))` over the last dim, without it: `[..., n]` -> `[...]`.
pub fn logsumexp_last(x: &Tensor) -> Result<Tensor> {
    let m = x.max_keepdim(D::Minus1)?.detach();
    let lse = x.broadcast_sub(&m)?.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok((lse + m)?.squeeze(D::Minus1)?)
}

pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok((x.neg()?.exp()? + 1.0)?.recip()?)
}

pub fn activation(x: &Tensor, act: Activation) -> Result<Tensor> {
    Ok(match act {
        Activation::Gelu => x.gelu_erf()?,
        Activation::GeluTanh => gelu_tanh(x)?,
        Activation::Silu => (x * sigmoid(x)?)?,
        Activation::Relu => x.relu()?,
    })
}

/// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` (HF `gelu_new`), composed from
/// primitive ops so autodiff gives its exact derivative: candle's fused `gelu` backward
/// uses 6-digit constants, which is visible against PyTorch in f64.
pub fn gelu_tanh(x: &Tensor) -> Result<Tensor> {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    let inner = ((x + (x.sqr()? * x)?.affine(0.044715, 0.0)?)? * c)?;
    Ok(((inner.tanh()? + 1.0)? * x)?.affine(0.5, 0.0)?)
}

/// `cap * tanh(x / cap)`.
pub fn softcap(x: &Tensor, cap: f64) -> Result<Tensor> {
    Ok(((x / cap)?.tanh()? * cap)?)
}

/// Index of the largest value; ties go to the lowest index (HF/llama.cpp greedy).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}
