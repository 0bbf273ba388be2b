//! AVX-512 VNNI kernels for the 8-bit-activation path: a tile of four weight rows
//! against one to four Q8 activation rows per call (decode: one; prefill: four), chosen
//! at run time where the CPU has AVX-512 VNNI.
//!
//! Types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0. Each output is the AVX2 kernel's (q4.rs, q5.rs,
//! q8.rs), bit for bit, so decode, prefill and
//! any batch keep giving one output the same value:
//! - `vpdpbusd` sums the same four byte products per 32-bit lane as AVX2's
//!   `maddubs` + `madd` pair (integers, exact, no saturation on these codes);
//! - one 512-bit register holds four weight rows' lanes (a 128-bit lane per row: Q4, or
//!   a 256-bit half per row: Q8), so the per-lane `fma(d * dy, sum, acc)` is the AVX2 one;
//! - each output's eight lanes are put back in AVX2 order and summed by `hsum_ps`.
//!
//! The weight rows are unpacked once per block and reused by every activation row of
//! the tile, the activation blocks by all four weight rows.
//!
//! Reference: ggml-cpu `arch/x86/quants.c` (`ggml_vec_dot_q4_0_q8_0` and friends under
//! `__AVX512VNNI__`/`__AVXVNNI__`: the integer dot per 4 bytes, the block scale product)
//! and its 4-row repacked GEMV/GEMM (`repack.cpp`), here over rows in their file layout.

use super::act::Q8Block;

/// Weight rows per tile.
pub(crate) const W_ROWS: usize = 4;
/// Activation rows per tile, at most.
pub(crate) const X_ROWS: usize = 4;

/// [`W_ROWS`] consecutive weight rows (`row_bytes` apart) · `xs` (1..=[`X_ROWS`] Q8
/// activation rows) -> `out[i][k]` for activation row `i`, weight row `k`.
/// # Safety
/// The CPU has the features [`available`] checked; `w` holds `W_ROWS * row_bytes` bytes
/// of whole blocks, `xs` 1..=4 rows each with a block per weight block of a row.
pub(crate) type Tile = unsafe fn(&[u8], usize, &[&[Q8Block]], &mut [[f32; W_ROWS]; X_ROWS]);

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

/// The tile kernel of `ty`, where the type and this CPU have one.
pub(crate) fn tile(ty: super::GgmlType) -> Option<Tile> {
    #[cfg(target_arch = "x86_64")]
    {
        use super::GgmlType as G;
        if !available() {
            return None;
        }
        match ty {
            G::Q4_0 => Some(x86::TILE_Q4_0),
            G::Q4_1 => Some(x86::TILE_Q4_1),
            G::Q5_0 => Some(x86::TILE_Q5_0),
            G::Q5_1 => Some(x86::TILE_Q5_1),
            G::Q8_0 => Some(x86::tile_q8_0),
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
pub(super) mod x86 {
    use super::super::act::Q8Block;
    use super::super::block_format::{Format, Q4_0, Q4_1, Q5_0, Q5_1};
    use super::super::simd::x86::hsum_ps;
    use super::{W_ROWS, X_ROWS};
    use std::arch::x86_64::*;

    type Out = [[f32; W_ROWS]; X_ROWS];

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
    pub(in super::super) unsafe fn four_f16(w: *const u8, rb: usize, off: usize) -> __m128 {
        let h = |k: usize| f16_bits(w.add(k * rb + off));
        _mm_cvtph_ps(_mm_setr_epi16(h(0), h(1), h(2), h(3), 0, 0, 0, 0))
    }

    /// `[v0 x4, v1 x4, v2 x4, v3 x4]`: one row's scale over its 128-bit lane.
    /// # Safety
    /// AVX-512F is available (register-only).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(in super::super) unsafe fn per_lane128(v: __m128) -> __m512 {
        let idx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(v))
    }

    /// `[v0 x8, v1 x8]` (`p = 0`) or `[v2 x8, v3 x8]` (`p = 1`): a row's scale over its half.
    /// # Safety
    /// AVX-512F is available (register-only).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn per_half(v: __m128, p: usize) -> __m512 {
        let (a, b) = (2 * p as i32, 2 * p as i32 + 1);
        let idx = _mm512_setr_epi32(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b);
        _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(v))
    }

    /// The four weight rows' outputs: row `k`'s 8 lanes (128-bit lane `k` of the low,
    /// values 0..16, and high, 16..32, accumulators) summed as `hsum_ps` sums the AVX2
    /// kernel's 8 lanes (the two halves added, then lanes 0+2 and 1+3, then those two),
    /// plus its min term (`offs`, zero for formats without a min). All four rows at once,
    /// in 512-bit registers: with only 20 blocks per row (a 640-wide model), summing each
    /// row on its own was a seventh of the panel kernel's time.
    /// # Safety
    /// AVX-512F and AVX2 are available (register-only).
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    pub(in super::super) unsafe fn row_results(lo: __m512, hi: __m512, offs: __m128) -> [f32; 4] {
        let c = _mm512_add_ps(lo, hi);
        // Per lane [c0 + c2, c1 + c3, ..], then element 0 = (c0 + c2) + (c1 + c3).
        let d = _mm512_add_ps(c, _mm512_shuffle_ps::<0b01_00_11_10>(c, c));
        let e = _mm512_add_ps(d, _mm512_shuffle_ps::<0b10_11_00_01>(d, d));
        let firsts = _mm512_permutexvar_ps(
            _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
            e,
        );
        let mut o = [0f32; 4];
        _mm_storeu_ps(
            o.as_mut_ptr(),
            _mm_add_ps(_mm512_castps512_ps128(firsts), offs),
        );
        o
    }

    /// The two 256-bit halves' sums, as `hsum_ps`.
    /// # Safety
    /// AVX-512F and AVX2 are available (register-only).
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn half_sums(v: __m512) -> [f32; 2] {
        let high = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
        [hsum_ps(_mm512_castps512_ps256(v)), hsum_ps(high)]
    }

    /// The four rows' fifth bits as byte masks: values 0..16 of row `k` at bits
    /// `16k..16k+16` of the first, values 16..32 in the second.
    /// # Safety
    /// `b + k * rb + at .. + 4` is readable for k < 4.
    #[inline(always)]
    pub(in super::super) unsafe fn fifth_bits(b: *const u8, rb: usize, at: usize) -> (u64, u64) {
        let (mut lo, mut hi) = (0u64, 0u64);
        for k in 0..4 {
            let p = b.add(k * rb + at);
            let h = u32::from_le_bytes([*p, *p.add(1), *p.add(2), *p.add(3)]) as u64;
            lo |= (h & 0xffff) << (16 * k);
            hi |= (h >> 16) << (16 * k);
        }
        (lo, hi)
    }

    /// A 32-block nibble format against `N` activation rows. Per block the AVX2 kernel
    /// (q4.rs `dot_nibbles`, q5.rs `dot_codes`) adds `fma(d dy, sum, acc)` in 8 lanes
    /// (0..4 over values 0..16, 4..8 over 16..32) and, with a min, `m * s` to a scalar;
    /// `lo[i]`/`hi[i]` hold those lanes for four weight rows at once, `offs[i]` the four
    /// scalars.
    /// # Safety
    /// As [`super::Tile`], with `xs.len() == N` and `F` the weights' nibble format.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn nibbles<F: Format, const N: usize>(
        w: &[u8],
        rb: usize,
        xs: &[&[Q8Block]],
        out: &mut Out,
    ) {
        let nb = xs.iter().map(|x| x.len()).fold(rb / F::BS, usize::min);
        assert!(xs.len() == N && w.len() >= W_ROWS * rb && rb >= nb * F::BS);
        let wp = w.as_ptr();
        let (mut lo, mut hi) = ([_mm512_setzero_ps(); N], [_mm512_setzero_ps(); N]);
        let mut offs = [_mm_setzero_ps(); N];
        let (mask, bit4) = (_mm512_set1_epi8(0x0f), _mm512_set1_epi8(0x10));
        let offset = _mm512_set1_epi8(F::OFFSET.unwrap_or(0));
        for j in 0..nb {
            let b = wp.add(j * F::BS);
            let codes = |k: usize| _mm_loadu_si128(b.add(k * rb + F::CODES) as *const __m128i);
            let z = _mm512_inserti32x4::<1>(_mm512_castsi128_si512(codes(0)), codes(1));
            let z = _mm512_inserti32x4::<3>(_mm512_inserti32x4::<2>(z, codes(2)), codes(3));
            let mut qlo = _mm512_and_si512(z, mask);
            let mut qhi = _mm512_and_si512(_mm512_srli_epi16::<4>(z), mask);
            if let Some(at) = F::HIGH_BITS {
                let (ml, mh) = fifth_bits(b, rb, at);
                // Nibbles are below 16: adding 16 sets the fifth bit.
                qlo = _mm512_mask_add_epi8(qlo, ml, qlo, bit4);
                qhi = _mm512_mask_add_epi8(qhi, mh, qhi, bit4);
            }
            let d = four_f16(b, rb, 0);
            let m = if F::HAS_MIN {
                four_f16(b, rb, 2)
            } else {
                _mm_setzero_ps()
            };
            for i in 0..N {
                let y = xs[i].get_unchecked(j);
                let yp = y.qs.as_ptr() as *const __m128i;
                let ylo = _mm512_broadcast_i32x4(_mm_loadu_si128(yp));
                let yhi = _mm512_broadcast_i32x4(_mm_loadu_si128(yp.add(1)));
                let mut plo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qlo, ylo);
                let mut phi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qhi, yhi);
                if F::OFFSET.is_some() {
                    // sum((q - offset) y) per 4 bytes, as AVX2's signed codes give it.
                    let zero = _mm512_setzero_si512();
                    plo = _mm512_sub_epi32(plo, _mm512_dpbusd_epi32(zero, offset, ylo));
                    phi = _mm512_sub_epi32(phi, _mm512_dpbusd_epi32(zero, offset, yhi));
                }
                let s = per_lane128(_mm_mul_ps(d, _mm_set1_ps(y.d)));
                lo[i] = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(plo), lo[i]);
                hi[i] = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(phi), hi[i]);
                if F::HAS_MIN {
                    offs[i] = _mm_add_ps(offs[i], _mm_mul_ps(m, _mm_set1_ps(y.s)));
                }
            }
        }
        for i in 0..N {
            out[i] = row_results(lo[i], hi[i], offs[i]);
        }
    }

    /// Q8_0 (34-byte blocks: `d`, 32 signed codes) against `N` activation rows: a
    /// 256-bit half per weight row, two rows per register. AVX2 multiplies `|q|` by
    /// `sign(y, q)`; here the same bytes: `|q|` unsigned against `y` negated where `q < 0`
    /// (where `q = 0` the product is 0 either way).
    /// # Safety
    /// As [`super::Tile`], with `xs.len() == N`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn q8<const N: usize>(w: &[u8], rb: usize, xs: &[&[Q8Block]], out: &mut Out) {
        let nb = xs.iter().map(|x| x.len()).fold(rb / 34, usize::min);
        assert!(xs.len() == N && w.len() >= W_ROWS * rb && rb >= nb * 34);
        let wp = w.as_ptr();
        let mut acc = [[_mm512_setzero_ps(); 2]; N];
        for j in 0..nb {
            let b = wp.add(j * 34);
            let row = |k: usize| _mm256_loadu_si256(b.add(k * rb + 2) as *const __m256i);
            let pair = |p: usize| {
                _mm512_inserti64x4::<1>(_mm512_castsi256_si512(row(2 * p)), row(2 * p + 1))
            };
            let q = [pair(0), pair(1)];
            let neg = [_mm512_movepi8_mask(q[0]), _mm512_movepi8_mask(q[1])];
            let aq = [_mm512_abs_epi8(q[0]), _mm512_abs_epi8(q[1])];
            let d = four_f16(b, rb, 0);
            for i in 0..N {
                let y = xs[i].get_unchecked(j);
                let yq =
                    _mm512_broadcast_i64x4(_mm256_loadu_si256(y.qs.as_ptr() as *const __m256i));
                let dy = _mm_mul_ps(d, _mm_set1_ps(y.d));
                for p in 0..2 {
                    let ys = _mm512_mask_sub_epi8(yq, neg[p], _mm512_setzero_si512(), yq);
                    let dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), aq[p], ys);
                    acc[i][p] =
                        _mm512_fmadd_ps(per_half(dy, p), _mm512_cvtepi32_ps(dot), acc[i][p]);
                }
            }
        }
        for i in 0..N {
            let ([a, b], [c, e]) = (half_sums(acc[i][0]), half_sums(acc[i][1]));
            out[i] = [a, b, c, e];
        }
    }

    /// The tile of a nibble format `F`.
    /// # Safety
    /// As [`super::Tile`], with AVX-512 VNNI checked by [`super::available`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn tile_nibbles<F: Format>(w: &[u8], rb: usize, xs: &[&[Q8Block]], out: &mut Out) {
        match xs.len() {
            1 => nibbles::<F, 1>(w, rb, xs, out),
            2 => nibbles::<F, 2>(w, rb, xs, out),
            3 => nibbles::<F, 3>(w, rb, xs, out),
            _ => nibbles::<F, 4>(w, rb, xs, out),
        }
    }

    pub(super) const TILE_Q4_0: super::Tile = tile_nibbles::<Q4_0>;
    pub(super) const TILE_Q4_1: super::Tile = tile_nibbles::<Q4_1>;
    pub(super) const TILE_Q5_0: super::Tile = tile_nibbles::<Q5_0>;
    pub(super) const TILE_Q5_1: super::Tile = tile_nibbles::<Q5_1>;

    /// # Safety
    /// As [`super::Tile`], with AVX-512 VNNI checked by [`super::available`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn tile_q8_0(w: &[u8], rb: usize, xs: &[&[Q8Block]], out: &mut Out) {
        match xs.len() {
            1 => q8::<1>(w, rb, xs, out),
            2 => q8::<2>(w, rb, xs, out),
            3 => q8::<3>(w, rb, xs, out),
            _ => q8::<4>(w, rb, xs, out),
        }
    }
}
