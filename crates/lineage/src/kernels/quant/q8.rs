//! Q8_0: 32 weights per block as signed bytes with an f16 scale, `x = d * q`.
//!
//! Reference: ggml-common.h `block_q8_0 { half d; i8 qs[32]; }`; ggml-quants.c
//! `dequantize_row_q8_0`.

use super::act::Q8Block;
use super::float::f16_at;

pub(crate) fn dequantize_q8_0(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(34).zip(out.chunks_exact_mut(32)) {
        let d = f16_at(b, 0);
        for (o, &q) in y.iter_mut().zip(&b[2..34]) {
            *o = q as i8 as f32 * d;
        }
    }
}

/// Scalar Q8_0 row · Q8 row.
pub(crate) fn vec_dot_q8_0(w: &[u8], x: &[Q8Block]) -> f32 {
    let mut acc = 0f32;
    for (b, y) in w.chunks_exact(34).zip(x) {
        let s: i32 = b[2..34]
            .iter()
            .zip(&y.qs)
            .map(|(&a, &c)| a as i8 as i32 * c as i32)
            .sum();
        acc += f16_at(b, 0) * y.d * s as f32;
    }
    acc
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::super::act::Q8Block;
    use super::super::simd::x86::*;
    use std::arch::x86_64::*;

    /// One weight row against `N` activation rows (see `q4::avx2::dot_nibbles`).
    /// # Safety
    /// AVX2, FMA and F16C are available. Block `j < nb <= w.len() / 34` is
    /// `w[j * 34..][..34]` (`d` at 0..2, the 32 codes loaded from 2..34), and
    /// `get_unchecked(j)` has `j < nb <= xs[k].len()`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot_q8<const N: usize>(w: &[u8], xs: [&[Q8Block]; N]) -> [f32; N] {
        let mut acc = [_mm256_setzero_ps(); N];
        debug_assert!(w.len() % 34 == 0 && xs.iter().all(|x| x.len() == w.len() / 34));
        let nb = xs.iter().map(|x| x.len()).fold(w.len() / 34, usize::min);
        for j in 0..nb {
            let b = w.as_ptr().add(j * 34);
            let d = f16_to_f32(b);
            let q = _mm256_loadu_si256(b.add(2) as *const __m256i);
            let aq = _mm256_sign_epi8(q, q);
            for k in 0..N {
                let y = xs[k].get_unchecked(j);
                let yq = _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i);
                let p = _mm256_cvtepi32_ps(dot_u8_i8(aq, _mm256_sign_epi8(yq, q)));
                acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * y.d), p, acc[k]);
            }
        }
        let mut out = [0f32; N];
        for k in 0..N {
            out[k] = hsum_ps(acc[k]);
        }
        out
    }

    /// # Safety
    /// The CPU must support AVX2, FMA and F16C (dispatch.rs checks `avx2_available`).
    /// Any lengths: the kernel reads `min(w.len() / BYTES, x.len())` blocks.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn vec_dot_q8_0(w: &[u8], x: &[Q8Block]) -> f32 {
        dot_q8::<1>(w, [x])[0]
    }

    /// # Safety
    /// The CPU must support AVX2, FMA and F16C (dispatch.rs checks `avx2_available`).
    /// Any lengths: the kernel reads `min(w.len() / BYTES, x.len())` blocks.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn vec_dot4_q8_0(w: &[u8], xs: [&[Q8Block]; 4]) -> [f32; 4] {
        dot_q8::<4>(w, xs)
    }
}
