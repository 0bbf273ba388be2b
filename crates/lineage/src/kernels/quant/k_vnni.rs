//! AVX-512 VNNI kernels for K-quant weights (Q4_K, Q5_K, Q6_K) against Q8_K activations: one
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
//! The code splitting is k_codes.rs, shared with the AVX2 kernels (k_avx2.rs).
//!
//! Reference: ggml-cpu `arch/x86/quants.c` `ggml_vec_dot_q4_K_q8_K` and
//! `ggml_vec_dot_q6_K_q8_K` (AVX2: the same code splitting, scale products and
//! `bsums` correction).

use super::act::Q8KBlock;

/// Activation rows per call, at most.
pub(crate) const X_ROWS: usize = 4;

/// One weight row of whole super-blocks · `xs` (Q8_K activation rows) -> `out[..xs.len()]`:
/// up to [`X_ROWS`] rows with their sums in registers (decode), more with each
/// super-block split once for all of them (prefill); the same bits either way.
/// # Safety
/// The CPU has the features the kernel's `k_row` checked (AVX-512 VNNI here, AVX2 in
/// k_avx2.rs). Lengths are no safety condition: the kernel reads the blocks that `w` and
/// every row have (and `out` shorter than `xs` panics).
pub(crate) type KRow = unsafe fn(&[u8], &[&[Q8KBlock]], &mut [f32]);

/// The kernel of `ty`, where the type and this CPU have one.
pub(crate) fn k_row(ty: super::GgmlType) -> Option<KRow> {
    #[cfg(target_arch = "x86_64")]
    {
        use super::k_codes::x86 as K;
        use super::GgmlType as G;
        if !super::int8_vnni::available() {
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
    use super::super::k_codes::x86::{self as codes, with_bsums};
    use super::super::k_quants::finish_parts;
    use super::super::simd::x86::hsum_epi32;
    use super::X_ROWS;
    use std::arch::x86_64::*;

    /// `sum_t sc_t * dot(u_t, y[32 t..][..32])` over the 8 code vectors, with one scale
    /// per 16 values (two per vector): the block's exact integer part.
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

    /// One weight row of super-blocks of type `T` against `N` activation rows.
    /// # Safety
    /// As [`super::KRow`], with `xs.len() == N`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
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
                let s = scaled(&k.u, &k.sc, &y.qs);
                let (sb, mb) = (with_bsums(&k.sc, y), with_bsums(&k.mn, y));
                *a += finish_parts(k.d, k.dmin, k.off, s, sb, mb, y.d);
            }
        }
        out[..N].copy_from_slice(&acc);
    }

    /// One weight row of type `T` against any number of activation rows, each super-block
    /// split once for all of them (prefill); `out[i]` sums in [`rows`]' order.
    /// # Safety
    /// As [`super::KRow`].
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn rows_all<const T: u8>(w: &[u8], xs: &[&[Q8KBlock]], out: &mut [f32]) {
        let bs = codes::block_bytes::<T>();
        let nb = xs.iter().map(|x| x.len()).fold(w.len() / bs, usize::min);
        let out = &mut out[..xs.len()];
        out.fill(0.0);
        for j in 0..nb {
            let k = codes::split::<T>(&w[j * bs..(j + 1) * bs]);
            for (x, a) in xs.iter().zip(out.iter_mut()) {
                let y = x.get_unchecked(j);
                let s = scaled(&k.u, &k.sc, &y.qs);
                let (sb, mb) = (with_bsums(&k.sc, y), with_bsums(&k.mn, y));
                *a += finish_parts(k.d, k.dmin, k.off, s, sb, mb, y.d);
            }
        }
    }

    /// The [`super::KRow`] of type `T`.
    /// # Safety
    /// As [`super::KRow`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
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
