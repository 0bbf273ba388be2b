//! The 8-bit path for the 32-value nibble formats (Q4_0, Q4_1, Q5_0, Q5_1) on AVX-512
//! VNNI (here) and on AVX2 (int8_wide_avx2.rs, the same numerics bit for bit): sixteen
//! weight rows side by side, a 32-bit lane each, so that one `vpdpbusd`
//! adds four codes times four activations for all sixteen rows, and a block's float step
//! (`fma(d * dy, sum, acc)`) runs once per row and block instead of once per four codes.
//!
//! The numerics are their own ("block sums"), the same in decode, prefill and any batch:
//! - per weight row and block, the exact integer `S = sum((u - off) q)`;
//! - two float chains, even and odd blocks: `acc[j % 2] = fma(d * dy, S, acc[j % 2])`
//!   in block order (`d * dy` rounded to f32), then `acc[0] + acc[1]`;
//! - with a min (Q4_1, Q5_1), `accm = fma(m, s, accm)` over the blocks, added last.
//!
//! This is ggml's scalar `ggml_vec_dot_q4_0_q8_0` and friends with the product fused
//! (one rounding per block), split over two chains: a single chain runs all of a row's
//! error through one accumulator, where ggml's AVX2 kernels spread it over eight lanes.
//! [`reference`] is the scalar statement, which the tests hold every kernel of both
//! instruction sets to, bit for bit.
//!
//! Layout: a block of sixteen rows is eight 64-byte vectors, vector `k` holding codes
//! `4k..4k + 4` of rows 0..16 (unsigned, the fifth bit added for Q5), then the rows'
//! sixteen scales (and mins). Prefill decodes a group of rows once into a
//! [`WidePanel`] that every activation row meets; decode (a few rows) decodes each
//! block into registers and uses it at once.
//!
//! Reference: ggml-cpu's repacked GEMM (`repack.cpp`: rows interleaved so that one
//! vector holds several rows' codes) and the panel/micro-kernel split of BLIS.

use super::act::Q8Block;

/// Weight rows per group.
pub(crate) const WIDE: usize = 16;
/// Activation rows per panel call, at most.
pub(crate) const X_MAX: usize = 8;
/// Activation rows from which a group is decoded into a panel rather than used at once.
pub(crate) const PANEL_FROM: usize = 5;

/// Sixteen rows' four codes each: one vector of a block.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Lanes(pub(super) [u8; 64]);

impl Default for Lanes {
    fn default() -> Self {
        Self([0; 64])
    }
}

/// Vectors per block.
pub(super) const VECS: usize = 8;

/// A group of [`WIDE`] weight rows decoded: per block `j`, codes at `VECS * j..`,
/// scales and mins at `WIDE * j..`.
#[derive(Default)]
pub(crate) struct WidePanel {
    pub(super) codes: Vec<Lanes>,
    pub(super) d: Vec<f32>,
    pub(super) m: Vec<f32>,
    pub(super) nb: usize,
}

/// Whether rows `rb` bytes apart fit the kernels' gathers (32-bit offsets across a
/// group): every real model's do; a matrix with rows past 128 MiB takes the tiles.
pub(crate) fn fits(rb: usize) -> bool {
    rb.checked_mul(WIDE).is_some_and(|b| b < i32::MAX as usize)
}

/// `-off * sum(q)` of every activation block, for codes offset by `off`: the integer
/// term that makes `sum(u q)` the block sum `sum((u - off) q)`. Once per matmul.
pub(crate) fn offset_terms(acts: &[Q8Block], off: i8, out: &mut Vec<i32>) {
    out.clear();
    out.extend(acts.iter().map(|b| -(off as i32) * b.sum));
}

/// Decodes `nb` blocks of a group (`w`: `rows` rows, 1..=[`WIDE`], `rb` bytes apart)
/// into the panel; missing rows repeat the last.
/// # Safety
/// The CPU has what [`kernels`] checked; `w` holds `rows * rb` bytes, each row `nb`
/// blocks.
pub(crate) type Fill = unsafe fn(&[u8], usize, usize, usize, &mut WidePanel);
/// The panel · `xs` (1..=[`X_MAX`] activation rows, each at least the panel's blocks)
/// -> `out[i][k]` for activation row `i`, weight row `k`; `offs[i]` the row's
/// [`offset_terms`] where the format has an offset (else not read).
/// # Safety
/// As [`Fill`]; the panel was filled by the same format's fill.
pub(crate) type Dot = unsafe fn(&WidePanel, &[&[Q8Block]], &[&[i32]], &mut Out);
/// A group straight from its bytes (`w`, `rows`, `rb` as [`Fill`]) · `xs` (1..=4 rows),
/// as [`Dot`] gives it; `ahead` (the rows a later call takes) is prefetched a part per
/// block meanwhile.
/// # Safety
/// As [`Fill`], each row of `xs` holding a block per weight block.
pub(crate) type Direct =
    unsafe fn((&[u8], &[u8]), usize, usize, &[&[Q8Block]], &[&[i32]], &mut Out);
/// Outputs of a call: activation row, then weight row.
pub(crate) type Out = [[f32; WIDE]; X_MAX];

/// A format's wide kernels and its code offset (the [`offset_terms`] they take).
#[derive(Clone, Copy)]
pub(crate) struct WideKernel {
    pub fill: Fill,
    pub dot: Dot,
    pub direct: Direct,
    pub offset: Option<i8>,
}

/// The wide kernels of `ty` on this CPU: AVX-512 VNNI's where it has them, else
/// AVX2's, else none.
pub(crate) fn kernels(ty: super::GgmlType) -> Option<WideKernel> {
    vnni_kernels(ty).or_else(|| avx2_kernels(ty))
}

/// The AVX-512 VNNI kernels of `ty`, where the type and this CPU have them.
pub(crate) fn vnni_kernels(ty: super::GgmlType) -> Option<WideKernel> {
    #[cfg(target_arch = "x86_64")]
    if super::int8_vnni::available() {
        use super::block_format::Format;
        fn of<F: Format>() -> WideKernel {
            WideKernel {
                fill: x86::fill::<F>,
                dot: x86::dot::<F>,
                direct: x86::direct::<F>,
                offset: F::OFFSET,
            }
        }
        return per_format(ty, [of::<Q4_0>, of::<Q4_1>, of::<Q5_0>, of::<Q5_1>]);
    }
    let _ = ty;
    None
}

/// The AVX2 kernels of `ty` (int8_wide_avx2.rs), where the type and this CPU have them.
pub(crate) fn avx2_kernels(ty: super::GgmlType) -> Option<WideKernel> {
    #[cfg(target_arch = "x86_64")]
    if super::simd::avx2_available() {
        use super::block_format::Format;
        use super::int8_wide_avx2::x86 as avx2;
        fn of<F: Format>() -> WideKernel {
            WideKernel {
                fill: avx2::fill::<F>,
                dot: avx2::dot::<F>,
                direct: avx2::direct::<F>,
                offset: F::OFFSET,
            }
        }
        return per_format(ty, [of::<Q4_0>, of::<Q4_1>, of::<Q5_0>, of::<Q5_1>]);
    }
    let _ = ty;
    None
}

#[cfg(target_arch = "x86_64")]
use super::block_format::{Q4_0, Q4_1, Q5_0, Q5_1};

/// The entry of `of` (Q4_0, Q4_1, Q5_0, Q5_1) for `ty`.
#[cfg(target_arch = "x86_64")]
fn per_format(ty: super::GgmlType, of: [fn() -> WideKernel; 4]) -> Option<WideKernel> {
    use super::GgmlType as G;
    let i = [G::Q4_0, G::Q4_1, G::Q5_0, G::Q5_1]
        .iter()
        .position(|&t| t == ty)?;
    Some(of[i]())
}

/// The block-sum numerics in scalar code: one weight row (`ty`, whole blocks) · one
/// activation row. The statement the kernels are tested against.
#[cfg(test)]
pub(crate) fn reference(ty: super::GgmlType, w: &[u8], x: &[Q8Block]) -> f32 {
    use super::GgmlType as G;
    let f16 = |b: &[u8], at: usize| half::f16::from_le_bytes([b[at], b[at + 1]]).to_f32();
    let (bs, codes, high, off, min) = match ty {
        G::Q4_0 => (18, 2, None, 8, false),
        G::Q4_1 => (20, 4, None, 0, true),
        G::Q5_0 => (22, 6, Some(2), 16, false),
        G::Q5_1 => (24, 8, Some(4), 0, true),
        _ => panic!("{ty} has no wide kernel"),
    };
    let (mut acc, mut accm) = ([0f32; 2], 0f32);
    for (j, (b, y)) in w.chunks_exact(bs).zip(x).enumerate() {
        let hb = high.map_or(0, |at| {
            u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
        });
        let s: i32 = (0..32)
            .map(|i| {
                let nib = (b[codes + i % 16] >> (4 * (i / 16))) & 0x0f;
                let u = nib as i32 + 16 * ((hb >> i) & 1) as i32;
                (u - off) * y.qs[i] as i32
            })
            .sum();
        acc[j % 2] = (f16(b, 0) * y.d).mul_add(s as f32, acc[j % 2]);
        if min {
            accm = f16(b, 2).mul_add(y.s, accm);
        }
    }
    if min {
        (acc[0] + acc[1]) + accm
    } else {
        acc[0] + acc[1]
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use super::super::act::Q8Block;
    use super::super::block_format::Format;
    use super::{Lanes, Out, WidePanel, VECS, WIDE, X_MAX};
    use crate::kernels::prefetch::Spread;
    use std::arch::x86_64::*;

    /// One block of sixteen rows in registers.
    struct Block {
        q: [__m512i; VECS],
        d: __m512,
        m: __m512,
    }

    /// Byte offsets of a group's rows from its first (missing rows repeat the last), and
    /// the same as a vector for the scale gathers.
    struct Rows {
        at: [usize; WIDE],
        idx: __m512i,
    }

    /// # Safety
    /// AVX-512F is available; `rows` is 1..=[`WIDE`] and `rb` [`super::fits`] (both
    /// checked).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn rows(rows: usize, rb: usize) -> Rows {
        assert!((1..=WIDE).contains(&rows) && super::fits(rb));
        let mut at = [0usize; WIDE];
        let mut i32s = [0i32; WIDE];
        for r in 0..WIDE {
            at[r] = r.min(rows - 1) * rb;
            i32s[r] = at[r] as i32;
        }
        Rows {
            at,
            idx: _mm512_loadu_si512(i32s.as_ptr() as *const _),
        }
    }

    /// The 16 bytes at `p`.
    /// # Safety
    /// `p .. p + 16` is readable.
    #[inline(always)]
    unsafe fn load16(p: *const u8) -> __m128i {
        _mm_loadu_si128(p as *const __m128i)
    }

    /// Within each 128-bit lane, the 4 x 4 transpose of 32-bit elements across `v`:
    /// element `e` of lane `l` of output `k` is element `k` of lane `l` of `v[e]`.
    /// # Safety
    /// AVX-512F is available (register-only).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(in super::super) unsafe fn transpose4(v: [__m512i; 4]) -> [__m512i; 4] {
        let t0 = _mm512_unpacklo_epi32(v[0], v[1]);
        let t1 = _mm512_unpackhi_epi32(v[0], v[1]);
        let t2 = _mm512_unpacklo_epi32(v[2], v[3]);
        let t3 = _mm512_unpackhi_epi32(v[2], v[3]);
        [
            _mm512_unpacklo_epi64(t0, t2),
            _mm512_unpackhi_epi64(t0, t2),
            _mm512_unpacklo_epi64(t1, t3),
            _mm512_unpackhi_epi64(t1, t3),
        ]
    }

    /// Adds 16 to the codes whose fifth bit is set: `h` holds each row's 32 bits (bit
    /// `i` for value `i`), and byte `4r + i` of `q[v]` is value `4v + i` of row `r`.
    /// Byte `v / 2` of a row's bits, copied over its four bytes and tested against
    /// `1, 2, 4, 8` (even `v`) or `16, 32, 64, 128` (odd), gives the vector's mask.
    /// # Safety
    /// AVX-512 F/BW are available (register-only).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn fifth_bits(q: &mut [__m512i; VECS], h: __m512i) {
        let bit4 = _mm512_set1_epi8(0x10);
        let low = _mm512_set1_epi32(0x0804_0201);
        let high = _mm512_set1_epi32(0x8040_2010u32 as i32);
        // Byte 4d of each dword d of a 128-bit lane, over the dword's four bytes.
        let (a, b, c) = (0x0404_0404, 0x0808_0808, 0x0c0c_0c0c);
        let firsts = _mm512_setr_epi32(0, a, b, c, 0, a, b, c, 0, a, b, c, 0, a, b, c);
        for c in 0..VECS / 2 {
            let ctrl = _mm512_add_epi8(firsts, _mm512_set1_epi8(c as i8));
            let spread = _mm512_shuffle_epi8(h, ctrl);
            for (v, bits) in [(2 * c, low), (2 * c + 1, high)] {
                let m = _mm512_test_epi8_mask(spread, bits);
                q[v] = _mm512_mask_add_epi8(q[v], m, q[v], bit4);
            }
        }
    }

    /// Block `b` (its first row's block; the others at `r.at`) of sixteen rows.
    /// Register `g` takes rows `g, g + 4, g + 8, g + 12` in its lanes, so that after
    /// the transposes element `4l + g` of every vector is row `4l + g`.
    /// # Safety
    /// AVX-512 VNNI etc. are available; each row's block at `b + r.at[k]` is readable.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn decode<F: Format>(b: *const u8, r: &Rows) -> Block {
        let mask = _mm512_set1_epi8(0x0f);
        let (mut lo, mut hi) = ([_mm512_setzero_si512(); 4], [_mm512_setzero_si512(); 4]);
        for g in 0..4 {
            let row = |l: usize| b.add(r.at[4 * l + g]);
            let z = _mm512_castsi128_si512(load16(row(0).add(F::CODES)));
            let z = _mm512_inserti32x4::<1>(z, load16(row(1).add(F::CODES)));
            let z = _mm512_inserti32x4::<2>(z, load16(row(2).add(F::CODES)));
            let z = _mm512_inserti32x4::<3>(z, load16(row(3).add(F::CODES)));
            lo[g] = _mm512_and_si512(z, mask);
            hi[g] = _mm512_and_si512(_mm512_srli_epi16::<4>(z), mask);
        }
        let (l, h) = (transpose4(lo), transpose4(hi));
        let mut q = [l[0], l[1], l[2], l[3], h[0], h[1], h[2], h[3]];
        if let Some(at) = F::HIGH_BITS {
            fifth_bits(
                &mut q,
                _mm512_i32gather_epi32::<1>(r.idx, b.add(at) as *const _),
            );
        }
        // Each row's first four bytes: `d` (and `m` after it where the format has one).
        let dm = _mm512_i32gather_epi32::<1>(r.idx, b as *const _);
        let half = |v: __m512i| _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
        Block {
            q,
            d: half(dm),
            m: if F::HAS_MIN {
                half(_mm512_srli_epi32::<16>(dm))
            } else {
                _mm512_setzero_ps()
            },
        }
    }

    /// Block `j` against `N` activation rows (`xs`, with their offset terms `offs` where
    /// `F` has an offset): the exact block sums, then each row's float step.
    /// # Safety
    /// AVX-512 VNNI etc. are available; `xs` (and `offs`) hold `N` rows of more than `j`
    /// blocks.
    #[inline(always)]
    unsafe fn step<F: Format, const N: usize>(
        k: &Block,
        (xs, offs, j): (&[&[Q8Block]], &[&[i32]], usize),
        acc: &mut [__m512; N],
        accm: &mut [__m512; N],
    ) {
        let ys: [&Q8Block; N] = std::array::from_fn(|i| xs.get_unchecked(i).get_unchecked(j));
        let mut s = [_mm512_setzero_si512(); N];
        if F::OFFSET.is_some() {
            for (si, o) in s.iter_mut().zip(offs) {
                *si = _mm512_set1_epi32(*o.get_unchecked(j));
            }
        }
        // Rows interleaved, so that N chains of `vpdpbusd` are in flight.
        for v in 0..VECS {
            for i in 0..N {
                let y4 = (ys[i].qs.as_ptr().add(4 * v) as *const i32).read_unaligned();
                s[i] = _mm512_dpbusd_epi32(s[i], k.q[v], _mm512_set1_epi32(y4));
            }
        }
        for i in 0..N {
            let dd = _mm512_mul_ps(k.d, _mm512_set1_ps(ys[i].d));
            acc[i] = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(s[i]), acc[i]);
            if F::HAS_MIN {
                accm[i] = _mm512_fmadd_ps(k.m, _mm512_set1_ps(ys[i].s), accm[i]);
            }
        }
    }

    /// The outputs from the two chains.
    /// # Safety
    /// AVX-512F is available; `N <= X_MAX`.
    #[inline(always)]
    unsafe fn finish<F: Format, const N: usize>(
        acc: [[__m512; N]; 2],
        accm: [__m512; N],
        out: &mut Out,
    ) {
        for i in 0..N {
            let a = _mm512_add_ps(acc[0][i], acc[1][i]);
            let v = if F::HAS_MIN {
                _mm512_add_ps(a, accm[i])
            } else {
                a
            };
            _mm512_storeu_ps(out[i].as_mut_ptr(), v);
        }
    }

    /// # Safety
    /// As [`super::Fill`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn fill<F: Format>(
        w: &[u8],
        rb: usize,
        n_rows: usize,
        nb: usize,
        p: &mut WidePanel,
    ) {
        let r = rows(n_rows, rb);
        assert!(w.len() >= (n_rows - 1) * rb + nb * F::BS && rb >= nb * F::BS);
        p.nb = nb;
        p.codes.resize(nb * VECS, Lanes::default());
        p.d.resize(nb * WIDE, 0.0);
        if F::HAS_MIN {
            p.m.resize(nb * WIDE, 0.0);
        }
        for j in 0..nb {
            let k = decode::<F>(w.as_ptr().add(j * F::BS), &r);
            let dst = p.codes.as_mut_ptr().add(j * VECS) as *mut __m512i;
            for (v, q) in k.q.iter().enumerate() {
                _mm512_store_si512(dst.add(v), *q);
            }
            _mm512_storeu_ps(p.d.as_mut_ptr().add(j * WIDE), k.d);
            if F::HAS_MIN {
                _mm512_storeu_ps(p.m.as_mut_ptr().add(j * WIDE), k.m);
            }
        }
    }

    /// The panel against `N` activation rows.
    /// # Safety
    /// As [`super::Dot`], with `xs.len() == N` (and `offs` where `F` has an offset).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn panel_rows<F: Format, const N: usize>(
        p: &WidePanel,
        xs: &[&[Q8Block]],
        offs: &[&[i32]],
        out: &mut Out,
    ) {
        let (mut acc, mut accm) = ([[_mm512_setzero_ps(); N]; 2], [_mm512_setzero_ps(); N]);
        let src = p.codes.as_ptr() as *const __m512i;
        for j in 0..p.nb {
            let mut q = [_mm512_setzero_si512(); VECS];
            for (v, qv) in q.iter_mut().enumerate() {
                *qv = _mm512_load_si512(src.add(j * VECS + v));
            }
            let k = Block {
                q,
                d: _mm512_loadu_ps(p.d.as_ptr().add(j * WIDE)),
                m: if F::HAS_MIN {
                    _mm512_loadu_ps(p.m.as_ptr().add(j * WIDE))
                } else {
                    _mm512_setzero_ps()
                },
            };
            step::<F, N>(&k, (xs, offs, j), &mut acc[j % 2], &mut accm);
        }
        finish::<F, N>(acc, accm, out);
    }

    /// Checks a call's activation rows: 1..=`most` rows of at least `nb` blocks, and
    /// their offset terms where the format has an offset.
    pub(in super::super) fn check<F: Format>(
        xs: &[&[Q8Block]],
        offs: &[&[i32]],
        nb: usize,
        most: usize,
    ) {
        assert!(
            (1..=most).contains(&xs.len()) && xs.iter().all(|x| x.len() >= nb),
            "{nb} blocks against {} activation rows",
            xs.len()
        );
        let summed = offs.len() >= xs.len() && offs.iter().all(|o| o.len() >= nb);
        assert!(F::OFFSET.is_none() || summed, "offset terms missing");
    }

    /// # Safety
    /// As [`super::Dot`], with AVX-512 VNNI checked by [`super::kernels`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn dot<F: Format>(
        p: &WidePanel,
        xs: &[&[Q8Block]],
        offs: &[&[i32]],
        out: &mut Out,
    ) {
        check::<F>(xs, offs, p.nb, X_MAX);
        assert!(p.codes.len() >= p.nb * VECS && p.d.len() >= p.nb * WIDE);
        assert!(!F::HAS_MIN || p.m.len() >= p.nb * WIDE);
        match xs.len() {
            1 => panel_rows::<F, 1>(p, xs, offs, out),
            2 => panel_rows::<F, 2>(p, xs, offs, out),
            3 => panel_rows::<F, 3>(p, xs, offs, out),
            4 => panel_rows::<F, 4>(p, xs, offs, out),
            5 => panel_rows::<F, 5>(p, xs, offs, out),
            6 => panel_rows::<F, 6>(p, xs, offs, out),
            7 => panel_rows::<F, 7>(p, xs, offs, out),
            _ => panel_rows::<F, 8>(p, xs, offs, out),
        }
    }

    /// A group from its bytes against `N` activation rows.
    /// # Safety
    /// As [`super::Direct`], with `xs.len() == N`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn direct_rows<F: Format, const N: usize>(
        (w, ahead): (&[u8], &[u8]),
        r: &Rows,
        nb: usize,
        xs: &[&[Q8Block]],
        offs: &[&[i32]],
        out: &mut Out,
    ) {
        let (mut acc, mut accm) = ([[_mm512_setzero_ps(); N]; 2], [_mm512_setzero_ps(); N]);
        let spread = Spread::new(ahead, nb);
        for j in 0..nb {
            spread.part(j);
            let k = decode::<F>(w.as_ptr().add(j * F::BS), r);
            step::<F, N>(&k, (xs, offs, j), &mut acc[j % 2], &mut accm);
        }
        finish::<F, N>(acc, accm, out);
    }

    /// # Safety
    /// As [`super::Direct`], with AVX-512 VNNI checked by [`super::kernels`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn direct<F: Format>(
        (w, ahead): (&[u8], &[u8]),
        rb: usize,
        n_rows: usize,
        xs: &[&[Q8Block]],
        offs: &[&[i32]],
        out: &mut Out,
    ) {
        let r = rows(n_rows, rb);
        let nb = xs.iter().map(|x| x.len()).fold(rb / F::BS, usize::min);
        check::<F>(xs, offs, nb, 4);
        assert!(w.len() >= (n_rows - 1) * rb + nb * F::BS);
        match xs.len() {
            1 => direct_rows::<F, 1>((w, ahead), &r, nb, xs, offs, out),
            2 => direct_rows::<F, 2>((w, ahead), &r, nb, xs, offs, out),
            3 => direct_rows::<F, 3>((w, ahead), &r, nb, xs, offs, out),
            _ => direct_rows::<F, 4>((w, ahead), &r, nb, xs, offs, out),
        }
    }
}
