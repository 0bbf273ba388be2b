//! AVX-512 kernels for K-quant weights (Q4_K, Q5_K, Q6_K) against Q8_K activations, on
//! CPUs with AVX-512 BW and VNNI: the AVX2 row kernel's integer dot (k_avx2.rs) at twice
//! the width, with the per-16-values scale applied by `vpdpwssd` (multiply the pair sums
//! by the scale and accumulate in one instruction) instead of `madd` then `add`.
//!
//! Each super-block is prepared once per weight row (codes as four 64-byte vectors, the
//! scales spread over their pair lanes, scales and mins side by side for the block-sum
//! terms) and met by every activation row. The integer parts are exact in any order and
//! the float step is [`finish_parts`](super::k_quants::finish_parts), so every output
//! equals the AVX2 kernel's and the scalar path's, bit for bit.
//!
//! Reference: ggml-cpu `arch/x86/quants.c` `ggml_vec_dot_q4_K_q8_K` /
//! `ggml_vec_dot_q6_K_q8_K` (`maddubs` of codes against activations, then the scales).

use super::k_avx2::KRow;

/// The kernel of `ty`, where the type and this CPU (AVX-512 BW + VNNI, checked as the
/// 8-bit tiles check it) have one.
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
    use super::super::k_codes::x86 as codes;
    use super::super::k_quants::{finish_parts, finish_parts4};
    use std::arch::x86_64::*;

    /// One super-block ready for the dot: `u[p]` holds values `64p..64p+64`; `sc[p]` the
    /// scale of each 16-bit pair lane of `maddubs(u[p], y)` (lane `l`: group `4p + l/8`);
    /// `scmn` the 16 scales then the 16 mins as i16, for the block-sum terms.
    struct Prepared {
        u: [__m512i; 4],
        sc: [__m512i; 4],
        scmn: __m512i,
        d: f32,
        dmin: f32,
        off: i32,
    }

    /// Pair lane `l` of vector `p` reads the i16 scale of group `4p + l / 8`.
    const SPREAD: [[i16; 32]; 4] = {
        let mut t = [[0i16; 32]; 4];
        let mut p = 0;
        while p < 4 {
            let mut l = 0;
            while l < 32 {
                t[p][l] = (4 * p + l / 8) as i16;
                l += 1;
            }
            p += 1;
        }
        t
    };

    /// `[lo, hi]` as one register.
    /// # Safety
    /// AVX-512F is available (register-only).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn wide(lo: __m256i, hi: __m256i) -> __m512i {
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
    }

    /// Half the fold of [`fold4`]: `[x.L0 + x.L1, x.L2 + x.L3, y.L0 + y.L1, y.L2 + y.L3]`.
    /// # Safety
    /// AVX-512F is available (register-only).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn pair(x: __m512i, y: __m512i) -> __m512i {
        let even = _mm512_shuffle_i32x4::<0b10_00_10_00>(x, y);
        let odd = _mm512_shuffle_i32x4::<0b11_01_11_01>(x, y);
        _mm512_add_epi32(even, odd)
    }

    /// # Safety
    /// AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C are available (`b` is one block of type
    /// `T`, by the split's length check).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn prepare<const T: u8>(b: &[u8]) -> Prepared {
        let k = codes::split::<T>(b);
        // Scales fit i16 (6-bit unsigned, or Q6_K's signed bytes), as do the mins.
        let sc16 = _mm512_cvtepi32_epi16(_mm512_loadu_si512(k.sc.as_ptr() as *const _));
        let mn16 = _mm512_cvtepi32_epi16(_mm512_loadu_si512(k.mn.as_ptr() as *const _));
        let scz = _mm512_castsi256_si512(sc16);
        // Loops, not closures: a closure was not inlined into these kernels.
        let (mut u, mut sc) = ([_mm512_setzero_si512(); 4], [_mm512_setzero_si512(); 4]);
        for p in 0..4 {
            u[p] = wide(k.u[2 * p], k.u[2 * p + 1]);
            let idx = _mm512_loadu_si512(SPREAD[p].as_ptr() as *const _);
            sc[p] = _mm512_permutexvar_epi16(idx, scz);
        }
        Prepared {
            u,
            sc,
            scmn: wide(sc16, mn16),
            d: k.d,
            dmin: k.dmin,
            off: k.off,
        }
    }

    /// The integer dot of a block's codes with one activation row's, scaled per 16
    /// values: sixteen lanes whose sum is the AVX2 kernel's `scaled`.
    /// # Safety
    /// As [`prepare`].
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn scaled_lanes(k: &Prepared, y: &Q8KBlock) -> __m512i {
        let yp = y.qs.as_ptr();
        let mut acc = _mm512_setzero_si512();
        for p in 0..4 {
            let yv = _mm512_loadu_si512(yp.add(64 * p) as *const _);
            // Codes below 64 against |y| <= 127: pair sums stay below 2^15.
            let pairs = _mm512_maddubs_epi16(k.u[p], yv);
            acc = _mm512_dpwssd_epi32(acc, pairs, k.sc[p]);
        }
        acc
    }

    /// Scales (lanes 0..8) and mins (8..16) times the activation row's group sums.
    /// # Safety
    /// As [`prepare`].
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn bsum_lanes(k: &Prepared, y: &Q8KBlock) -> __m512i {
        let bs = _mm512_broadcast_i64x4(_mm256_loadu_si256(y.bsums.as_ptr() as *const _));
        _mm512_madd_epi16(k.scmn, bs)
    }

    /// The block's contribution for one activation row: the exact integer parts, then
    /// the shared float step.
    /// # Safety
    /// As [`prepare`].
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn dot(k: &Prepared, y: &Q8KBlock) -> f32 {
        let scaled = _mm512_reduce_add_epi32(scaled_lanes(k, y));
        let parts = bsum_lanes(k, y);
        let sb = _mm512_mask_reduce_add_epi32(0x00ff, parts);
        let mb = _mm512_mask_reduce_add_epi32(0xff00, parts);
        finish_parts(k.d, k.dmin, k.off, scaled, sb, mb, y.d)
    }

    /// Four vectors of 16 i32 folded into one: rows 0 and 1 first become `[a.L0 + a.L1,
    /// a.L2 + a.L3, b.L0 + b.L1, b.L2 + b.L3]` (`L` a 128-bit lane), rows 2 and 3 the
    /// same; then each lane's four values are summed, the first pair's into elements 0
    /// and 1 of the lane, the second's into 2 and 3. So row `r`'s lanes `L0 + L1` and
    /// `L2 + L3` end as element `2(r/2)` of lanes `2(r%2)` and `2(r%2) + 1`.
    /// # Safety
    /// AVX-512F is available (register-only).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn fold4(a: [__m512i; 4]) -> __m512i {
        let (v, w) = (pair(a[0], a[1]), pair(a[2], a[3]));
        let c = _mm512_add_epi32(_mm512_unpacklo_epi64(v, w), _mm512_unpackhi_epi64(v, w));
        _mm512_add_epi32(c, _mm512_shuffle_epi32::<0b10_11_00_01>(c))
    }

    /// Elements `idx` of `v`, as four lanes.
    /// # Safety
    /// AVX-512F is available (register-only).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn pick(v: __m512i, idx: [i32; 4]) -> __m128i {
        let i = _mm512_castsi128_si512(_mm_loadu_si128(idx.as_ptr() as *const _));
        _mm512_castsi512_si128(_mm512_permutexvar_epi32(i, v))
    }

    /// The block's contributions for four activation rows at once: the lane sums of
    /// every row reduced together, then the float step on four lanes ([`finish_parts4`]).
    /// # Safety
    /// As [`prepare`].
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn dot4(k: &Prepared, y: [&Q8KBlock; 4]) -> __m128 {
        // Row r's sum is element 2(r/2) of lane 2(r%2) plus that of lane 2(r%2) + 1.
        let (mut lanes, mut sums) = ([_mm512_setzero_si512(); 4], [_mm512_setzero_si512(); 4]);
        for r in 0..4 {
            lanes[r] = scaled_lanes(k, y[r]);
            sums[r] = bsum_lanes(k, y[r]);
        }
        let s = fold4(lanes);
        let scaled = _mm_add_epi32(pick(s, [0, 8, 2, 10]), pick(s, [4, 12, 6, 14]));
        // Here the first of those lanes holds row r's scale terms, the second its mins'.
        let p = fold4(sums);
        let (sb, mb) = (pick(p, [0, 8, 2, 10]), pick(p, [4, 12, 6, 14]));
        let dy = _mm_setr_ps(y[0].d, y[1].d, y[2].d, y[3].d);
        finish_parts4((k.d, k.dmin, k.off), scaled, sb, mb, dy)
    }

    /// The [`super::KRow`] of type `T`: every super-block prepared once and met by every
    /// activation row (four at a time, then one by one), summed per row in block order
    /// (as the AVX2 kernel).
    /// # Safety
    /// As [`super::KRow`], with the features [`super::k_row`] checked.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn row<const T: u8>(w: &[u8], xs: &[&[Q8KBlock]], out: &mut [f32]) {
        let bs = codes::block_bytes::<T>();
        let nb = xs.iter().map(|x| x.len()).fold(w.len() / bs, usize::min);
        let out = &mut out[..xs.len()];
        out.fill(0.0);
        let quads = xs.len() / 4 * 4;
        for j in 0..nb {
            let k = prepare::<T>(&w[j * bs..(j + 1) * bs]);
            for (x, a) in xs[..quads].chunks_exact(4).zip(out.chunks_exact_mut(4)) {
                let y = [&x[0][j], &x[1][j], &x[2][j], &x[3][j]];
                let v = dot4(&k, y);
                let sum = _mm_add_ps(_mm_loadu_ps(a.as_ptr()), v);
                _mm_storeu_ps(a.as_mut_ptr(), sum);
            }
            for (x, a) in xs[quads..].iter().zip(out[quads..].iter_mut()) {
                *a += dot(&k, x.get_unchecked(j));
            }
        }
    }
}
