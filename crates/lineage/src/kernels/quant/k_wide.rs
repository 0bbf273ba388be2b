//! The K-quants' prefill (Q4_K, Q5_K, Q6_K) on AVX-512 VNNI: sixteen weight rows side by
//! side, a 32-bit lane each, decoded once into a [`KPanel`] that every activation row
//! meets. One `vpdpbusd` adds four codes times four activations for all sixteen rows;
//! a sub-block's sum is then scaled by `vpmulld`. The row kernel (k_avx512.rs) sums each
//! row's lanes and the scale terms for every row, block and activation row; here the
//! sixteen rows' sums come out in one register, so that step goes.
//!
//! Every output is the row kernel's, bit for bit (the scalar unpack-then-dot path's):
//! the integer parts (`scaled = sum_g sc_g S_g`, the block-sum term) are exact in any
//! order, and the float step is [`finish_parts`](super::k_quants::finish_parts)'s
//! expression, lane by lane, added to each output block after block. So decode keeps
//! the row kernel and prefill takes this panel without a bit between them.
//!
//! Layout per super-block: 64 vectors of codes (vector `v` holds values `4v..4v + 4` of
//! rows 0..16), a vector of scales per sub-block (32 values for Q4_K/Q5_K, whose two
//! halves share a scale; 16 for Q6_K), eight vectors of i16 pairs for the block-sum
//! term (the mins for Q4_K/Q5_K, the scales for Q6_K's offset), then `d` and `dmin`.
//!
//! Reference: ggml-cpu's repacked Q4_K GEMM (`repack.cpp`, rows interleaved) and the
//! panel/micro-kernel split of BLIS.

use super::act::Q8KBlock;
use super::int8_wide::Lanes;

/// Weight rows per panel.
pub(crate) const WIDE: usize = 16;
/// Activation rows per panel call, at most.
pub(crate) const X_MAX: usize = 8;
/// Activation rows from which a matmul takes the panel (fewer keep the row kernel).
pub(crate) const PANEL_FROM: usize = 5;
/// Code vectors per super-block.
const VECS: usize = 64;

/// A group of [`WIDE`] K-quant rows decoded: per super-block `j`, codes at
/// `VECS * j..`, scales at `16 * j..` (one vector per sub-block; Q4_K/Q5_K use the
/// first eight), pairs at `8 * j..`, `d` and `dmin` at `WIDE * j..`.
#[derive(Default)]
pub(crate) struct KPanel {
    pub(super) codes: Vec<Lanes>,
    pub(super) scales: Vec<Lanes>,
    pub(super) pairs: Vec<Lanes>,
    pub(super) d: Vec<f32>,
    pub(super) dmin: Vec<f32>,
    pub(super) nb: usize,
}

/// Decodes `nb` super-blocks of a group (`w`: `rows` rows, 1..=[`WIDE`], `rb` bytes
/// apart) into the panel; missing rows repeat the last.
/// # Safety
/// The CPU has what [`kernels`] checked; `w` holds `rows * rb` bytes, each row `nb`
/// super-blocks.
pub(crate) type Fill = unsafe fn(&[u8], usize, usize, usize, &mut KPanel);
/// The panel · `xs` (1..=[`X_MAX`] activation rows, each at least the panel's blocks)
/// -> `out[i][k]` for activation row `i`, weight row `k`.
/// # Safety
/// As [`Fill`]; the panel was filled by the same type's fill.
pub(crate) type Dot = unsafe fn(&KPanel, &[&[Q8KBlock]], &mut Out);
/// Outputs of a call: activation row, then weight row.
pub(crate) type Out = [[f32; WIDE]; X_MAX];

/// A type's panel kernels.
#[derive(Clone, Copy)]
pub(crate) struct KWide {
    pub fill: Fill,
    pub dot: Dot,
}

/// The panel kernels of `ty`, where the type and this CPU (AVX-512 VNNI) have them.
pub(crate) fn kernels(ty: super::GgmlType) -> Option<KWide> {
    #[cfg(target_arch = "x86_64")]
    {
        use super::k_codes::x86 as K;
        use super::GgmlType as G;
        if !super::int8_vnni::available() {
            return None;
        }
        Some(match ty {
            G::Q4_K => KWide {
                fill: x86::fill::<{ K::Q4_K }>,
                dot: x86::dot::<{ K::Q4_K }>,
            },
            G::Q5_K => KWide {
                fill: x86::fill::<{ K::Q5_K }>,
                dot: x86::dot::<{ K::Q5_K }>,
            },
            G::Q6_K => KWide {
                fill: x86::fill::<{ K::Q6_K }>,
                dot: x86::dot::<{ K::Q6_K }>,
            },
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
    use super::super::act::Q8KBlock;
    use super::super::int8_wide::x86::transpose4;
    use super::super::k_codes::x86 as codes;
    use super::{KPanel, Lanes, Out, VECS, WIDE, X_MAX};
    use std::arch::x86_64::*;

    /// Values per scale: 32 for Q4_K/Q5_K (their two 16-value groups share one), 16 for
    /// Q6_K.
    const fn per_scale<const T: u8>() -> usize {
        if T == codes::Q6_K {
            16
        } else {
            32
        }
    }

    /// One super-block of sixteen rows into the panel at block `j`: each row split
    /// (k_codes.rs), its codes put side by side sixteen bytes at a time (register `g`
    /// takes rows `g, g + 4, g + 8, g + 12`, so that after the transpose element
    /// `4l + g` is row `4l + g`), its scales and pair terms spread over the lanes.
    /// # Safety
    /// As [`super::Fill`]; `blocks[r]` is row `r`'s super-block.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn put_block<const T: u8>(blocks: [&[u8]; WIDE], j: usize, p: &mut KPanel) {
        let mut u = [[0u8; 256]; WIDE];
        let mut sc = [[0i32; WIDE]; 16];
        let mut pair = [[0i32; WIDE]; 8];
        for (r, b) in blocks.iter().enumerate() {
            let k = codes::split::<T>(b);
            for (t, v) in k.u.iter().enumerate() {
                _mm256_storeu_si256(u[r].as_mut_ptr().add(32 * t) as *mut __m256i, *v);
            }
            let step = per_scale::<T>() / 16;
            for (s, row) in sc.iter_mut().enumerate().take(16 / step) {
                row[r] = k.sc[step * s];
            }
            // The block-sum term's coefficients: mins, or Q6_K's scales (its offset).
            let coef = if T == codes::Q6_K { &k.sc } else { &k.mn };
            for q in 0..8 {
                let (a, c) = (
                    coef[2 * q] as i16 as u16 as u32,
                    coef[2 * q + 1] as i16 as u16,
                );
                pair[q][r] = (a | (c as u32) << 16) as i32;
            }
            *p.d.get_unchecked_mut(WIDE * j + r) = k.d;
            *p.dmin.get_unchecked_mut(WIDE * j + r) = k.dmin;
        }
        let dst = p.codes.as_mut_ptr().add(VECS * j) as *mut __m512i;
        for c in 0..16 {
            let mut z = [_mm512_setzero_si512(); 4];
            for (g, zg) in z.iter_mut().enumerate() {
                let ld = |l: usize| _mm_loadu_si128(u[4 * l + g].as_ptr().add(16 * c) as *const _);
                let v = _mm512_inserti32x4::<1>(_mm512_castsi128_si512(ld(0)), ld(1));
                let v = _mm512_inserti32x4::<2>(v, ld(2));
                *zg = _mm512_inserti32x4::<3>(v, ld(3));
            }
            for (e, t) in transpose4(z).into_iter().enumerate() {
                _mm512_store_si512(dst.add(4 * c + e), t);
            }
        }
        let sdst = p.scales.as_mut_ptr().add(16 * j) as *mut __m512i;
        for (s, v) in sc.iter().enumerate() {
            _mm512_store_si512(sdst.add(s), _mm512_loadu_si512(v.as_ptr() as *const _));
        }
        let pdst = p.pairs.as_mut_ptr().add(8 * j) as *mut __m512i;
        for (q, v) in pair.iter().enumerate() {
            _mm512_store_si512(pdst.add(q), _mm512_loadu_si512(v.as_ptr() as *const _));
        }
    }

    /// # Safety
    /// As [`super::Fill`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn fill<const T: u8>(
        w: &[u8],
        rb: usize,
        rows: usize,
        nb: usize,
        p: &mut KPanel,
    ) {
        let bs = codes::block_bytes::<T>();
        assert!(
            (1..=WIDE).contains(&rows) && rb >= nb * bs && w.len() >= (rows - 1) * rb + nb * bs
        );
        p.nb = nb;
        p.codes.resize(nb * VECS, Lanes::default());
        p.scales.resize(nb * 16, Lanes::default());
        p.pairs.resize(nb * 8, Lanes::default());
        p.d.resize(nb * WIDE, 0.0);
        p.dmin.resize(nb * WIDE, 0.0);
        for j in 0..nb {
            let blocks: [&[u8]; WIDE] = std::array::from_fn(|r| {
                let at = r.min(rows - 1) * rb + j * bs;
                &w[at..at + bs]
            });
            put_block::<T>(blocks, j, p);
        }
    }

    /// The panel against `N` activation rows.
    /// # Safety
    /// As [`super::Dot`], with `xs.len() == N`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn rows<const T: u8, const N: usize>(p: &KPanel, xs: &[&[Q8KBlock]], out: &mut Out) {
        let vps = per_scale::<T>() / 4;
        let mut acc = [_mm512_setzero_ps(); N];
        let src = p.codes.as_ptr() as *const __m512i;
        for j in 0..p.nb {
            let ys: [&Q8KBlock; N] = std::array::from_fn(|i| xs.get_unchecked(i).get_unchecked(j));
            let mut scaled = [_mm512_setzero_si512(); N];
            for s in 0..VECS / vps {
                let sc = _mm512_load_si512(p.scales.as_ptr().add(16 * j + s) as *const _);
                let mut sum = [_mm512_setzero_si512(); N];
                for v in s * vps..(s + 1) * vps {
                    let w = _mm512_load_si512(src.add(VECS * j + v));
                    for i in 0..N {
                        let y4 = (ys[i].qs.as_ptr().add(4 * v) as *const i32).read_unaligned();
                        sum[i] = _mm512_dpbusd_epi32(sum[i], w, _mm512_set1_epi32(y4));
                    }
                }
                for i in 0..N {
                    scaled[i] = _mm512_add_epi32(scaled[i], _mm512_mullo_epi32(sum[i], sc));
                }
            }
            let d = _mm512_loadu_ps(p.d.as_ptr().add(WIDE * j));
            let dmin = _mm512_loadu_ps(p.dmin.as_ptr().add(WIDE * j));
            for i in 0..N {
                let mut bt = _mm512_setzero_si512();
                for q in 0..8 {
                    let pq = _mm512_load_si512(p.pairs.as_ptr().add(8 * j + q) as *const _);
                    let b = (ys[i].bsums.as_ptr().add(2 * q) as *const i32).read_unaligned();
                    bt = _mm512_dpwssd_epi32(bt, pq, _mm512_set1_epi32(b));
                }
                // finish_parts: dy * (d * (scaled - off * sb) - dmin * mb), lane by lane.
                let (t, mb) = if T == codes::Q6_K {
                    (
                        _mm512_sub_epi32(scaled[i], _mm512_slli_epi32::<5>(bt)),
                        _mm512_setzero_si512(),
                    )
                } else {
                    (scaled[i], bt)
                };
                let a = _mm512_mul_ps(d, _mm512_cvtepi32_ps(t));
                let b = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(mb));
                let v = _mm512_mul_ps(_mm512_set1_ps(ys[i].d), _mm512_sub_ps(a, b));
                acc[i] = _mm512_add_ps(acc[i], v);
            }
        }
        for i in 0..N {
            _mm512_storeu_ps(out[i].as_mut_ptr(), acc[i]);
        }
    }

    /// # Safety
    /// As [`super::Dot`], with AVX-512 VNNI checked by [`super::kernels`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn dot<const T: u8>(p: &KPanel, xs: &[&[Q8KBlock]], out: &mut Out) {
        assert!(
            (1..=X_MAX).contains(&xs.len()) && xs.iter().all(|x| x.len() >= p.nb),
            "panel of {} super-blocks against {} rows",
            p.nb,
            xs.len()
        );
        assert!(p.codes.len() >= p.nb * VECS && p.scales.len() >= p.nb * 16);
        assert!(
            p.pairs.len() >= p.nb * 8 && p.d.len() >= p.nb * WIDE && p.dmin.len() >= p.nb * WIDE
        );
        match xs.len() {
            1 => rows::<T, 1>(p, xs, out),
            2 => rows::<T, 2>(p, xs, out),
            3 => rows::<T, 3>(p, xs, out),
            4 => rows::<T, 4>(p, xs, out),
            5 => rows::<T, 5>(p, xs, out),
            6 => rows::<T, 6>(p, xs, out),
            7 => rows::<T, 7>(p, xs, out),
            _ => rows::<T, 8>(p, xs, out),
        }
    }
}
