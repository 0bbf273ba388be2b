//! The AVX-512 VNNI tile for Q8_0 on the 8-bit-activation path: four weight rows
//! against one to four Q8 activation rows per call (decode: one; prefill: four), chosen
//! at run time where the CPU has AVX-512 VNNI. (The nibble formats take the wide
//! kernels there, int8_wide.rs.)
//!
//! Each output is the AVX2 kernel's (q8.rs), bit for bit, so decode, prefill and any
//! batch give one output the same value:
//! - `vpdpbusd` sums the same four byte products per 32-bit lane as AVX2's
//!   `maddubs` + `madd` pair (integers, exact, no saturation on these codes);
//! - one 512-bit register holds two weight rows' lanes (a 256-bit half per row), so the
//!   per-lane `fma(d * dy, sum, acc)` is the AVX2 one;
//! - each output's eight lanes are summed by `hsum_ps`.
//!
//! Reference: ggml-cpu `arch/x86/quants.c` (`ggml_vec_dot_q8_0_q8_0` under
//! `__AVX512VNNI__`/`__AVXVNNI__`: the integer dot per 4 bytes, the block scale product).

use super::act::Q8Block;

/// Weight rows per tile.
pub(crate) const W_ROWS: usize = 4;
/// Activation rows per tile, at most.
pub(crate) const X_ROWS: usize = 4;

/// A tile's outputs: activation row, then weight row.
pub(crate) type TileOut = [[f32; W_ROWS]; X_ROWS];

/// [`W_ROWS`] consecutive weight rows (`row_bytes` apart) · `xs` (1..=[`X_ROWS`] Q8
/// activation rows) -> `out[i][k]` for activation row `i`, weight row `k`; `ahead` (the
/// rows a later call takes, or nothing) is prefetched a part per block meanwhile.
/// # Safety
/// The CPU has the features [`available`] checked; `w` holds `W_ROWS * row_bytes` bytes
/// of whole blocks, `xs` 1..=4 rows each with a block per weight block of a row.
pub(crate) type Tile = unsafe fn((&[u8], &[u8]), usize, &[&[Q8Block]], &mut TileOut);

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
    use super::super::simd::x86::hsum_ps;
    use super::{TileOut as Out, W_ROWS};
    use crate::kernels::prefetch::Spread;
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

    /// The two 256-bit halves' sums, as `hsum_ps`.
    /// # Safety
    /// AVX-512F and AVX2 are available (register-only).
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn half_sums(v: __m512) -> [f32; 2] {
        let high = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
        [hsum_ps(_mm512_castps512_ps256(v)), hsum_ps(high)]
    }

    /// Q8_0 (34-byte blocks: `d`, 32 signed codes) against `N` activation rows: a
    /// 256-bit half per weight row, two rows per register. AVX2 multiplies `|q|` by
    /// `sign(y, q)`; here the same bytes: `|q|` unsigned against `y` negated where `q < 0`
    /// (where `q = 0` the product is 0 either way).
    /// # Safety
    /// As [`super::Tile`], with `xs.len() == N`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn q8<const N: usize>(
        (w, ahead): (&[u8], &[u8]),
        rb: usize,
        xs: &[&[Q8Block]],
        out: &mut Out,
    ) {
        let nb = xs.iter().map(|x| x.len()).fold(rb / 34, usize::min);
        assert!(xs.len() == N && w.len() >= W_ROWS * rb && rb >= nb * 34);
        let wp = w.as_ptr();
        let mut acc = [[_mm512_setzero_ps(); 2]; N];
        let spread = Spread::new(ahead, nb);
        for j in 0..nb {
            spread.part(j);
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

    /// # Safety
    /// As [`super::Tile`], with AVX-512 VNNI checked by [`super::available`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn tile_q8_0(w: (&[u8], &[u8]), rb: usize, xs: &[&[Q8Block]], out: &mut Out) {
        match xs.len() {
            1 => q8::<1>(w, rb, xs, out),
            2 => q8::<2>(w, rb, xs, out),
            3 => q8::<3>(w, rb, xs, out),
            _ => q8::<4>(w, rb, xs, out),
        }
    }
}
