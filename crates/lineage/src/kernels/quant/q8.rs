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
        let s: i32 = b[2..34].iter().zip(&y.qs).map(|(&a, &c)| a as i8 as i32 * c as i32).sum();
        acc += f16_at(b, 0) * y.d * s as f32;
    }
    acc
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::super::act::Q8Block;
    use super::super::simd::x86::*;
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn vec_dot_q8_0(w: &[u8], x: &[Q8Block]) -> f32 {
        let mut acc = _mm256_setzero_ps();
        for (b, y) in w.chunks_exact(34).zip(x) {
            let d = f16_to_f32(b.as_ptr());
            let q = _mm256_loadu_si256(b.as_ptr().add(2) as *const __m256i);
            let yq = _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i);
            let p = _mm256_cvtepi32_ps(dot_i8_i8(q, yq));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * y.d), p, acc);
        }
        hsum_ps(acc)
    }
}
