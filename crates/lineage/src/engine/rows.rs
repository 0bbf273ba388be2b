//! Fused row operations on f32 slices, in place or into a caller's buffer: LayerNorm /
//! RMSNorm (Gemma `1+w`), activations, GLU, soft-cap, RoPE. Plain loops that
//! auto-vectorize; the formulas follow `crate::model` (the candle oracle) op for op.

use candle_core::cpu::erf::erf_f32;

use crate::config::{Activation, FfnKind, NormConfig, NormKind, RopePairing};
use crate::kernels::vmath;
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
        for (xr, or) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            self.row(xr, or);
        }
    }

    /// Normalises every `dim`-wide row of `x` in place.
    pub fn apply_inplace(&self, x: &mut [f32]) {
        let d = self.dim();
        for r in x.chunks_exact_mut(d) {
            let (mean, inv) = self.stats(r);
            for (i, v) in r.iter_mut().enumerate() {
                *v = self.finish(i, (*v - mean) * inv);
            }
        }
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

#[inline(always)]
fn act(v: f32, a: Activation) -> f32 {
    match a {
        Activation::Gelu => (erf_f32(v * std::f32::consts::FRAC_1_SQRT_2) + 1.0) * 0.5 * v,
        Activation::GeluTanh => {
            // 0.5 (1 + tanh u) = sigmoid(2u): the same function without the cancellation
            // of 1 + tanh u for negative u.
            const S2: f32 = 2.0 * 0.797_884_6; // 2 sqrt(2/pi)
            v / (1.0 + vmath::exp(-(S2 * v * (1.0 + 0.044715 * v * v))))
        }
        Activation::Silu => v / (1.0 + vmath::exp(-v)),
        Activation::Relu => v.max(0.0),
    }
}

/// The FFN nonlinearity: `up <- act(up)` (MLP) or `up <- f(gate, up)` (GLU variants).
/// Built for AVX2 where the CPU has it: the activations' `exp` and `tanh` then run
/// eight values at a time (the same bits as the portable build).
pub fn ffn_act(kind: FfnKind, gate: &[f32], up: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::quant::simd::avx2_available() {
        // SAFETY: AVX2 and FMA were just checked.
        return unsafe { ffn_act_avx2(kind, gate, up) };
    }
    ffn_act_rows(kind, gate, up)
}

/// # Safety
/// AVX2 and FMA are available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn ffn_act_avx2(kind: FfnKind, gate: &[f32], up: &mut [f32]) {
    ffn_act_rows(kind, gate, up)
}

/// [`ffn_act`]'s loops, one per activation (so that each vectorizes without a branch).
#[inline(always)]
fn ffn_act_rows(kind: FfnKind, gate: &[f32], up: &mut [f32]) {
    macro_rules! each {
        ($a:expr) => {
            match kind {
                FfnKind::Mlp(_) => up.iter_mut().for_each(|u| *u = act(*u, $a)),
                _ => up.iter_mut().zip(gate).for_each(|(u, &g)| *u *= act(g, $a)),
            }
        };
    }
    match kind {
        FfnKind::Mlp(a) | FfnKind::Glu(a) => match a {
            Activation::Gelu => each!(Activation::Gelu),
            Activation::GeluTanh => each!(Activation::GeluTanh),
            Activation::Silu => each!(Activation::Silu),
            Activation::Relu => each!(Activation::Relu),
        },
        FfnKind::ClampedSwiGlu { alpha, limit } => {
            let (alpha, limit) = (alpha as f32, limit as f32);
            for (u, &g) in up.iter_mut().zip(gate) {
                let g = g.min(limit);
                let glu = g / (1.0 + vmath::exp(-(g * alpha)));
                *u = (u.clamp(-limit, limit) + 1.0) * glu;
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The f64 formula of each nonlinearity (libm's exp and tanh).
    fn act_f64(v: f64, a: Activation) -> f64 {
        match a {
            Activation::Gelu => unreachable!("erf comes from candle, unchanged"),
            Activation::GeluTanh => {
                let s = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * v * (1.0 + (s * v * (1.0 + 0.044715 * v * v)).tanh())
            }
            Activation::Silu => v / (1.0 + (-v).exp()),
            Activation::Relu => v.max(0.0),
        }
    }

    /// The dispatched (AVX2 where present) activations equal the portable loops bit for
    /// bit, and match f64 within 1e-6 relative plus 1e-7: from -30 to 30, gated and not.
    #[test]
    fn ffn_act_simd_equals_portable_and_matches_f64() {
        let x: Vec<f32> = (0..6001).map(|i| (i as f32 - 3000.0) / 100.0).collect();
        let gate: Vec<f32> = x.iter().rev().copied().collect();
        for a in [Activation::GeluTanh, Activation::Silu, Activation::Relu] {
            for kind in [FfnKind::Mlp(a), FfnKind::Glu(a)] {
                let (mut fast, mut slow) = (x.clone(), x.clone());
                ffn_act(kind, &gate, &mut fast);
                ffn_act_rows(kind, &gate, &mut slow);
                assert!(
                    fast.iter()
                        .zip(&slow)
                        .all(|(p, q)| p.to_bits() == q.to_bits()),
                    "{kind:?}"
                );
                for (i, &got) in slow.iter().enumerate() {
                    let want = match kind {
                        FfnKind::Mlp(_) => act_f64(x[i] as f64, a),
                        _ => x[i] as f64 * act_f64(gate[i] as f64, a),
                    };
                    let err = (got as f64 - want).abs();
                    assert!(
                        err <= 1e-6 * want.abs() + 1e-7 * (1.0 + x[i].abs() as f64),
                        "{kind:?} at {}: {got} vs {want}",
                        x[i]
                    );
                }
            }
        }
    }
}
