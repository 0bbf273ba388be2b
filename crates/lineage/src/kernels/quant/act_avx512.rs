//! Activation quantization (act.rs) on AVX-512: the same blocks, bit for bit, sixteen
//! values per instruction. Prefill quantizes every activation row of every matmul, which
//! the scalar loops made 4-6% of a Gemma-3 prefill.
//!
//! What keeps the bits: the same f32 products and the same magic-number rounding
//! ([`nearest_int`](super::act::nearest_int)) lane by lane; `max` with the candidate
//! first, so a NaN is skipped as `f32::max` and the scalar `>` skip it; the Q8_K extreme
//! taken at its first position, as the scalar scan keeps the first; group sums over the
//! codes as stored (truncated to bytes).

use super::act::{f16_round, Q8Block, Q8KBlock};
use std::arch::x86_64::*;

/// `nearest_int` on sixteen lanes.
/// # Safety
/// AVX-512F is available (register-only).
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn nearest(v: __m512) -> __m512i {
    let x = _mm512_castps_si512(_mm512_add_ps(v, _mm512_set1_ps(12582912.0)));
    let m = _mm512_and_si512(x, _mm512_set1_epi32(0x007f_ffff));
    _mm512_sub_epi32(m, _mm512_set1_epi32(0x0040_0000))
}

/// `max(|v|, m)`, keeping `m` where `v` is NaN (`vmaxps` returns its second operand).
/// # Safety
/// AVX-512F is available (register-only).
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn abs_max(v: __m512, m: __m512) -> __m512 {
    _mm512_max_ps(_mm512_abs_ps(v), m)
}

/// act.rs `quantize_row_q8`'s blocks, appended to `out`.
/// # Safety
/// AVX-512F, AVX2, FMA and F16C are available ([`super::simd::avx512_available`]).
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(super) unsafe fn quantize_row_q8(x: &[f32], out: &mut Vec<Q8Block>) {
    out.reserve(x.len() / 32);
    for chunk in x.chunks_exact(32) {
        let p = chunk.as_ptr();
        let (a, b) = (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)));
        let amax = _mm512_reduce_max_ps(abs_max(b, abs_max(a, _mm512_setzero_ps())));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let (lo, hi) = (_mm512_set1_epi32(-127), _mm512_set1_epi32(127));
        let code = |v: __m512| {
            let q = nearest(_mm512_mul_ps(v, _mm512_set1_ps(id)));
            _mm512_min_epi32(_mm512_max_epi32(q, lo), hi)
        };
        let (qa, qb) = (code(a), code(b));
        let mut blk = Q8Block::default();
        let qs = blk.qs.as_mut_ptr() as *mut __m128i;
        _mm_storeu_si128(qs, _mm512_cvtepi32_epi8(qa));
        _mm_storeu_si128(qs.add(1), _mm512_cvtepi32_epi8(qb));
        blk.sum = _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qb));
        blk.d = f16_round(d);
        blk.s = f16_round(d * blk.sum as f32);
        out.push(blk);
    }
}

/// act.rs `quantize_row_q8k`'s blocks, appended to `out`.
/// # Safety
/// As [`quantize_row_q8`].
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(super) unsafe fn quantize_row_q8k(x: &[f32], out: &mut Vec<Q8KBlock>) {
    out.reserve(x.len() / 256);
    for chunk in x.chunks_exact(256) {
        let p = chunk.as_ptr();
        let v = |g: usize| _mm512_loadu_ps(p.add(16 * g));
        let mut m = _mm512_setzero_ps();
        for g in 0..16 {
            m = abs_max(v(g), m);
        }
        let amax = _mm512_reduce_max_ps(m);
        let mut blk = Q8KBlock::default();
        if amax != 0.0 {
            // The first value whose magnitude is the extreme (the scalar scan's `>`).
            let first = (0..16)
                .find_map(|g| {
                    let eq = _mm512_cmpeq_ps_mask(_mm512_abs_ps(v(g)), _mm512_set1_ps(amax));
                    (eq != 0).then(|| 16 * g + eq.trailing_zeros() as usize)
                })
                .unwrap_or(0);
            let iscale = -127.0 / chunk[first];
            for g in 0..16 {
                let q = nearest(_mm512_mul_ps(_mm512_set1_ps(iscale), v(g)));
                let q = _mm512_cvtepi32_epi8(_mm512_min_epi32(q, _mm512_set1_epi32(127)));
                _mm_storeu_si128(blk.qs.as_mut_ptr().add(16 * g) as *mut __m128i, q);
                // Sum the codes as stored, bytes sign-extended back.
                blk.bsums[g] = _mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(q)) as i16;
            }
            blk.d = 1.0 / iscale;
        }
        out.push(blk);
    }
}

#[cfg(test)]
mod tests {
    use super::super::act::{q8_block, q8k_block, quantize_row_q8, quantize_row_q8k};
    use proptest::prelude::*;

    /// Odd values a row can hold: zeros of both signs, huge, tiny, infinite and NaN.
    fn special() -> impl Strategy<Value = f32> {
        prop::sample::select(
            &[
                0.0,
                -0.0,
                1e30,
                -1e-30,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::NAN,
            ][..],
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every field of every block the quantizers give (this file's on AVX-512 CPUs,
        /// which `quantize_row_q8*` then take) equals the scalar block's, bit for bit:
        /// ordinary rows, rows whose extreme is tied in magnitude by its opposite (the
        /// code +127 of Q8_K), and a few odd values.
        #[test]
        fn avx512_quantizers_equal_the_scalar_ones(
            x in prop::collection::vec(-4f32..4.0, 512),
            ties in prop::collection::vec(0usize..512, 0..4),
            odd in prop::collection::vec((0usize..512, special()), 0..3),
            scale in prop::sample::select(&[1f32, 1e-3, 0.0][..]),
        ) {
            let mut x: Vec<f32> = x.iter().map(|v| v * scale).collect();
            for &j in &ties {
                // The opposite of its Q8_K block's extreme (the first of largest magnitude).
                let b = j / 256 * 256;
                let m = x[b..b + 256].iter().fold(0f32, |m, v| if v.abs() > m.abs() { *v } else { m });
                x[j] = -m;
            }
            for &(j, v) in &odd {
                x[j] = v;
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            quantize_row_q8(&x, &mut a);
            for (got, c) in a.iter().zip(x.chunks_exact(32)) {
                let want = q8_block(c);
                prop_assert_eq!(got.qs, want.qs);
                prop_assert_eq!(got.sum, want.sum);
                prop_assert_eq!(got.d.to_bits(), want.d.to_bits());
                prop_assert_eq!(got.s.to_bits(), want.s.to_bits());
            }
            quantize_row_q8k(&x, &mut b);
            for (got, c) in b.iter().zip(x.chunks_exact(256)) {
                let want = q8k_block(c);
                prop_assert_eq!(got.qs, want.qs);
                prop_assert_eq!(got.bsums, want.bsums);
                prop_assert_eq!(got.d.to_bits(), want.d.to_bits());
            }
            prop_assert_eq!((a.len(), b.len()), (16, 2));
        }
    }
}
