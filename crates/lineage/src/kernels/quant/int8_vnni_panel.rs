//! The 8-bit path's prefill on AVX-512 VNNI for the 32-value nibble formats (Q4_0, Q4_1,
//! Q5_0, Q5_1): four weight rows decoded once into a [`Panel`](super::int8_panel::Panel) in the tile's register
//! layout, then met by every activation row of the matmul. The tile (int8_vnni.rs)
//! splits nibbles, adds fifth bits and spreads scales again for every four activation
//! rows; here each activation row and block costs two `vpdpbusd`, a scale product and
//! the two `fma`s of the float step.
//!
//! Each output is the tile's (so the AVX2 row kernel's), bit for bit:
//! - a block's four weight rows sit in one 512-bit register per half (values 0..16,
//!   16..32), a 128-bit lane per row, as in the tile;
//! - codes stay unsigned; for the offset formats `vpdpbusd` starts from the activation
//!   block's [`OffSums`](super::int8_panel::OffSums) (`-off * sum(y)` per four bytes,
//!   computed once per matmul), which makes its sums the tile's `sum((q - off) y)`
//!   exactly;
//! - the float step is the tile's: `fma(d * dy, sum, acc)` per lane, the min term
//!   `m * s` in its own four lanes, then the same lane sums.
//!
//! Reference: ggml-cpu's repacked 4-row GEMM (`repack.cpp`), and the panel/micro-kernel
//! split of BLIS.

use super::int8_panel::PanelKernel;

/// The panel kernels of `ty`, where the type and this CPU (AVX-512 VNNI) have them.
pub(crate) fn kernels(ty: super::GgmlType) -> Option<PanelKernel> {
    #[cfg(target_arch = "x86_64")]
    {
        use super::block_format::{Q4_0, Q4_1, Q5_0, Q5_1};
        use super::int8_panel::panel_kernel;
        use super::GgmlType as G;
        if !super::int8_vnni::available() {
            return None;
        }
        Some(match ty {
            G::Q4_0 => panel_kernel::<Q4_0>(x86::fill::<Q4_0>, x86::dot::<Q4_0>),
            G::Q4_1 => panel_kernel::<Q4_1>(x86::fill::<Q4_1>, x86::dot::<Q4_1>),
            G::Q5_0 => panel_kernel::<Q5_0>(x86::fill::<Q5_0>, x86::dot::<Q5_0>),
            G::Q5_1 => panel_kernel::<Q5_1>(x86::fill::<Q5_1>, x86::dot::<Q5_1>),
            _ => return None,
        })
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
    use super::super::block_format::Format;
    use super::super::int8_panel::{Codes, OffSums, Panel, ROWS, X_ROWS};
    use super::super::int8_vnni::x86::{fifth_bits, four_f16, per_lane128, row_results};
    use std::arch::x86_64::*;

    /// Per block: codes in four [`Codes`] (the low half's 64 bytes, then the high half's).
    const CODES_PER_BLOCK: usize = 4;
    /// Per block: the scale of each of the 16 lanes.
    const D_PER_BLOCK: usize = 16;

    /// The 16 bytes at `p`.
    /// # Safety
    /// `p .. p + 16` is readable.
    #[inline(always)]
    unsafe fn load16(p: *const u8) -> __m128i {
        _mm_loadu_si128(p as *const __m128i)
    }

    /// # Safety
    /// As [`Fill`](super::super::int8_panel::Fill), with AVX-512 VNNI checked by [`super::kernels`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn fill<F: Format>(w: &[u8], rb: usize, nb: usize, p: &mut Panel) {
        assert!(w.len() >= ROWS * rb && rb >= nb * F::BS);
        p.nb = nb;
        p.codes.resize(nb * CODES_PER_BLOCK, Codes::default());
        p.d.resize(nb * D_PER_BLOCK, 0.0);
        if F::HAS_MIN {
            p.m.resize(nb * ROWS, 0.0);
        }
        let (mask, bit4) = (_mm512_set1_epi8(0x0f), _mm512_set1_epi8(0x10));
        let wp = w.as_ptr();
        for j in 0..nb {
            let b = wp.add(j * F::BS);
            let c = b.add(F::CODES);
            let z = _mm512_inserti32x4::<1>(_mm512_castsi128_si512(load16(c)), load16(c.add(rb)));
            let z = _mm512_inserti32x4::<2>(z, load16(c.add(2 * rb)));
            let z = _mm512_inserti32x4::<3>(z, load16(c.add(3 * rb)));
            let mut q = [
                _mm512_and_si512(z, mask),
                _mm512_and_si512(_mm512_srli_epi16::<4>(z), mask),
            ];
            if let Some(at) = F::HIGH_BITS {
                let (ml, mh) = fifth_bits(b, rb, at);
                q[0] = _mm512_mask_add_epi8(q[0], ml, q[0], bit4);
                q[1] = _mm512_mask_add_epi8(q[1], mh, q[1], bit4);
            }
            let dst = p.codes.as_mut_ptr().add(j * CODES_PER_BLOCK) as *mut __m512i;
            _mm512_storeu_si512(dst, q[0]);
            _mm512_storeu_si512(dst.add(1), q[1]);
            let d = per_lane128(four_f16(b, rb, 0));
            _mm512_storeu_ps(p.d.as_mut_ptr().add(j * D_PER_BLOCK), d);
            if F::HAS_MIN {
                _mm_storeu_ps(p.m.as_mut_ptr().add(j * ROWS), four_f16(b, rb, 2));
            }
        }
    }

    /// The panel against `N` activation rows.
    /// # Safety
    /// As [`Dot`](super::super::int8_panel::Dot), with `xs.len() == N`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn rows<F: Format, const N: usize>(
        p: &Panel,
        xs: &[&[Q8Block]],
        sums: &[&[OffSums]],
        out: &mut [[f32; ROWS]; X_ROWS],
    ) {
        let (mut lo, mut hi) = ([_mm512_setzero_ps(); N], [_mm512_setzero_ps(); N]);
        let mut offs = [_mm_setzero_ps(); N];
        let zero = _mm512_setzero_si512();
        for j in 0..p.nb {
            let src = p.codes.as_ptr().add(j * CODES_PER_BLOCK) as *const __m512i;
            let (ql, qh) = (_mm512_loadu_si512(src), _mm512_loadu_si512(src.add(1)));
            let d = _mm512_loadu_ps(p.d.as_ptr().add(j * D_PER_BLOCK));
            for i in 0..N {
                let y = xs.get_unchecked(i).get_unchecked(j);
                let yp = y.qs.as_ptr() as *const __m128i;
                let yl = _mm512_broadcast_i32x4(_mm_loadu_si128(yp));
                let yh = _mm512_broadcast_i32x4(_mm_loadu_si128(yp.add(1)));
                let (il, ih) = if F::OFFSET.is_some() {
                    let sp = sums.get_unchecked(i).get_unchecked(j).as_ptr() as *const __m128i;
                    let il = _mm512_broadcast_i32x4(_mm_loadu_si128(sp));
                    (il, _mm512_broadcast_i32x4(_mm_loadu_si128(sp.add(1))))
                } else {
                    (zero, zero)
                };
                let pl = _mm512_dpbusd_epi32(il, ql, yl);
                let ph = _mm512_dpbusd_epi32(ih, qh, yh);
                let s = _mm512_mul_ps(d, _mm512_set1_ps(y.d));
                lo[i] = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(pl), lo[i]);
                hi[i] = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(ph), hi[i]);
                if F::HAS_MIN {
                    let m = _mm_loadu_ps(p.m.as_ptr().add(j * ROWS));
                    offs[i] = _mm_add_ps(offs[i], _mm_mul_ps(m, _mm_set1_ps(y.s)));
                }
            }
        }
        for i in 0..N {
            out[i] = row_results(lo[i], hi[i], offs[i]);
        }
    }

    /// # Safety
    /// As [`Dot`](super::super::int8_panel::Dot), with AVX-512 VNNI checked by [`super::kernels`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn dot<F: Format>(
        p: &Panel,
        xs: &[&[Q8Block]],
        sums: &[&[OffSums]],
        out: &mut [[f32; ROWS]; X_ROWS],
    ) {
        assert!(
            (1..=X_ROWS).contains(&xs.len()) && xs.iter().all(|x| x.len() >= p.nb),
            "panel of {} blocks against {} rows",
            p.nb,
            xs.len()
        );
        assert!(p.codes.len() >= p.nb * CODES_PER_BLOCK && p.d.len() >= p.nb * D_PER_BLOCK);
        let summed = sums.len() >= xs.len() && sums.iter().all(|s| s.len() >= p.nb);
        assert!(F::OFFSET.is_none() || summed, "offset sums missing");
        assert!(!F::HAS_MIN || p.m.len() >= p.nb * ROWS);
        match xs.len() {
            1 => rows::<F, 1>(p, xs, sums, out),
            2 => rows::<F, 2>(p, xs, sums, out),
            3 => rows::<F, 3>(p, xs, sums, out),
            _ => rows::<F, 4>(p, xs, sums, out),
        }
    }
}
