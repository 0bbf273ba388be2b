//! Fused row operations on f32 slices, in place or into a caller's buffer: LayerNorm /
//! RMSNorm (Gemma `1+w`), soft-cap, RoPE (the FFN activations: ffn_act.rs). Plain loops
//! that auto-vectorize; the formulas follow `crate::model` (the candle oracle) op for op.

use crate::config::{NormConfig, NormKind, RopePairing};
use crate::kernels::pool;
use crate::plan::NormSlot;
use crate::weights::Weights;
use crate::Result;

use super::mat::dense_vec;

/// A norm with its gain already offset (`1+w`) and optional bias.
#[derive(Debug, Clone)]
pub struct RowNorm {
    layer: bool,
    eps: f32,
    gain: Vec<f32>,
    bias: Option<Vec<f32>>,
}

impl RowNorm {
    /// Loads `{name}.weight` (and `.bias` for LayerNorm with bias) of width `dim`.
    pub fn load(w: &Weights, name: &str, cfg: NormConfig, dim: usize) -> Result<Self> {
        let mut gain = dense_vec(&format!("{name}.weight"), w, &[dim])?;
        if let NormKind::RmsNorm { offset_one: true } = cfg.kind {
            gain.iter_mut().for_each(|g| *g += 1.0);
        }
        let bias = match cfg.kind {
            NormKind::LayerNorm { bias: true } => {
                Some(dense_vec(&format!("{name}.bias"), w, &[dim])?)
            }
            _ => None,
        };
        Ok(Self {
            layer: matches!(cfg.kind, NormKind::LayerNorm { .. }),
            eps: cfg.eps as f32,
            gain,
            bias,
        })
    }

    /// Loads a plan's norm slot.
    pub fn of(w: &Weights, s: &NormSlot) -> Result<Self> {
        Self::load(w, &s.name, s.cfg, s.dim)
    }

    pub fn dim(&self) -> usize {
        self.gain.len()
    }

    /// Normalises every `dim`-wide row of `x` into `out`.
    pub fn apply(&self, x: &[f32], out: &mut [f32]) {
        let d = self.dim();
        let n = (x.len() / d).min(out.len() / d);
        pool::global().for_rows(&mut out[..n * d], d, &|i, or| {
            self.row(&x[i * d..(i + 1) * d], or)
        });
    }

    /// Normalises every `dim`-wide row of `x` in place.
    pub fn apply_inplace(&self, x: &mut [f32]) {
        let d = self.dim();
        let n = x.len() / d;
        pool::global().for_rows(&mut x[..n * d], d, &|_, r| {
            let (mean, inv) = self.stats(r);
            for (i, v) in r.iter_mut().enumerate() {
                *v = self.finish(i, (*v - mean) * inv);
            }
        });
    }

    fn row(&self, x: &[f32], out: &mut [f32]) {
        let (mean, inv) = self.stats(x);
        for (i, (o, &v)) in out.iter_mut().zip(x).enumerate() {
            *o = self.finish(i, (v - mean) * inv);
        }
    }

    /// (mean subtracted, 1/sqrt(var or mean square + eps)).
    fn stats(&self, x: &[f32]) -> (f32, f32) {
        let n = x.len() as f32;
        let mean = if self.layer { sum(x) / n } else { 0.0 };
        let mut acc = [0f32; 8];
        let c = x.chunks_exact(8);
        let rest: f32 = c.remainder().iter().map(|v| (v - mean) * (v - mean)).sum();
        for ch in c {
            for k in 0..8 {
                let d = ch[k] - mean;
                acc[k] += d * d;
            }
        }
        let ms = (acc.iter().sum::<f32>() + rest) / n;
        (mean, 1.0 / (ms + self.eps).sqrt())
    }

    #[inline]
    fn finish(&self, i: usize, y: f32) -> f32 {
        let y = y * self.gain[i];
        match &self.bias {
            Some(b) => y + b[i],
            None => y,
        }
    }
}

fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let c = x.chunks_exact(8);
    let rest: f32 = c.remainder().iter().sum();
    for ch in c {
        for k in 0..8 {
            acc[k] += ch[k];
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// `cap * tanh(x / cap)` in place.
pub fn softcap(x: &mut [f32], cap: f32) {
    x.iter_mut().for_each(|v| *v = (*v / cap).tanh() * cap);
}

/// Adds `bias` to every row of `x`.
pub fn add_bias(x: &mut [f32], bias: &[f32]) {
    for r in x.chunks_exact_mut(bias.len()) {
        r.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
    }
}

/// Rotates the first `2 * cos.len()` dims of one head vector `x` in place.
#[inline]
pub fn rope_head(x: &mut [f32], cos: &[f32], sin: &[f32], pairing: RopePairing) {
    let half = cos.len();
    match pairing {
        RopePairing::RotateHalf => {
            let (a, b) = x[..2 * half].split_at_mut(half);
            for i in 0..half {
                let (x1, x2) = (a[i], b[i]);
                a[i] = x1 * cos[i] - x2 * sin[i];
                b[i] = x2 * cos[i] + x1 * sin[i];
            }
        }
        RopePairing::Interleaved => {
            for i in 0..half {
                let (x1, x2) = (x[2 * i], x[2 * i + 1]);
                x[2 * i] = x1 * cos[i] - x2 * sin[i];
                x[2 * i + 1] = x2 * cos[i] + x1 * sin[i];
            }
        }
    }
}
