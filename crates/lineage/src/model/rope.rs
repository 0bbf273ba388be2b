//! Rotary position embeddings (Su et al. 2021) with the HF scalings
//! (`transformers/modeling_rope_utils.py`): frequencies, cos/sin tables and rotation.

use std::f64::consts::PI;
use std::ops::Range;

use candle_core::{DType, Device, Tensor, D};

use crate::config::{Rope, RopePairing, RopeScaling};
use crate::Result;

/// cos and sin `[T, rotary_dim/2]`, already multiplied by the attention factor.
pub struct CosSin {
    cos: Tensor,
    sin: Tensor,
}

#[derive(Debug, Clone)]
pub struct RopeTable {
    rope: Rope,
}

impl RopeTable {
    pub fn new(rope: &Rope) -> Self {
        Self { rope: rope.clone() }
    }

    /// Inverse frequencies for a forward whose largest position is `seq_len - 1`
    /// (dynamic NTK and LongRoPE depend on it), and the cos/sin multiplier.
    pub fn inv_freq(&self, seq_len: usize) -> (Vec<f64>, f64) {
        let r = &self.rope;
        let dim = r.rotary_dim;
        let base = |theta: f64| -> Vec<f64> {
            (0..dim / 2)
                .map(|i| 1.0 / theta.powf((2 * i) as f64 / dim as f64))
                .collect()
        };
        match &r.scaling {
            RopeScaling::None => (base(r.theta), 1.0),
            RopeScaling::Linear { factor } => {
                (base(r.theta).iter().map(|f| f / factor).collect(), 1.0)
            }
            RopeScaling::DynamicNtk {
                factor,
                original_max,
            } => {
                if seq_len <= *original_max {
                    return (base(r.theta), 1.0);
                }
                let s = factor * seq_len as f64 / *original_max as f64 - (factor - 1.0);
                (base(r.theta * s.powf(dim as f64 / (dim as f64 - 2.0))), 1.0)
            }
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max,
            } => {
                let old = *original_max as f64;
                let (low_wl, high_wl) = (old / low_freq_factor, old / high_freq_factor);
                let f = base(r.theta)
                    .into_iter()
                    .map(|f| {
                        let wl = 2.0 * PI / f;
                        if wl < high_wl {
                            f
                        } else if wl > low_wl {
                            f / factor
                        } else {
                            let s =
                                (old / wl - low_freq_factor) / (high_freq_factor - low_freq_factor);
                            (1.0 - s) * f / factor + s * f
                        }
                    })
                    .collect();
                (f, 1.0)
            }
            RopeScaling::Yarn {
                factor,
                original_max,
                beta_fast,
                beta_slow,
                attention_factor,
                truncate,
            } => {
                let (low, high) = yarn_range(
                    *beta_fast,
                    *beta_slow,
                    dim,
                    r.theta,
                    *original_max,
                    *truncate,
                );
                let f = (0..dim / 2)
                    .map(|i| {
                        let pos_freq = r.theta.powf((2 * i) as f64 / dim as f64);
                        let (extra, inter) = (1.0 / pos_freq, 1.0 / (factor * pos_freq));
                        let span = if high == low { 0.001 } else { high - low };
                        let ramp = ((i as f64 - low) / span).clamp(0.0, 1.0);
                        let extra_w = 1.0 - ramp;
                        inter * (1.0 - extra_w) + extra * extra_w
                    })
                    .collect();
                (f, *attention_factor)
            }
            RopeScaling::FreqFactors { factors } => (
                base(r.theta)
                    .iter()
                    .zip(factors)
                    .map(|(f, e)| f / e)
                    .collect(),
                1.0,
            ),
            RopeScaling::LongRope {
                short_factor,
                long_factor,
                original_max,
                attention_factor,
            } => {
                let ext = if seq_len > *original_max {
                    long_factor
                } else {
                    short_factor
                };
                let f = base(r.theta).iter().zip(ext).map(|(f, e)| f / e).collect();
                (f, *attention_factor)
            }
        }
    }

    /// cos/sin for absolute positions `pos`.
    pub fn cos_sin(&self, pos: Range<usize>, dtype: DType) -> Result<CosSin> {
        let (inv, af) = self.inv_freq(pos.end);
        let shape = (pos.len(), inv.len());
        let (cos, sin) = if dtype == DType::F64 {
            // f64 runs are the exact reference (gradient checks): angles in f64.
            let (c, s) = angles(&pos, &inv, af);
            (
                Tensor::from_vec(c, shape, &Device::Cpu)?,
                Tensor::from_vec(s, shape, &Device::Cpu)?,
            )
        } else {
            // HF computes the angles in f32; do the same so large positions round alike.
            let inv32: Vec<f32> = inv.iter().map(|&f| f as f32).collect();
            let (c, s) = angles(&pos, &inv32, af as f32);
            let c = Tensor::from_vec(c, shape, &Device::Cpu)?.to_dtype(dtype)?;
            (
                c,
                Tensor::from_vec(s, shape, &Device::Cpu)?.to_dtype(dtype)?,
            )
        };
        Ok(CosSin { cos, sin })
    }

    /// Rotates the first `rotary_dim` dims of `x` `[B, H, T, hd]`. Interleaved pairs are
    /// returned de-interleaved (`[evens', odds']`): q and k get the same permutation, so
    /// their dot products are unchanged.
    /// Rotated dims per head.
    pub fn rotary_dim(&self) -> usize {
        self.rope.rotary_dim
    }

    /// `x` `[B, T, H, hd]` (the projections' layout) rotated by the fused kernel.
    pub fn apply_bthd(&self, x: &Tensor, cs: &CosSin) -> Result<Tensor> {
        super::fused::rope(x, &cs.cos, &cs.sin, self.rope.pairing)
    }

    /// `x` `[B, H, T, hd]` rotated in primitive candle ops (the reference).
    pub fn apply(&self, x: &Tensor, cs: &CosSin) -> Result<Tensor> {
        let hd = x.dim(D::Minus1)?;
        let rd = self.rope.rotary_dim;
        let rot = x.narrow(D::Minus1, 0, rd)?;
        let (x1, x2) = match self.rope.pairing {
            RopePairing::RotateHalf => (
                rot.narrow(D::Minus1, 0, rd / 2)?,
                rot.narrow(D::Minus1, rd / 2, rd / 2)?,
            ),
            RopePairing::Interleaved => {
                let mut shape = rot.dims().to_vec();
                shape.pop();
                shape.extend([rd / 2, 2]);
                let v = rot.reshape(shape)?;
                (
                    v.narrow(D::Minus1, 0, 1)?.squeeze(D::Minus1)?,
                    v.narrow(D::Minus1, 1, 1)?.squeeze(D::Minus1)?,
                )
            }
        };
        let o1 = (x1.broadcast_mul(&cs.cos)? - x2.broadcast_mul(&cs.sin)?)?;
        let o2 = (x2.broadcast_mul(&cs.cos)? + x1.broadcast_mul(&cs.sin)?)?;
        if rd == hd {
            return Ok(Tensor::cat(&[o1, o2], D::Minus1)?);
        }
        let pass = x.narrow(D::Minus1, rd, hd - rd)?;
        Ok(Tensor::cat(&[o1, o2, pass], D::Minus1)?)
    }
}

/// YaRN correction range: dims whose wavelength fits between beta_fast and beta_slow
/// rotations over the original context.
fn yarn_range(
    fast: f64,
    slow: f64,
    dim: usize,
    theta: f64,
    orig: usize,
    truncate: bool,
) -> (f64, f64) {
    let d = |rot: f64| (dim as f64 * (orig as f64 / (rot * 2.0 * PI)).ln()) / (2.0 * theta.ln());
    let (mut low, mut high) = (d(fast), d(slow));
    if truncate {
        low = low.floor();
        high = high.ceil();
    }
    (low.max(0.0), high.min(dim as f64 - 1.0))
}

/// `(cos, sin)` of `p * f`, times `scale`, for every position and frequency.
fn angles<F: num_float::Float>(pos: &Range<usize>, inv: &[F], scale: F) -> (Vec<F>, Vec<F>) {
    let (mut c, mut s) = (Vec::new(), Vec::new());
    for p in pos.clone() {
        for &f in inv {
            let a = F::from_usize(p) * f;
            c.push(a.cos() * scale);
            s.push(a.sin() * scale);
        }
    }
    (c, s)
}

/// The two float types the angle tables are computed in.
mod num_float {
    pub trait Float: Copy + std::ops::Mul<Output = Self> {
        fn from_usize(p: usize) -> Self;
        fn cos(self) -> Self;
        fn sin(self) -> Self;
    }
    macro_rules! float {
        ($t:ty) => {
            impl Float for $t {
                fn from_usize(p: usize) -> Self {
                    p as $t
                }
                fn cos(self) -> Self {
                    <$t>::cos(self)
                }
                fn sin(self) -> Self {
                    <$t>::sin(self)
                }
            }
        };
    }
    float!(f32);
    float!(f64);
}
