//! AVX2 kernels for K-quant weights (Q4_K, Q5_K, Q6_K) against Q8_K activations: one
//! weight row against any number of activation rows, straight from the super-block
//! bytes. CPUs with AVX-512 VNNI take k_avx512.rs instead (the same integer dot at twice
//! the width, every output the same bits). A version with `vpdpbusd` there needed a
//! 32-bit multiply by each 16 values' scale after it (`vpmulld`) and measured 5-11%
//! slower Gemma-3 prefill than these `maddubs` + `madd`, which apply the scale in the
//! pair sum.
//!
//! The codes are split in registers (k_codes.rs) rather than unpacked into a
//! [`KBlock`](super::k_unpack::KBlock) per row, which costs more than the dots when
//! each row meets one activation row (decode). The integer dot is the generic AVX2
//! path's (`maddubs` on codes below 64, `madd` by the 16-bit scales), exact in any
//! order, and the block's float step is its [`finish_parts`](super::k_quants::finish_parts):
//! every output equals that path's, bit for bit.
//!
//! Reference: ggml-cpu `arch/x86/quants.c` `ggml_vec_dot_q4_K_q8_K` and
//! `ggml_vec_dot_q6_K_q8_K` under `__AVX2__`.

use super::act::Q8KBlock;

/// Activation rows whose sums stay in registers (decode); more take [`x86::rows_all`].
pub(crate) const X_ROWS: usize = 4;

/// One weight row of whole super-blocks · `xs` (Q8_K activation rows) -> `out[..xs.len()]`:
/// up to [`X_ROWS`] rows with their sums in registers (decode), more with each
/// super-block split once for all of them (prefill); the same bits either way.
/// # Safety
/// The CPU has AVX2, FMA and F16C ([`k_row`] checked). Lengths are no safety condition:
/// the kernel reads the blocks that `w` and every row have (and `out` shorter than `xs`
/// panics).
pub(crate) type KRow = unsafe fn(&[u8], &[&[Q8KBlock]], &mut [f32]);

/// The kernel of `ty`, where the type and this CPU have one.
pub(crate) fn k_row(ty: super::GgmlType) -> Option<KRow> {
    #[cfg(target_arch = "x86_64")]
    {
        use super::k_codes::x86 as K;
        use super::GgmlType as G;
        if !super::simd::avx2_available() {
            return None;
        }
        match ty {
            G::Q4_K => Some(x86::row::<{ K::Q4_K }> as KRow),
            G::Q5_K => Some(x86::row::<{ K::Q5_K }>),
            G::Q6_K => Some(x86::row::<{ K::Q6_K }>),
            _ => None,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = ty;
        None
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::act::Q8KBlock;
    use super::super::k_codes::x86::{self as codes, with_bsums, Split};
    use super::super::k_quants::{finish_parts, finish_parts4};
    use super::super::simd::x86::hsum_epi32;
    use super::X_ROWS;
    use std::arch::x86_64::*;

    /// `sum_t sc_t * dot(u_t, y[32 t..][..32])` over the 8 code vectors: `maddubs`
    /// pairs (codes below 64: no saturation), then `madd` by each 16 values' scale.
    /// # Safety
    /// AVX2, FMA and F16C are available; `y` holds 256 codes (by its type).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scaled(k: &Split, y: &[i8; 256]) -> i32 {
        let mut acc = _mm256_setzero_si256();
        for t in 0..8 {
            let yv = _mm256_loadu_si256(y.as_ptr().add(32 * t) as *const __m256i);
            let p16 = _mm256_maddubs_epi16(k.u[t], yv);
            let (a, b) = (k.sc[2 * t] as i16, k.sc[2 * t + 1] as i16);
            let s = _mm256_set_m128i(_mm_set1_epi16(b), _mm_set1_epi16(a));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, s));
        }
        hsum_epi32(acc)
    }

    /// One weight row of super-blocks of type `T` against `N` activation rows.
    /// # Safety
    /// As [`super::KRow`], with `xs.len() == N`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn rows<const T: u8, const N: usize>(
        w: &[u8],
        xs: &[&[Q8KBlock]],
        out: &mut [f32; X_ROWS],
    ) {
        let bs = codes::block_bytes::<T>();
        let nb = xs.iter().map(|x| x.len()).fold(w.len() / bs, usize::min);
        let mut acc = [0f32; N];
        for j in 0..nb {
            let k = codes::split::<T>(&w[j * bs..(j + 1) * bs]);
            for (i, a) in acc.iter_mut().enumerate() {
                let y = xs[i].get_unchecked(j);
                let s = scaled(&k, &y.qs);
                let (sb, mb) = (with_bsums(&k.sc, y), with_bsums(&k.mn, y));
                *a += finish_parts(k.d, k.dmin, k.off, s, sb, mb, y.d);
            }
        }
        out[..N].copy_from_slice(&acc);
    }

    /// A super-block's scales for the dot of many activation rows: each 16 values' scale
    /// spread over its `madd` lanes (`sc[t]`: values `32t..32t+32`), and the scales and
    /// mins as 16 i16 each for the block-sum terms.
    struct Scales {
        sc: [__m256i; 8],
        sc16: __m256i,
        mn16: __m256i,
    }

    /// # Safety
    /// AVX2, FMA and F16C are available (register-only).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales(k: &Split) -> Scales {
        let mut sc = [_mm256_setzero_si256(); 8];
        for (t, v) in sc.iter_mut().enumerate() {
            let (a, b) = (k.sc[2 * t] as i16, k.sc[2 * t + 1] as i16);
            *v = _mm256_set_m128i(_mm_set1_epi16(b), _mm_set1_epi16(a));
        }
        // Scales and mins fit i16 (6-bit, or Q6_K's signed bytes).
        let (sc16, mn16): ([i16; 16], [i16; 16]) = (
            std::array::from_fn(|g| k.sc[g] as i16),
            std::array::from_fn(|g| k.mn[g] as i16),
        );
        Scales {
            sc,
            sc16: _mm256_loadu_si256(sc16.as_ptr() as *const __m256i),
            mn16: _mm256_loadu_si256(mn16.as_ptr() as *const __m256i),
        }
    }

    /// [`scaled`] before its final sum: eight lanes.
    /// # Safety
    /// As [`scaled`].
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scaled_lanes(k: &Split, s: &Scales, y: &[i8; 256]) -> __m256i {
        let mut acc = _mm256_setzero_si256();
        for t in 0..8 {
            let yv = _mm256_loadu_si256(y.as_ptr().add(32 * t) as *const __m256i);
            let p16 = _mm256_maddubs_epi16(k.u[t], yv);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, s.sc[t]));
        }
        acc
    }

    /// The eight-lane sums of four rows, as four lanes (exact: integers).
    /// # Safety
    /// AVX2 is available (register-only).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn sum4(v: [__m256i; 4]) -> __m128i {
        let h = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
        _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h))
    }

    /// The block's contributions for four activation rows: the integer parts as in
    /// [`rows`], then the float step on four lanes ([`finish_parts4`]), each lane with
    /// [`finish_parts`]' bits.
    /// # Safety
    /// AVX2, FMA and F16C are available.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot4(k: &Split, s: &Scales, y: [&Q8KBlock; 4]) -> __m128 {
        let (mut lanes, mut sb, mut mb) = (
            [_mm256_setzero_si256(); 4],
            [_mm256_setzero_si256(); 4],
            [_mm256_setzero_si256(); 4],
        );
        for r in 0..4 {
            lanes[r] = scaled_lanes(k, s, &y[r].qs);
            let bs = _mm256_loadu_si256(y[r].bsums.as_ptr() as *const __m256i);
            sb[r] = _mm256_madd_epi16(s.sc16, bs);
            mb[r] = _mm256_madd_epi16(s.mn16, bs);
        }
        let (scaled, sb, mb) = (sum4(lanes), sum4(sb), sum4(mb));
        let dy = _mm_setr_ps(y[0].d, y[1].d, y[2].d, y[3].d);
        finish_parts4((k.d, k.dmin, k.off), scaled, sb, mb, dy)
    }

    /// One weight row of type `T` against any number of activation rows, each super-block
    /// split once for all of them (prefill), four rows at a time and then one by one;
    /// `out[i]` sums in [`rows`]' order, with its bits.
    /// # Safety
    /// As [`super::KRow`].
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn rows_all<const T: u8>(w: &[u8], xs: &[&[Q8KBlock]], out: &mut [f32]) {
        let bs = codes::block_bytes::<T>();
        let nb = xs.iter().map(|x| x.len()).fold(w.len() / bs, usize::min);
        let out = &mut out[..xs.len()];
        out.fill(0.0);
        let quads = xs.len() / 4 * 4;
        for j in 0..nb {
            let k = codes::split::<T>(&w[j * bs..(j + 1) * bs]);
            let s = scales(&k);
            for (x, a) in xs[..quads].chunks_exact(4).zip(out.chunks_exact_mut(4)) {
                let v = dot4(&k, &s, [&x[0][j], &x[1][j], &x[2][j], &x[3][j]]);
                _mm_storeu_ps(a.as_mut_ptr(), _mm_add_ps(_mm_loadu_ps(a.as_ptr()), v));
            }
            for (x, a) in xs[quads..].iter().zip(out[quads..].iter_mut()) {
                let y = x.get_unchecked(j);
                let sc = scaled(&k, &y.qs);
                let (sb, mb) = (with_bsums(&k.sc, y), with_bsums(&k.mn, y));
                *a += finish_parts(k.d, k.dmin, k.off, sc, sb, mb, y.d);
            }
        }
    }

    /// The [`super::KRow`] of type `T`.
    /// # Safety
    /// As [`super::KRow`].
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn row<const T: u8>(w: &[u8], xs: &[&[Q8KBlock]], out: &mut [f32]) {
        let mut v = [0f32; X_ROWS];
        match xs.len() {
            0 => return,
            1 => rows::<T, 1>(w, xs, &mut v),
            2 => rows::<T, 2>(w, xs, &mut v),
            3 => rows::<T, 3>(w, xs, &mut v),
            4 => rows::<T, 4>(w, xs, &mut v),
            _ => return rows_all::<T>(w, xs, out),
        }
        out[..xs.len()].copy_from_slice(&v[..xs.len()]);
    }
}
