//! The 8-bit path's Q8_0 prefill on AVX2 without VNNI: four weight rows are decoded once
//! into a [`Panel`] (each block's 32 codes as `|q|` and `q` in L1, its scale as f32), then
//! every activation row of the matmul meets the panel. The tile kernel (int8_avx2.rs)
//! loads a block again for every four activation rows and takes `|q|` each time. (The
//! nibble formats take the wide kernels, int8_wide_avx2.rs, on every AVX2 CPU.)
//!
//! Each output is still the AVX2 row kernel's, bit for bit: `|q|` times `y` signed by
//! `q`, per block the same `fma(d * dy, sum, acc)` in the same 8 lanes, then the same
//! `hsum_ps`.
//!
//! Reference: the panel/micro-kernel split of BLIS, and ggml-cpu's repacked 4-row
//! GEMM (`repack.cpp`), here with the blocks' own layout and numerics.

use super::act::Q8Block;

/// Weight rows per panel and activation rows per kernel call: the tiles' own.
pub(crate) use super::int8_vnni::{W_ROWS as ROWS, X_ROWS};

/// 32 code bytes, aligned for a vector load.
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
pub(crate) struct Codes(pub(super) [u8; 32]);

/// [`ROWS`] weight rows decoded: per block `j` and row `k`, at `j * ROWS + k`, the codes
/// `|q|`, the signed codes `q` and the scale `d`.
#[derive(Default)]
pub(crate) struct Panel {
    pub(super) codes: Vec<Codes>,
    pub(super) signed: Vec<Codes>,
    pub(super) d: Vec<f32>,
    pub(super) nb: usize,
}

/// The panel kernels: fill and dot.
#[derive(Clone, Copy)]
pub(crate) struct PanelKernel {
    pub fill: Fill,
    pub dot: Dot,
}

/// Decodes `nb` blocks of [`ROWS`] rows (`w`, rows `rb` bytes apart) into the panel.
/// # Safety
/// AVX2, FMA and F16C are available; `w` holds `ROWS * rb` bytes, each row `nb` blocks.
pub(crate) type Fill = unsafe fn(&[u8], usize, usize, &mut Panel);
/// The panel · `xs` (1..=[`X_ROWS`] activation rows, each at least the panel's blocks)
/// -> `out[i][k]` for activation row `i`, weight row `k`.
/// # Safety
/// AVX2, FMA and F16C are available; the panel was filled by [`Fill`].
pub(crate) type Dot = unsafe fn(&Panel, &[&[Q8Block]], &mut [[f32; ROWS]; X_ROWS]);

/// The panel kernels of `ty` (Q8_0), where this CPU has them.
pub(crate) fn kernels(ty: super::GgmlType) -> Option<PanelKernel> {
    #[cfg(target_arch = "x86_64")]
    if ty == super::GgmlType::Q8_0 && super::simd::avx2_available() {
        return Some(PanelKernel {
            fill: x86::fill,
            dot: x86::dot,
        });
    }
    let _ = ty;
    None
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::act::Q8Block;
    use super::super::simd::x86::*;
    use super::{Codes, Panel, ROWS, X_ROWS};
    use std::arch::x86_64::*;

    /// Q8_0's block: `d` (f16), then 32 signed codes.
    const BS: usize = 34;

    /// # Safety
    /// As [`super::Fill`].
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn fill(w: &[u8], rb: usize, nb: usize, p: &mut Panel) {
        assert!(w.len() >= ROWS * rb && rb >= nb * BS);
        let n = nb * ROWS;
        p.nb = nb;
        p.codes.resize(n, Codes::default());
        p.signed.resize(n, Codes::default());
        p.d.resize(n, 0.0);
        let wp = w.as_ptr();
        for j in 0..nb {
            for k in 0..ROWS {
                let b = wp.add(k * rb + j * BS);
                let at = j * ROWS + k;
                let q = _mm256_loadu_si256(b.add(2) as *const __m256i);
                store(&mut p.signed[at], q);
                store(&mut p.codes[at], _mm256_sign_epi8(q, q));
                p.d[at] = f16_to_f32(b);
            }
        }
    }

    /// # Safety
    /// AVX2 is available (`c` is 32 aligned bytes by its type).
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn store(c: &mut Codes, v: __m256i) {
        _mm256_store_si256(c.0.as_mut_ptr() as *mut __m256i, v)
    }

    /// # Safety
    /// AVX2 is available.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn load(c: &Codes) -> __m256i {
        _mm256_load_si256(c.0.as_ptr() as *const __m256i)
    }

    /// Panel rows `k0..k0 + R` against `N` activation rows, each output summed as the
    /// AVX2 row kernel sums it.
    /// # Safety
    /// AVX2, FMA and F16C are available; `k0 + R <= ROWS`; `xs.len() >= N`, each row
    /// holding the panel's blocks.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn rows<const R: usize, const N: usize>(
        p: &Panel,
        k0: usize,
        xs: &[&[Q8Block]],
    ) -> [[f32; R]; N] {
        let mut acc = [[_mm256_setzero_ps(); R]; N];
        let ones = _mm256_set1_epi16(1);
        for j in 0..p.nb {
            let mut y = [_mm256_setzero_si256(); N];
            // Each row's scale in every lane, so `d * dy` is one vector product (the same
            // f32 product as the row kernel's scalar one).
            let mut dy = [_mm256_setzero_ps(); N];
            for i in 0..N {
                let b = xs.get_unchecked(i).get_unchecked(j);
                y[i] = _mm256_loadu_si256(b.qs.as_ptr() as *const __m256i);
                dy[i] = _mm256_set1_ps(b.d);
            }
            for k in 0..R {
                let at = j * ROWS + k0 + k;
                let (u, q) = (
                    load(p.codes.get_unchecked(at)),
                    load(p.signed.get_unchecked(at)),
                );
                let d = _mm256_set1_ps(*p.d.get_unchecked(at));
                for ((acc_i, &yi), &dyi) in acc.iter_mut().zip(&y).zip(&dy) {
                    let yk = _mm256_sign_epi8(yi, q);
                    let s = _mm256_madd_epi16(_mm256_maddubs_epi16(u, yk), ones);
                    let s = _mm256_cvtepi32_ps(s);
                    acc_i[k] = _mm256_fmadd_ps(_mm256_mul_ps(d, dyi), s, acc_i[k]);
                }
            }
        }
        let mut out = [[0f32; R]; N];
        for i in 0..N {
            for k in 0..R {
                out[i][k] = hsum_ps(acc[i][k]);
            }
        }
        out
    }

    /// Copies `v` into the columns `k0..k0 + R` of `out`'s first `N` rows.
    #[inline(always)]
    fn put<const R: usize, const N: usize>(
        out: &mut [[f32; ROWS]; X_ROWS],
        k0: usize,
        v: [[f32; R]; N],
    ) {
        for (o, vi) in out.iter_mut().zip(v) {
            o[k0..k0 + R].copy_from_slice(&vi);
        }
    }

    /// # Safety
    /// As [`super::Dot`].
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dot(p: &Panel, xs: &[&[Q8Block]], out: &mut [[f32; ROWS]; X_ROWS]) {
        assert!(
            (1..=X_ROWS).contains(&xs.len()) && xs.iter().all(|x| x.len() >= p.nb),
            "panel of {} blocks against {} rows",
            p.nb,
            xs.len()
        );
        let n = p.nb * ROWS;
        assert!(p.codes.len() >= n && p.signed.len() >= n && p.d.len() >= n);
        match xs.len() {
            1 => put(out, 0, rows::<4, 1>(p, 0, xs)),
            2 => put(out, 0, rows::<4, 2>(p, 0, xs)),
            3 => {
                put(out, 0, rows::<2, 3>(p, 0, xs));
                put(out, 2, rows::<2, 3>(p, 2, xs));
            }
            _ => {
                put(out, 0, rows::<2, 4>(p, 0, xs));
                put(out, 2, rows::<2, 4>(p, 2, xs));
            }
        }
    }
}
