//! AVX-512 VNNI decode kernels for the 8-bit-activation path: four weight rows against
//! one Q8 activation row per call, chosen at run time where the CPU has AVX-512 VNNI.
//!
//! Each row's sum is the AVX2 kernel's (q4.rs, q8.rs), bit for bit, so decode, the
//! prefill tiles and any batch keep giving one output the same value:
//! - `vpdpbusd` sums the same four byte products per 32-bit lane as AVX2's
//!   `maddubs` + `madd` pair (integers, exact, no saturation on these codes);
//! - one 512-bit register holds four rows' lanes (a 128-bit lane per row: Q4, or a
//!   256-bit half per row: Q8), so the per-lane `fma(d * dy, sum, acc)` is the AVX2 one;
//! - each row's eight lanes are put back in AVX2 order and summed by `hsum_ps`.
//!
//! Reference: ggml-cpu `arch/x86/quants.c` (`ggml_vec_dot_q4_0_q8_0` and friends under
//! `__AVX512VNNI__`/`__AVXVNNI__`: the integer dot per 4 bytes, the block scale product)
//! and its 4-row repacked GEMV (`repack.cpp`), here over rows in their file layout.

use super::act::Q8Block;

/// Four consecutive weight rows (`row_bytes` apart) · one Q8 activation row -> `out`.
/// # Safety
/// The CPU has the features [`available`] checked; `w` holds `4 * row_bytes` bytes of
/// whole blocks and `x` a block per weight block of a row.
pub(crate) type Rows4 = unsafe fn(&[u8], usize, &[Q8Block], &mut [f32; 4]);

/// Whether these kernels can run: AVX-512 F/BW/VL with VNNI (and the AVX2 set the AVX2
/// kernels need), unless `LINEAGE_NO_AVX512` is set. Checked once.
pub(crate) fn available() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            super::simd::avx512_available()
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// The 4-row kernel of `ty`, where the type and this CPU have one.
pub(crate) fn rows4(ty: super::GgmlType) -> Option<Rows4> {
    #[cfg(target_arch = "x86_64")]
    {
        use super::GgmlType as G;
        if !available() {
            return None;
        }
        match ty {
            G::Q4_0 => Some(x86::rows4_q4_0 as Rows4),
            G::Q4_1 => Some(x86::rows4_q4_1),
            G::Q8_0 => Some(x86::rows4_q8_0),
            _ => None,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = ty;
        None
    }
}

/// The prefill tile of `ty` (one weight row against four activation rows, the
/// signature of the AVX2 `dot4`), where the type and this CPU have one.
pub(crate) fn tile4(ty: super::GgmlType) -> Option<super::dispatch::Q8Dot4> {
    #[cfg(target_arch = "x86_64")]
    {
        use super::GgmlType as G;
        if !available() {
            return None;
        }
        match ty {
            G::Q4_0 => Some(x86::tile4_q4_0 as super::dispatch::Q8Dot4),
            G::Q4_1 => Some(x86::tile4_q4_1),
            G::Q8_0 => Some(x86::tile4_q8_0),
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
    use super::super::act::Q8Block;
    use super::super::simd::x86::hsum_ps;
    use std::arch::x86_64::*;

    /// The f16 bits at `p`.
    /// # Safety
    /// `p .. p + 2` is readable.
    #[inline(always)]
    unsafe fn f16_bits(p: *const u8) -> i16 {
        i16::from_le_bytes([*p, *p.add(1)])
    }

    /// The f16 at `w + off` of four rows `rb` bytes apart, as f32 (exact widening).
    /// # Safety
    /// F16C is available; `w + k * rb + off .. + 2` is readable for k < 4.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn four_f16(w: *const u8, rb: usize, off: usize) -> __m128 {
        let h = |k: usize| f16_bits(w.add(k * rb + off));
        _mm_cvtph_ps(_mm_setr_epi16(h(0), h(1), h(2), h(3), 0, 0, 0, 0))
    }

    /// `[v0 x4, v1 x4, v2 x4, v3 x4]`: one row's scale over its 128-bit lane.
    /// # Safety
    /// AVX-512F is available (register-only).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn per_lane128(v: __m128) -> __m512 {
        let idx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(v))
    }

    /// Row `k`'s 8 lanes in AVX2 order from the low (values 0..16) and high (16..32)
    /// accumulators, whose 128-bit lane `k` is that row's; summed as `hsum_ps`.
    /// # Safety
    /// AVX-512F and AVX2 are available (register-only).
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn row_sums(lo: __m512, hi: __m512) -> [f32; 4] {
        let lane = |v: __m512, k: i32| -> __m128 {
            match k {
                0 => _mm512_extractf32x4_ps::<0>(v),
                1 => _mm512_extractf32x4_ps::<1>(v),
                2 => _mm512_extractf32x4_ps::<2>(v),
                _ => _mm512_extractf32x4_ps::<3>(v),
            }
        };
        std::array::from_fn(|k| {
            let k = k as i32;
            hsum_ps(_mm256_set_m128(lane(hi, k), lane(lo, k)))
        })
    }

    /// Q4_0 (`has_min = false`: 18-byte blocks, codes at 2, `q - 8`) or Q4_1 (20 bytes,
    /// `m` at 2, codes at 4). Per block the AVX2 kernel adds `fma(d dy, sum, acc)` in 8
    /// lanes (lanes 0..4 over values 0..16, 4..8 over 16..32) and, for Q4_1, `m * s` to
    /// a scalar; here `lo`/`hi` hold those lanes for four rows at once.
    /// # Safety
    /// As [`super::Rows4`]; `bs` is the block size of the layout.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn rows4_q4(w: &[u8], rb: usize, x: &[Q8Block], out: &mut [f32; 4], has_min: bool) {
        let bs = if has_min { 20 } else { 18 };
        let qoff = if has_min { 4 } else { 2 };
        let nb = (rb / bs).min(x.len());
        assert!(w.len() >= 4 * rb && rb >= nb * bs);
        let wp = w.as_ptr();
        let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let mut offs = _mm_setzero_ps();
        let mask = _mm512_set1_epi8(0x0f);
        let eight = _mm512_set1_epi8(8);
        for (j, y) in x.iter().enumerate().take(nb) {
            let b = wp.add(j * bs);
            let codes = |k: usize| _mm_loadu_si128(b.add(k * rb + qoff) as *const __m128i);
            let z = _mm512_inserti32x4::<1>(_mm512_castsi128_si512(codes(0)), codes(1));
            let z = _mm512_inserti32x4::<3>(_mm512_inserti32x4::<2>(z, codes(2)), codes(3));
            let qlo = _mm512_and_si512(z, mask);
            let qhi = _mm512_and_si512(_mm512_srli_epi16::<4>(z), mask);
            let yp = y.qs.as_ptr() as *const __m128i;
            let ylo = _mm512_broadcast_i32x4(_mm_loadu_si128(yp));
            let yhi = _mm512_broadcast_i32x4(_mm_loadu_si128(yp.add(1)));
            let mut plo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qlo, ylo);
            let mut phi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qhi, yhi);
            if !has_min {
                // sum((q - 8) y) per 4 bytes, as AVX2's signed codes give it.
                plo =
                    _mm512_sub_epi32(plo, _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, ylo));
                phi =
                    _mm512_sub_epi32(phi, _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, yhi));
            }
            let d = _mm_mul_ps(four_f16(b, rb, 0), _mm_set1_ps(y.d));
            let s = per_lane128(d);
            lo = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(plo), lo);
            hi = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(phi), hi);
            if has_min {
                offs = _mm_add_ps(offs, _mm_mul_ps(four_f16(b, rb, 2), _mm_set1_ps(y.s)));
            }
        }
        let sums = row_sums(lo, hi);
        let mut o = [0f32; 4];
        _mm_storeu_ps(o.as_mut_ptr(), offs);
        for k in 0..4 {
            out[k] = sums[k] + o[k];
        }
    }

    /// # Safety
    /// As [`super::Rows4`], with AVX-512 VNNI checked by [`super::available`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn rows4_q4_0(w: &[u8], rb: usize, x: &[Q8Block], out: &mut [f32; 4]) {
        rows4_q4(w, rb, x, out, false)
    }

    /// # Safety
    /// As [`super::Rows4`], with AVX-512 VNNI checked by [`super::available`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn rows4_q4_1(w: &[u8], rb: usize, x: &[Q8Block], out: &mut [f32; 4]) {
        rows4_q4(w, rb, x, out, true)
    }

    /// Q8_0 (34-byte blocks: `d`, 32 signed codes): a 256-bit half per row, two rows per
    /// register. AVX2 multiplies `|q|` by `sign(y, q)`; here the same bytes: `|q|`
    /// unsigned against `y` negated where `q < 0` (where `q = 0` the product is 0 either
    /// way).
    /// # Safety
    /// As [`super::Rows4`], with AVX-512 VNNI checked by [`super::available`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn rows4_q8_0(w: &[u8], rb: usize, x: &[Q8Block], out: &mut [f32; 4]) {
        let nb = (rb / 34).min(x.len());
        assert!(w.len() >= 4 * rb && rb >= nb * 34);
        let wp = w.as_ptr();
        let mut acc = [_mm512_setzero_ps(); 2];
        // Lanes 0..8 take row 2p's scale, 8..16 row 2p + 1's.
        let pair_idx = [
            _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
            _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3),
        ];
        for (j, y) in x.iter().enumerate().take(nb) {
            let b = wp.add(j * 34);
            let yq = _mm512_broadcast_i64x4(_mm256_loadu_si256(y.qs.as_ptr() as *const __m256i));
            let d = _mm512_castps128_ps512(_mm_mul_ps(four_f16(b, rb, 0), _mm_set1_ps(y.d)));
            for p in 0..2 {
                let row = |k: usize| _mm256_loadu_si256(b.add(k * rb + 2) as *const __m256i);
                let q = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(row(2 * p)), row(2 * p + 1));
                let neg = _mm512_movepi8_mask(q);
                let ys = _mm512_mask_sub_epi8(yq, neg, _mm512_setzero_si512(), yq);
                let dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(q), ys);
                let s = _mm512_permutexvar_ps(pair_idx[p], d);
                acc[p] = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(dot), acc[p]);
            }
        }
        for p in 0..2 {
            out[2 * p] = hsum_ps(_mm512_castps512_ps256(acc[p]));
            let high = _mm512_extractf64x4_pd::<1>(_mm512_castps_pd(acc[p]));
            out[2 * p + 1] = hsum_ps(_mm256_castpd_ps(high));
        }
    }

    /// Activation rows `2p` and `2p + 1`'s codes of block `j`, one per 256-bit half.
    /// # Safety
    /// AVX-512F is available; `j` is below every row's length.
    #[inline]
    #[target_feature(enable = "avx512f,avx2")]
    unsafe fn act_pair(xs: &[&[Q8Block]; 4], j: usize, p: usize) -> __m512i {
        let q = |k: usize| _mm256_loadu_si256(xs[k].get_unchecked(j).qs.as_ptr() as *const __m256i);
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(q(2 * p)), q(2 * p + 1))
    }

    /// `[v0 x8, v1 x8]` and `[v2 x8, v3 x8]`: each activation row's scalar over its half.
    /// # Safety
    /// AVX-512F is available (register-only).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn per_half(v: __m128) -> [__m512; 2] {
        let v = _mm512_castps128_ps512(v);
        [
            _mm512_permutexvar_ps(
                _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                v,
            ),
            _mm512_permutexvar_ps(
                _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3),
                v,
            ),
        ]
    }

    /// Each activation row's sum from the accumulator halves, as `hsum_ps`.
    /// # Safety
    /// AVX-512F and AVX2 are available (register-only).
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn half_sums(acc: [__m512; 2]) -> [f32; 4] {
        let high = |v: __m512| _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
        [
            hsum_ps(_mm512_castps512_ps256(acc[0])),
            hsum_ps(high(acc[0])),
            hsum_ps(_mm512_castps512_ps256(acc[1])),
            hsum_ps(high(acc[1])),
        ]
    }

    /// One weight row of Q4_0/Q4_1 against four activation rows: the AVX2 `dot4`'s
    /// numbers (q4.rs `dot_nibbles`), a 256-bit half per activation row.
    /// # Safety
    /// AVX-512 VNNI (as [`super::available`]) with AVX2, FMA and F16C; any lengths (the
    /// kernel reads the blocks `w` and every row have).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn tile4_q4(w: &[u8], xs: [&[Q8Block]; 4], has_min: bool) -> [f32; 4] {
        let bs = if has_min { 20 } else { 18 };
        let qoff = if has_min { 4 } else { 2 };
        let nb = xs.iter().map(|x| x.len()).fold(w.len() / bs, usize::min);
        let mut acc = [_mm512_setzero_ps(); 2];
        let mut offs = _mm_setzero_ps();
        let (mask, eight) = (_mm512_set1_epi8(0x0f), _mm512_set1_epi8(8));
        for j in 0..nb {
            let b = w.as_ptr().add(j * bs);
            // [lo, hi, lo, hi]: each half the AVX2 kernel's 32 codes.
            let z = _mm512_broadcast_i32x4(_mm_loadu_si128(b.add(qoff) as *const __m128i));
            let z = _mm512_mask_blend_epi64(0b1100_1100, z, _mm512_srli_epi16::<4>(z));
            let q = _mm512_and_si512(z, mask);
            let d = super::super::simd::x86::f16_to_f32(b);
            let y = |k: usize| xs[k].get_unchecked(j);
            let yd = _mm_setr_ps(y(0).d, y(1).d, y(2).d, y(3).d);
            let sc = per_half(_mm_mul_ps(_mm_set1_ps(d), yd));
            for p in 0..2 {
                let a = act_pair(&xs, j, p);
                let mut dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, a);
                if !has_min {
                    dot = _mm512_sub_epi32(
                        dot,
                        _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, a),
                    );
                }
                acc[p] = _mm512_fmadd_ps(sc[p], _mm512_cvtepi32_ps(dot), acc[p]);
            }
            if has_min {
                let m = super::super::simd::x86::f16_to_f32(b.add(2));
                let ys = _mm_setr_ps(y(0).s, y(1).s, y(2).s, y(3).s);
                offs = _mm_add_ps(offs, _mm_mul_ps(_mm_set1_ps(m), ys));
            }
        }
        let sums = half_sums(acc);
        let mut o = [0f32; 4];
        _mm_storeu_ps(o.as_mut_ptr(), offs);
        std::array::from_fn(|k| sums[k] + o[k])
    }

    /// # Safety
    /// As [`tile4_q4`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn tile4_q4_0(w: &[u8], xs: [&[Q8Block]; 4]) -> [f32; 4] {
        tile4_q4(w, xs, false)
    }

    /// # Safety
    /// As [`tile4_q4`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn tile4_q4_1(w: &[u8], xs: [&[Q8Block]; 4]) -> [f32; 4] {
        tile4_q4(w, xs, true)
    }

    /// One Q8_0 weight row against four activation rows (q8.rs `dot_q8`'s numbers).
    /// # Safety
    /// As [`tile4_q4`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn tile4_q8_0(w: &[u8], xs: [&[Q8Block]; 4]) -> [f32; 4] {
        let nb = xs.iter().map(|x| x.len()).fold(w.len() / 34, usize::min);
        let mut acc = [_mm512_setzero_ps(); 2];
        for j in 0..nb {
            let b = w.as_ptr().add(j * 34);
            let q = _mm512_broadcast_i64x4(_mm256_loadu_si256(b.add(2) as *const __m256i));
            let (neg, aq) = (_mm512_movepi8_mask(q), _mm512_abs_epi8(q));
            let d = super::super::simd::x86::f16_to_f32(b);
            let y = |k: usize| xs[k].get_unchecked(j);
            let yd = _mm_setr_ps(y(0).d, y(1).d, y(2).d, y(3).d);
            let sc = per_half(_mm_mul_ps(_mm_set1_ps(d), yd));
            for p in 0..2 {
                let a = act_pair(&xs, j, p);
                let ys = _mm512_mask_sub_epi8(a, neg, _mm512_setzero_si512(), a);
                let dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), aq, ys);
                acc[p] = _mm512_fmadd_ps(sc[p], _mm512_cvtepi32_ps(dot), acc[p]);
            }
        }
        half_sums(acc)
    }
}
