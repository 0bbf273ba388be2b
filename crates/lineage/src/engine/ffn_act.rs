//! The FFN nonlinearity between the gate|up projections and `ffn_down`:
//! `out = act(up)` (MLP) or `out = up * act(gate)` (GLU variants), row by row.
//!
//! It reads its inputs where the projection left them (the stacked matmul's rows hold
//! gate and up side by side) and writes the contiguous rows `ffn_down` reads, so the
//! stacked output is never split by copying. In prefill the rows go to the kernel pool:
//! on the caller alone, the other threads waited through it in every layer.

use candle_core::cpu::erf::erf_f32;

use crate::config::{Activation, FfnKind};
use crate::kernels::{pool, vmath};

/// Rows of width `width`, `stride` apart, starting at `at` in `buf`.
#[derive(Clone, Copy)]
pub struct Rows<'a> {
    pub buf: &'a [f32],
    pub stride: usize,
    pub at: usize,
    pub width: usize,
}

impl Rows<'_> {
    fn row(&self, i: usize) -> &[f32] {
        let s = i * self.stride + self.at;
        &self.buf[s..s + self.width]
    }
}

/// `out[i] = f(gate[i], up[i])` for the `out.len() / up.width` rows of `out`, on the
/// kernel pool in prefill; `gate` is not read for an MLP.
pub fn ffn_act_rows(kind: FfnKind, gate: Rows<'_>, up: Rows<'_>, out: &mut [f32]) {
    pool::global().for_rows(out, up.width, &|i, o| {
        let g = if matches!(kind, FfnKind::Mlp(_)) {
            &[][..]
        } else {
            gate.row(i)
        };
        ffn_act(kind, g, up.row(i), o)
    });
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

/// One row: `out = act(up)` (MLP) or `up * act(gate)` (GLU variants). Built for AVX2
/// where the CPU has it: the activations' `exp` and `tanh` then run eight values at a
/// time (the same bits as the portable build).
pub fn ffn_act(kind: FfnKind, gate: &[f32], up: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::quant::simd::avx2_available() {
        // SAFETY: AVX2 and FMA were just checked.
        return unsafe { ffn_act_avx2(kind, gate, up, out) };
    }
    ffn_act_portable(kind, gate, up, out)
}

/// # Safety
/// AVX2 and FMA are available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn ffn_act_avx2(kind: FfnKind, gate: &[f32], up: &[f32], out: &mut [f32]) {
    ffn_act_portable(kind, gate, up, out)
}

/// [`ffn_act`]'s loops, one per activation (so that each vectorizes without a branch).
#[inline(always)]
fn ffn_act_portable(kind: FfnKind, gate: &[f32], up: &[f32], out: &mut [f32]) {
    macro_rules! each {
        ($a:expr) => {
            match kind {
                FfnKind::Mlp(_) => out.iter_mut().zip(up).for_each(|(o, &u)| *o = act(u, $a)),
                _ => out
                    .iter_mut()
                    .zip(up)
                    .zip(gate)
                    .for_each(|((o, &u), &g)| *o = u * act(g, $a)),
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
            for ((o, &u), &g) in out.iter_mut().zip(up).zip(gate) {
                let g = g.min(limit);
                let glu = g / (1.0 + vmath::exp(-(g * alpha)));
                *o = (u.clamp(-limit, limit) + 1.0) * glu;
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
                let (mut fast, mut slow) = (vec![0f32; x.len()], vec![0f32; x.len()]);
                ffn_act(kind, &gate, &x, &mut fast);
                ffn_act_portable(kind, &gate, &x, &mut slow);
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

    /// Rows read from a stacked buffer (gate then up in each row), on the pool or not,
    /// equal the row function applied to each row alone.
    #[test]
    fn ffn_act_rows_reads_side_by_side_rows() {
        let (n, w) = (9, 37);
        let tmp: Vec<f32> = (0..n * 2 * w)
            .map(|i| ((i * 7919) % 613) as f32 / 100.0 - 3.0)
            .collect();
        let kind = FfnKind::Glu(Activation::Silu);
        let rows = |at| Rows {
            buf: &tmp,
            stride: 2 * w,
            at,
            width: w,
        };
        let mut out = vec![0f32; n * w];
        ffn_act_rows(kind, rows(0), rows(w), &mut out);
        for i in 0..n {
            let mut want = vec![0f32; w];
            let r = &tmp[i * 2 * w..(i + 1) * 2 * w];
            ffn_act(kind, &r[..w], &r[w..], &mut want);
            assert_eq!(&out[i * w..(i + 1) * w], &want[..], "row {i}");
        }
    }
}
