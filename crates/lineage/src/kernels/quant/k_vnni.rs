//! AVX-512 VNNI kernels for K-quant weights (Q4_K, Q6_K) against Q8_K activations: one
//! weight row against one to four activation rows, straight from the super-block bytes.
//!
//! The generic path unpacks every weight row into [`KBlock`](super::k_unpack::KBlock)
//! (256 codes, 16 scales and mins, one value at a time) before its dots, which costs
//! more than the dots themselves when each row meets one activation row (decode). Here
//! the codes are split into bytes in registers once per super-block and met by
//! `vpdpbusd`. The integer part of each block's dot, `sum_g scale_g * sum(u q)`, is exact
//! in any order, and the block's float step is [`finish_parts`](super::k_quants::finish_parts),
//! the generic path's own, in block order: every output equals that path's, bit for bit.
//!
//! Reference: ggml-cpu `arch/x86/quants.c` `ggml_vec_dot_q4_K_q8_K` and
//! `ggml_vec_dot_q6_K_q8_K` (AVX2: the same code splitting, scale products and
//! `bsums` correction).

use super::act::Q8KBlock;

/// Activation rows per call, at most.
pub(crate) const X_ROWS: usize = 4;

/// One weight row of whole super-blocks · `xs` (1..=[`X_ROWS`] Q8_K rows) -> `out[..xs.len()]`.
/// # Safety
/// The CPU has the features [`super::int8_vnni::available`] checked. Lengths are no
/// safety condition: the kernel reads the blocks that `w` and every row have.
pub(crate) type KRow = unsafe fn(&[u8], &[&[Q8KBlock]], &mut [f32; X_ROWS]);

/// The kernel of `ty`, where the type and this CPU have one.
pub(crate) fn k_row(ty: super::GgmlType) -> Option<KRow> {
    #[cfg(target_arch = "x86_64")]
    {
        use super::GgmlType as G;
        if !super::int8_vnni::available() {
            return None;
        }
        match ty {
            G::Q4_K => Some(x86::row_q4_k as KRow),
            G::Q6_K => Some(x86::row_q6_k),
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
    use super::super::k_quants::finish_parts;
    use super::super::k_unpack::scale_min_k4;
    use super::super::simd::x86::{f16_to_f32, hsum_epi32};
    use super::X_ROWS;
    use std::arch::x86_64::*;

    /// `sum_t sc_t * dot(u_t, y[32 t..][..32])` over 8 code vectors of 32 bytes, with
    /// `sc` one scale per 16 values (two per vector): the block's exact integer part.
    /// # Safety
    /// AVX-512 VNNI/VL and AVX2 are available; `y` holds 256 codes (by its type).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn scaled(u: &[__m256i; 8], sc: &[i32; 16], y: &[i8; 256]) -> i32 {
        let mut acc = _mm256_setzero_si256();
        for t in 0..8 {
            let yv = _mm256_loadu_si256(y.as_ptr().add(32 * t) as *const __m256i);
            let dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u[t], yv);
            // Lanes 0..4 are values 0..16 of the vector (group 2t), 4..8 group 2t + 1.
            let (a, b) = (sc[2 * t], sc[2 * t + 1]);
            let s = _mm256_setr_epi32(a, a, a, a, b, b, b, b);
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(dot, s));
        }
        hsum_epi32(acc)
    }

    /// `sum_g v[g] * bsums[g]`.
    #[inline(always)]
    fn with_bsums(v: &[i32; 16], y: &Q8KBlock) -> i32 {
        v.iter().zip(&y.bsums).map(|(&a, &b)| a * b as i32).sum()
    }

    /// Q4_K `{ half d; half dmin; u8 scales[12]; u8 qs[128]; }`: 64-value chunk `c` is
    /// the low nibbles of its 32 bytes (sub-block `2c`) then the high ones.
    /// # Safety
    /// As [`super::KRow`], with `xs.len() == N`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn q4_k<const N: usize>(w: &[u8], xs: &[&[Q8KBlock]], out: &mut [f32; X_ROWS]) {
        let nb = xs.iter().map(|x| x.len()).fold(w.len() / 144, usize::min);
        let mut acc = [0f32; N];
        let mask = _mm256_set1_epi8(0x0f);
        for j in 0..nb {
            let b = &w[j * 144..(j + 1) * 144];
            let (d, dmin) = (f16_to_f32(b.as_ptr()), f16_to_f32(b.as_ptr().add(2)));
            let (mut sc, mut mn) = ([0i32; 16], [0i32; 16]);
            for s in 0..8 {
                let (a, m) = scale_min_k4(s, &b[4..16]);
                (sc[2 * s], sc[2 * s + 1]) = (a as i32, a as i32);
                (mn[2 * s], mn[2 * s + 1]) = (m as i32, m as i32);
            }
            let mut u = [_mm256_setzero_si256(); 8];
            for c in 0..4 {
                let q = _mm256_loadu_si256(b.as_ptr().add(16 + 32 * c) as *const __m256i);
                u[2 * c] = _mm256_and_si256(q, mask);
                u[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16::<4>(q), mask);
            }
            for (i, a) in acc.iter_mut().enumerate() {
                let y = xs[i].get_unchecked(j);
                let s = scaled(&u, &sc, &y.qs);
                *a += finish_parts(d, dmin, 0, s, with_bsums(&sc, y), with_bsums(&mn, y), y.d);
            }
        }
        out[..N].copy_from_slice(&acc);
    }

    /// Q6_K `{ u8 ql[128]; u8 qh[64]; i8 scales[16]; half d; }`, codes `u - 32`: half
    /// `n` of 128 values takes the low nibbles of `ql[64n..][..64]`, then the high ones,
    /// each with two bits of `qh[32n..][..32]` on top.
    /// # Safety
    /// As [`super::KRow`], with `xs.len() == N`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn q6_k<const N: usize>(w: &[u8], xs: &[&[Q8KBlock]], out: &mut [f32; X_ROWS]) {
        let nb = xs.iter().map(|x| x.len()).fold(w.len() / 210, usize::min);
        let mut acc = [0f32; N];
        let (m4, m2) = (_mm256_set1_epi8(0x0f), _mm256_set1_epi8(3));
        for j in 0..nb {
            let b = &w[j * 210..(j + 1) * 210];
            let d = f16_to_f32(b.as_ptr().add(208));
            let sc: [i32; 16] = std::array::from_fn(|g| b[192 + g] as i8 as i32);
            let mut u = [_mm256_setzero_si256(); 8];
            for n in 0..2 {
                let ld = |at: usize| _mm256_loadu_si256(b.as_ptr().add(at) as *const __m256i);
                let (ql0, ql1, qh) = (ld(64 * n), ld(64 * n + 32), ld(128 + 32 * n));
                let high = |shift: __m128i| {
                    let h = _mm256_and_si256(_mm256_srl_epi16(qh, shift), m2);
                    _mm256_slli_epi16::<4>(h)
                };
                let lo = |q: __m256i| _mm256_and_si256(q, m4);
                let hi = |q: __m256i| _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4);
                let sh = |k: i64| _mm_set_epi64x(0, k);
                u[4 * n] = _mm256_or_si256(lo(ql0), high(sh(0)));
                u[4 * n + 1] = _mm256_or_si256(lo(ql1), high(sh(2)));
                u[4 * n + 2] = _mm256_or_si256(hi(ql0), high(sh(4)));
                u[4 * n + 3] = _mm256_or_si256(hi(ql1), high(sh(6)));
            }
            for (i, a) in acc.iter_mut().enumerate() {
                let y = xs[i].get_unchecked(j);
                let s = scaled(&u, &sc, &y.qs);
                *a += finish_parts(d, 0.0, 32, s, with_bsums(&sc, y), 0, y.d);
            }
        }
        out[..N].copy_from_slice(&acc);
    }

    /// # Safety
    /// As [`super::KRow`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn row_q4_k(w: &[u8], xs: &[&[Q8KBlock]], out: &mut [f32; X_ROWS]) {
        match xs.len() {
            0 => {}
            1 => q4_k::<1>(w, xs, out),
            2 => q4_k::<2>(w, xs, out),
            3 => q4_k::<3>(w, xs, out),
            _ => q4_k::<4>(w, &xs[..4], out),
        }
    }

    /// # Safety
    /// As [`super::KRow`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn row_q6_k(w: &[u8], xs: &[&[Q8KBlock]], out: &mut [f32; X_ROWS]) {
        match xs.len() {
            0 => {}
            1 => q6_k::<1>(w, xs, out),
            2 => q6_k::<2>(w, xs, out),
            3 => q6_k::<3>(w, xs, out),
            _ => q6_k::<4>(w, &xs[..4], out),
        }
    }
}
