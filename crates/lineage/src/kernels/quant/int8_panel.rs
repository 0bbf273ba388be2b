//! The 8-bit path's prefill on AVX2 for the 32-value block formats (Q4_0, Q4_1, Q5_0,
//! Q5_1, Q8_0): four weight rows are decoded once into a [`Panel`] (each block's 32 codes
//! as bytes in L1, its scales as f32), then every activation row of the matmul meets the
//! panel. The tile kernels (int8_avx2.rs) decode a block again for every four activation
//! rows, and their sign trick (`|q|` times `y` signed by `q`) costs two more operations per
//! weight row and activation row.
//!
//! Each output is still the AVX2 row kernel's, bit for bit:
//! - codes with an offset (Q4_0: 8, Q5_0: 16) stay unsigned in the panel, and the offset
//!   comes off the integer lane sums: `sum(u y) - sum(off y)` per four bytes (the second
//!   term computed once per matmul: `OffSums`) is the row
//!   kernel's `sum((u - off) y)` exactly (`maddubs` cannot saturate on these codes);
//! - Q8_0 keeps `|q|` and `q` and multiplies as the row kernel does;
//! - per block the same `fma(d * dy, sum, acc)` in the same 8 lanes and the same scalar
//!   min term, then the same `hsum_ps`.
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
/// (unsigned, or `|q|` for Q8_0), Q8_0's signed codes, the scale `d` and the min `m`.
#[derive(Default)]
pub(crate) struct Panel {
    pub(super) codes: Vec<Codes>,
    pub(super) signed: Vec<Codes>,
    pub(super) d: Vec<f32>,
    pub(super) m: Vec<f32>,
    pub(super) nb: usize,
}

/// Per activation block, for each lane `l` (values `4l..4l + 4`): `-off * sum(y)`, the
/// offset formats' integer term (`sum((u - off) y) = sum(u y) - off sum(y)`). It is the
/// same for every weight row, so a matmul computes it once ([`offset_sums`]), not once
/// per panel and activation block.
pub(crate) type OffSums = [i32; 8];

/// [`OffSums`] of every block of `acts`, for codes offset by `off`, into `out`.
pub(crate) fn offset_sums(acts: &[Q8Block], off: i8, out: &mut Vec<OffSums>) {
    out.clear();
    out.extend(acts.iter().map(|b| {
        let mut s = [0i32; 8];
        for (l, q4) in b.qs.chunks_exact(4).enumerate() {
            s[l] = -(off as i32) * q4.iter().map(|&q| q as i32).sum::<i32>();
        }
        s
    }));
}

/// A format's panel kernels, and its code offset (the [`OffSums`] its `dot` takes).
#[derive(Clone, Copy)]
pub(crate) struct PanelKernel {
    pub fill: Fill,
    pub dot: Dot,
    pub offset: Option<i8>,
}

/// Decodes `nb` blocks of [`ROWS`] rows (`w`, rows `rb` bytes apart) into the panel.
/// # Safety
/// AVX2, FMA and F16C are available; `w` holds `ROWS * rb` bytes, each row `nb` blocks.
pub(crate) type Fill = unsafe fn(&[u8], usize, usize, &mut Panel);
/// The panel · `xs` (1..=[`X_ROWS`] activation rows, each at least the panel's blocks)
/// -> `out[i][k]` for activation row `i`, weight row `k`. `offs` holds the [`OffSums`] of
/// each row of `xs` where the format has an offset (else it is not read).
/// # Safety
/// AVX2, FMA and F16C are available; the panel was filled by the same format's [`Fill`].
pub(crate) type Dot = unsafe fn(&Panel, &[&[Q8Block]], &[&[OffSums]], &mut [[f32; ROWS]; X_ROWS]);

/// The kernels of format `F` (its fill and dot), as a [`PanelKernel`].
#[cfg(target_arch = "x86_64")]
pub(super) fn panel_kernel<F: super::block_format::Format>(fill: Fill, dot: Dot) -> PanelKernel {
    PanelKernel {
        fill,
        dot,
        offset: F::OFFSET,
    }
}

/// The panel kernels of `ty`, where the type and this CPU have them.
pub(crate) fn kernels(ty: super::GgmlType) -> Option<PanelKernel> {
    #[cfg(target_arch = "x86_64")]
    {
        use super::block_format::{Q4_0, Q4_1, Q5_0, Q5_1, Q8_0};
        use super::GgmlType as G;
        if !super::simd::avx2_available() {
            return None;
        }
        Some(match ty {
            G::Q4_0 => panel_kernel::<Q4_0>(x86::fill::<Q4_0>, x86::dot::<Q4_0>),
            G::Q4_1 => panel_kernel::<Q4_1>(x86::fill::<Q4_1>, x86::dot::<Q4_1>),
            G::Q5_0 => panel_kernel::<Q5_0>(x86::fill::<Q5_0>, x86::dot::<Q5_0>),
            G::Q5_1 => panel_kernel::<Q5_1>(x86::fill::<Q5_1>, x86::dot::<Q5_1>),
            G::Q8_0 => panel_kernel::<Q8_0>(x86::fill::<Q8_0>, x86::dot::<Q8_0>),
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
    use super::super::simd::x86::*;
    use super::{Codes, OffSums, Panel, ROWS, X_ROWS};
    use std::arch::x86_64::*;

    /// One block's 32 codes as the panel keeps them: nibble formats unsigned (the fifth
    /// bit added for Q5), Q8_0 signed.
    /// # Safety
    /// AVX2, FMA and F16C are available; the block at `b` is readable.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn codes<F: Format>(b: *const u8) -> __m256i {
        if F::Q8 {
            return _mm256_loadu_si256(b.add(2) as *const __m256i);
        }
        let q = nibbles_32(b.add(F::CODES));
        match F::HIGH_BITS {
            Some(at) => {
                let fifth = _mm256_and_si256(bytes_from_bits_32(b.add(at)), _mm256_set1_epi8(0x10));
                _mm256_or_si256(q, fifth)
            }
            None => q,
        }
    }

    /// # Safety
    /// As [`super::Fill`].
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn fill<F: Format>(w: &[u8], rb: usize, nb: usize, p: &mut Panel) {
        assert!(w.len() >= ROWS * rb && rb >= nb * F::BS);
        let n = nb * ROWS;
        p.nb = nb;
        p.codes.resize(n, Codes::default());
        p.d.resize(n, 0.0);
        if F::Q8 {
            p.signed.resize(n, Codes::default());
        }
        if F::HAS_MIN {
            p.m.resize(n, 0.0);
        }
        let wp = w.as_ptr();
        for j in 0..nb {
            for k in 0..ROWS {
                let b = wp.add(k * rb + j * F::BS);
                let at = j * ROWS + k;
                let q = codes::<F>(b);
                if F::Q8 {
                    store(&mut p.signed[at], q);
                    store(&mut p.codes[at], _mm256_sign_epi8(q, q));
                } else {
                    store(&mut p.codes[at], q);
                }
                p.d[at] = f16_to_f32(b);
                if F::HAS_MIN {
                    p.m[at] = f16_to_f32(b.add(2));
                }
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
    unsafe fn rows<F: Format, const R: usize, const N: usize>(
        p: &Panel,
        k0: usize,
        xs: &[&[Q8Block]],
        sums: &[&[OffSums]],
    ) -> [[f32; R]; N] {
        let mut acc = [[_mm256_setzero_ps(); R]; N];
        let mut offs = [[0f32; R]; N];
        let ones = _mm256_set1_epi16(1);
        for j in 0..p.nb {
            let mut y = [_mm256_setzero_si256(); N];
            let mut ysum = [_mm256_setzero_si256(); N];
            // Each row's scale in every lane, so `d * dy` is one vector product (the same
            // f32 product as the row kernel's scalar one).
            let mut dy = [_mm256_setzero_ps(); N];
            for i in 0..N {
                let b = xs.get_unchecked(i).get_unchecked(j);
                y[i] = _mm256_loadu_si256(b.qs.as_ptr() as *const __m256i);
                dy[i] = _mm256_set1_ps(b.d);
                if F::OFFSET.is_some() {
                    let s = sums.get_unchecked(i).get_unchecked(j);
                    ysum[i] = _mm256_loadu_si256(s.as_ptr() as *const __m256i);
                }
            }
            for k in 0..R {
                let at = j * ROWS + k0 + k;
                let u = load(p.codes.get_unchecked(at));
                let q = if F::Q8 {
                    load(p.signed.get_unchecked(at))
                } else {
                    u
                };
                let d = _mm256_set1_ps(*p.d.get_unchecked(at));
                for i in 0..N {
                    let b = xs.get_unchecked(i).get_unchecked(j);
                    let yk = if F::Q8 {
                        _mm256_sign_epi8(y[i], q)
                    } else {
                        y[i]
                    };
                    let mut s = _mm256_madd_epi16(_mm256_maddubs_epi16(u, yk), ones);
                    if F::OFFSET.is_some() {
                        s = _mm256_add_epi32(s, ysum[i]);
                    }
                    let s = _mm256_cvtepi32_ps(s);
                    acc[i][k] = _mm256_fmadd_ps(_mm256_mul_ps(d, dy[i]), s, acc[i][k]);
                    if F::HAS_MIN {
                        offs[i][k] += *p.m.get_unchecked(at) * b.s;
                    }
                }
            }
        }
        let mut out = [[0f32; R]; N];
        for i in 0..N {
            for k in 0..R {
                out[i][k] = hsum_ps(acc[i][k]) + offs[i][k];
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
        let summed = sums.len() >= xs.len() && sums.iter().all(|s| s.len() >= p.nb);
        assert!(F::OFFSET.is_none() || summed, "offset sums missing");
        let n = p.nb * ROWS;
        assert!(p.codes.len() >= n && p.d.len() >= n);
        assert!((!F::Q8 || p.signed.len() >= n) && (!F::HAS_MIN || p.m.len() >= n));
        match xs.len() {
            1 => put(out, 0, rows::<F, 4, 1>(p, 0, xs, sums)),
            2 => put(out, 0, rows::<F, 4, 2>(p, 0, xs, sums)),
            3 => {
                put(out, 0, rows::<F, 2, 3>(p, 0, xs, sums));
                put(out, 2, rows::<F, 2, 3>(p, 2, xs, sums));
            }
            _ => {
                put(out, 0, rows::<F, 2, 4>(p, 0, xs, sums));
                put(out, 2, rows::<F, 2, 4>(p, 2, xs, sums));
            }
        }
    }
}
