//! K-quants (Q2_K .. Q6_K): dequantization and the integer dot product against Q8_K
//! activations, written once over the unpacked [`KBlock`] form.
//!
//! Reference: ggml-quants.c `dequantize_row_q*_K` and ggml-cpu `ggml_vec_dot_q*_K_q8_K`.
//! With `S_g = sum_{i in g} u_i q_i` and `B_g` the Q8_K group sum:
//! `x·y = dy * (d * (sum_g sc_g S_g - off * sum_g sc_g B_g) - dmin * sum_g m_g B_g)`.

use super::act::Q8KBlock;
use super::k_unpack::KBlock;

/// Unpacks one super-block of a given K type.
pub(crate) type Unpack = fn(&[u8]) -> KBlock;

/// Dequantize whole super-blocks; float ops in the order gguf-py uses, so that the
/// result is bitwise equal: `(d * sc) * (u - off) - (dmin * m)`.
pub(crate) fn dequantize_k(unpack: Unpack, bsize: usize, bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(bsize).zip(out.chunks_exact_mut(256)) {
        let k = unpack(b);
        for (g, yg) in y.chunks_exact_mut(16).enumerate() {
            let dl = k.d * k.scales[g] as f32;
            let ml = k.dmin * k.mins[g] as f32;
            for (o, &u) in yg.iter_mut().zip(&k.u[16 * g..16 * g + 16]) {
                *o = dl * (u as i32 - k.off) as f32 - ml;
            }
        }
    }
}

/// The parts of the dot product that do not touch the 256 codes.
#[inline(always)]
fn finish(k: &KBlock, y: &Q8KBlock, scaled: i32) -> f32 {
    let mut sb = 0i32;
    let mut mb = 0i32;
    for g in 0..16 {
        sb += k.scales[g] as i32 * y.bsums[g] as i32;
        mb += k.mins[g] as i32 * y.bsums[g] as i32;
    }
    finish_parts(k.d, k.dmin, k.off, scaled, sb, mb, y.d)
}

/// A block's float step from its integer parts (`scaled = sum_g sc_g S_g`,
/// `sb = sum_g sc_g B_g`, `mb = sum_g m_g B_g`): the one expression every K-quant dot
/// uses, so that they agree bit for bit.
#[inline(always)]
pub(crate) fn finish_parts(
    d: f32,
    dmin: f32,
    off: i32,
    scaled: i32,
    sb: i32,
    mb: i32,
    dy: f32,
) -> f32 {
    dy * (d * (scaled - off * sb) as f32 - dmin * mb as f32)
}

/// [`finish_parts`] for four activation rows at once (the lanes of `scaled`, `sb`, `mb`
/// and `dy`): the same operations in the same order, without contraction into an `fma`,
/// so each lane gets the scalar expression's bits. Shared by the K-quant row kernels
/// (k_avx2.rs, k_avx512.rs).
/// # Safety
/// SSE4.1 is available (`_mm_mullo_epi32`; register-only otherwise).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "sse4.1")]
pub(crate) unsafe fn finish_parts4(
    (d, dmin, off): (f32, f32, i32),
    scaled: std::arch::x86_64::__m128i,
    sb: std::arch::x86_64::__m128i,
    mb: std::arch::x86_64::__m128i,
    dy: std::arch::x86_64::__m128,
) -> std::arch::x86_64::__m128 {
    use std::arch::x86_64::*;
    let t = _mm_sub_epi32(scaled, _mm_mullo_epi32(_mm_set1_epi32(off), sb));
    let a = _mm_mul_ps(_mm_set1_ps(d), _mm_cvtepi32_ps(t));
    let b = _mm_mul_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(mb));
    _mm_mul_ps(dy, _mm_sub_ps(a, b))
}

/// Unpack a weight row once; the matmul then reuses it for every activation row.
pub(crate) fn unpack_row(unpack: Unpack, bsize: usize, w: &[u8], out: &mut Vec<KBlock>) {
    out.clear();
    out.extend(w.chunks_exact(bsize).map(unpack));
}

/// Scalar unpacked K-quant row · Q8_K row.
pub(crate) fn vec_dot_k(w: &[KBlock], x: &[Q8KBlock]) -> f32 {
    let mut acc = 0f32;
    for (k, y) in w.iter().zip(x) {
        let mut scaled = 0i32;
        for g in 0..16 {
            let s: i32 = (16 * g..16 * g + 16)
                .map(|i| k.u[i] as i32 * y.qs[i] as i32)
                .sum();
            scaled += k.scales[g] as i32 * s;
        }
        acc += finish(k, y, scaled);
    }
    acc
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::super::act::Q8KBlock;
    use super::super::k_unpack::KBlock;
    use super::super::simd::x86::*;
    use super::finish;
    use std::arch::x86_64::*;

    /// `sum_g scales[g] * S_g` for one block: codes `u <= 63` keep `maddubs` exact.
    /// # Safety
    /// AVX2, FMA and F16C are available. The loads read `[32 j..][..32]`, `j < 8`, of
    /// the two 256-byte arrays: in bounds by their types.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scaled_sum(u: &[u8; 256], scales: &[i16; 16], y: &[i8; 256]) -> i32 {
        let mut acc = _mm256_setzero_si256();
        for j in 0..8 {
            let q = _mm256_loadu_si256(u.as_ptr().add(32 * j) as *const __m256i);
            let v = _mm256_loadu_si256(y.as_ptr().add(32 * j) as *const __m256i);
            let p16 = _mm256_maddubs_epi16(q, v);
            let sc = _mm256_set_m128i(
                _mm_set1_epi16(scales[2 * j + 1]),
                _mm_set1_epi16(scales[2 * j]),
            );
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, sc));
        }
        hsum_epi32(acc)
    }

    /// # Safety
    /// The CPU must support AVX2, FMA and F16C (dispatch.rs checks `avx2_available`).
    /// Any lengths: the rows are zipped.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn vec_dot_k(w: &[KBlock], x: &[Q8KBlock]) -> f32 {
        debug_assert_eq!(w.len(), x.len());
        let mut acc = 0f32;
        for (k, y) in w.iter().zip(x) {
            acc += finish(k, y, scaled_sum(&k.u, &k.scales, &y.qs));
        }
        acc
    }
}
