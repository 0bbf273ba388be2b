//! The wide kernels of int8_wide.rs on AVX2 without VNNI (the AVX2-only CPUs, AMD Zen 2
//! and 3 among them): the same sixteen-row groups, panel layout and "block sum"
//! numerics, bit for bit, so a model gives the same outputs on either instruction set.
//!
//! A group runs as two halves of eight rows, one 32-bit lane per row in a 256-bit
//! vector. Without `vpdpbusd` the exact block sums come from `maddubs` (unsigned codes
//! times signed activations, pairs summed to 16 bits), a few vectors' pairs added in 16
//! bits, then `madd` by ones to 32 bits: with codes below 32 and activations within
//! ±127 no step can saturate (see [`PAIRS`]). The float step per row and block is the
//! VNNI kernels' own (`fma(d * dy, S, acc)` in two chains, the min term in a third).
//!
//! Decode (a few activation rows) decodes each block of a half into registers: the rows'
//! 16 code bytes loaded two rows per vector, split into nibbles and transposed in 32-bit
//! steps; scales (and mins, fifth bits) come in by a gather. Prefill fills the shared
//! [`WidePanel`] once per group and runs every activation row against it.
//!
//! Reference: ggml-cpu's AVX2 `mul_sum_us8_pairs_float` (the `maddubs` + `madd` pair
//! sum) and its repacked 8-row GEMV (`repack.cpp`), here over the file's own layout.

#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use super::super::act::Q8Block;
    use super::super::block_format::Format;
    use super::super::int8_wide::x86::check;
    use super::super::int8_wide::{Lanes, Out, WidePanel, VECS, WIDE, X_MAX};
    use crate::kernels::prefetch::{halves as split, Spread};
    use std::arch::x86_64::*;

    /// Rows per half group: the 32-bit lanes of a 256-bit vector.
    const HALF: usize = 8;

    /// How many vectors' `maddubs` pairs can be added in 16 bits before `madd` widens
    /// them: a pair is at most `2 * 15 * 127 = 3810` for 4-bit codes (eight fit under
    /// 32767) and `2 * 31 * 127 = 7874` for 5-bit ones (four fit).
    const fn pairs<F: Format>() -> usize {
        if F::HIGH_BITS.is_some() {
            4
        } else {
            8
        }
    }

    /// One block of a half in registers.
    struct Block {
        q: [__m256i; VECS],
        d: __m256,
        m: __m256,
    }

    /// Byte offsets of a half's rows from the group's first (missing rows repeat the
    /// last), and the same as a vector for the gathers.
    #[derive(Clone, Copy)]
    struct Rows {
        at: [usize; HALF],
        idx: __m256i,
    }

    /// Half `h` of a group of `rows` rows `rb` bytes apart.
    /// # Safety
    /// AVX2 is available; `rows` is 1..=[`WIDE`] and `rb` [`super::super::int8_wide::fits`]
    /// (both checked by the callers).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn half_rows(rows: usize, rb: usize, h: usize) -> Rows {
        let mut at = [0usize; HALF];
        let mut i32s = [0i32; HALF];
        for r in 0..HALF {
            at[r] = (h * HALF + r).min(rows - 1) * rb;
            i32s[r] = at[r] as i32;
        }
        Rows {
            at,
            idx: _mm256_loadu_si256(i32s.as_ptr() as *const _),
        }
    }

    /// The checked rows of both halves.
    fn group_rows(rows: usize, rb: usize) -> [Rows; 2] {
        assert!((1..=WIDE).contains(&rows) && super::super::int8_wide::fits(rb));
        // SAFETY: AVX2 was checked before these kernels were handed out.
        unsafe { [half_rows(rows, rb, 0), half_rows(rows, rb, 1)] }
    }

    /// Within each 128-bit lane, the 4 x 4 transpose of 32-bit elements across `v`:
    /// element `e` of lane `l` of output `k` is element `k` of lane `l` of `v[e]`.
    /// # Safety
    /// AVX2 is available (register-only).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn transpose4(v: [__m256i; 4]) -> [__m256i; 4] {
        let t0 = _mm256_unpacklo_epi32(v[0], v[1]);
        let t1 = _mm256_unpackhi_epi32(v[0], v[1]);
        let t2 = _mm256_unpacklo_epi32(v[2], v[3]);
        let t3 = _mm256_unpackhi_epi32(v[2], v[3]);
        [
            _mm256_unpacklo_epi64(t0, t2),
            _mm256_unpackhi_epi64(t0, t2),
            _mm256_unpacklo_epi64(t1, t3),
            _mm256_unpackhi_epi64(t1, t3),
        ]
    }

    /// Adds 16 to the codes whose fifth bit is set: `h` holds each row's 32 bits (bit
    /// `i` for value `i`), and byte `4r + i` of `q[v]` is value `4v + i` of row `r`.
    /// Byte `v / 2` of a row's bits, copied over its four bytes and masked with
    /// `1, 2, 4, 8` (even `v`) or `16, 32, 64, 128` (odd), gives the vector's bytes.
    /// # Safety
    /// AVX2 is available (register-only).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn fifth_bits(q: &mut [__m256i; VECS], h: __m256i) {
        let bit4 = _mm256_set1_epi8(0x10);
        let low = _mm256_set1_epi32(0x0804_0201);
        let high = _mm256_set1_epi32(0x8040_2010u32 as i32);
        // Byte 4d of each dword d of a 128-bit lane, over the dword's four bytes.
        let (a, b, c) = (0x0404_0404, 0x0808_0808, 0x0c0c_0c0c);
        let firsts = _mm256_setr_epi32(0, a, b, c, 0, a, b, c);
        for c in 0..VECS / 2 {
            let ctrl = _mm256_add_epi8(firsts, _mm256_set1_epi8(c as i8));
            let spread = _mm256_shuffle_epi8(h, ctrl);
            for (v, bits) in [(2 * c, low), (2 * c + 1, high)] {
                let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bits), bits);
                q[v] = _mm256_add_epi8(q[v], _mm256_and_si256(set, bit4));
            }
        }
    }

    /// The f16 halves of each 32-bit lane of `dm` as f32: the low ones (`d`) and the
    /// high ones (`m`).
    /// # Safety
    /// AVX2 and F16C are available (register-only).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn halves(dm: __m256i) -> (__m256, __m256) {
        // Per 128-bit lane: the four low halves, then the four high ones.
        let split = _mm256_setr_epi8(
            0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15, 0, 1, 4, 5, 8, 9, 12, 13, 2, 3,
            6, 7, 10, 11, 14, 15,
        );
        // Quadwords (lane 0 lows, lane 1 lows, lane 0 highs, lane 1 highs).
        let s = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_shuffle_epi8(dm, split));
        (
            _mm256_cvtph_ps(_mm256_castsi256_si128(s)),
            _mm256_cvtph_ps(_mm256_extracti128_si256::<1>(s)),
        )
    }

    /// Block `b` (the group's first row's block) of half `r`. Register `g` takes rows
    /// `g` and `g + 4` in its two 128-bit lanes, so that after the transposes element
    /// `4l + g` of every vector is row `4l + g`.
    /// # Safety
    /// AVX2, FMA and F16C are available; each row's block at `b + r.at[k]` is readable.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn decode<F: Format>(b: *const u8, r: &Rows) -> Block {
        let mask = _mm256_set1_epi8(0x0f);
        let load = |k: usize| _mm_loadu_si128(b.add(r.at[k] + F::CODES) as *const __m128i);
        let (mut lo, mut hi) = ([_mm256_setzero_si256(); 4], [_mm256_setzero_si256(); 4]);
        for g in 0..4 {
            let z = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(load(g)), load(g + 4));
            lo[g] = _mm256_and_si256(z, mask);
            hi[g] = _mm256_and_si256(_mm256_srli_epi16::<4>(z), mask);
        }
        let (l, h) = (transpose4(lo), transpose4(hi));
        let mut q = [l[0], l[1], l[2], l[3], h[0], h[1], h[2], h[3]];
        if let Some(at) = F::HIGH_BITS {
            fifth_bits(
                &mut q,
                _mm256_i32gather_epi32::<1>(b.add(at) as *const i32, r.idx),
            );
        }
        // Each row's first four bytes: `d` (and `m` after it where the format has one).
        let (d, m) = halves(_mm256_i32gather_epi32::<1>(b as *const i32, r.idx));
        Block {
            q,
            d,
            m: if F::HAS_MIN { m } else { _mm256_setzero_ps() },
        }
    }

    /// Block `j` against `N` activation rows (`xs`, with their offset terms `offs` where
    /// `F` has an offset): the exact block sums, then each row's float step.
    /// # Safety
    /// AVX2, FMA and F16C are available; `xs` (and `offs`) hold `N` rows of more than
    /// `j` blocks.
    #[inline(always)]
    unsafe fn step<F: Format, const N: usize>(
        k: &Block,
        (xs, offs, j): (&[&[Q8Block]], &[&[i32]], usize),
        acc: &mut [__m256; N],
        accm: &mut [__m256; N],
    ) {
        let ys: [&Q8Block; N] = std::array::from_fn(|i| xs.get_unchecked(i).get_unchecked(j));
        let ones = _mm256_set1_epi16(1);
        let mut s = [_mm256_setzero_si256(); N];
        if F::OFFSET.is_some() {
            for (si, o) in s.iter_mut().zip(offs) {
                *si = _mm256_set1_epi32(*o.get_unchecked(j));
            }
        }
        for v0 in (0..VECS).step_by(pairs::<F>()) {
            let mut p = [_mm256_setzero_si256(); N];
            for v in v0..v0 + pairs::<F>() {
                for i in 0..N {
                    let y4 = (ys[i].qs.as_ptr().add(4 * v) as *const i32).read_unaligned();
                    let pv = _mm256_maddubs_epi16(k.q[v], _mm256_set1_epi32(y4));
                    p[i] = _mm256_add_epi16(p[i], pv);
                }
            }
            for i in 0..N {
                s[i] = _mm256_add_epi32(s[i], _mm256_madd_epi16(p[i], ones));
            }
        }
        for i in 0..N {
            let dd = _mm256_mul_ps(k.d, _mm256_set1_ps(ys[i].d));
            acc[i] = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(s[i]), acc[i]);
            if F::HAS_MIN {
                accm[i] = _mm256_fmadd_ps(k.m, _mm256_set1_ps(ys[i].s), accm[i]);
            }
        }
    }

    /// The outputs of half `h` from the two chains, into activation rows `i0..i0 + N`.
    /// # Safety
    /// AVX2 is available; `i0 + N <= X_MAX`.
    #[inline(always)]
    unsafe fn finish<F: Format, const N: usize>(
        acc: [[__m256; N]; 2],
        accm: [__m256; N],
        (i0, h): (usize, usize),
        out: &mut Out,
    ) {
        for i in 0..N {
            let a = _mm256_add_ps(acc[0][i], acc[1][i]);
            let v = if F::HAS_MIN {
                _mm256_add_ps(a, accm[i])
            } else {
                a
            };
            _mm256_storeu_ps(out[i0 + i][h * HALF..].as_mut_ptr(), v);
        }
    }

    /// # Safety
    /// As [`super::super::int8_wide::Fill`].
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(in super::super) unsafe fn fill<F: Format>(
        w: &[u8],
        rb: usize,
        n_rows: usize,
        nb: usize,
        p: &mut WidePanel,
    ) {
        let rs = group_rows(n_rows, rb);
        assert!(w.len() >= (n_rows - 1) * rb + nb * F::BS && rb >= nb * F::BS);
        p.nb = nb;
        p.codes.resize(nb * VECS, Lanes::default());
        p.d.resize(nb * WIDE, 0.0);
        if F::HAS_MIN {
            p.m.resize(nb * WIDE, 0.0);
        }
        for j in 0..nb {
            for (h, r) in rs.iter().enumerate() {
                let k = decode::<F>(w.as_ptr().add(j * F::BS), r);
                let dst = p.codes.as_mut_ptr().add(j * VECS) as *mut __m256i;
                for (v, q) in k.q.iter().enumerate() {
                    _mm256_store_si256(dst.add(2 * v + h), *q);
                }
                _mm256_storeu_ps(p.d.as_mut_ptr().add(j * WIDE + h * HALF), k.d);
                if F::HAS_MIN {
                    _mm256_storeu_ps(p.m.as_mut_ptr().add(j * WIDE + h * HALF), k.m);
                }
            }
        }
    }

    /// Half `h` of the panel against activation rows `i0..i0 + N`.
    /// # Safety
    /// As [`super::super::int8_wide::Dot`], with `xs` and `offs` starting at row `i0`
    /// and holding `N` rows.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn panel_rows<F: Format, const N: usize>(
        p: &WidePanel,
        (xs, offs): (&[&[Q8Block]], &[&[i32]]),
        (i0, h): (usize, usize),
        out: &mut Out,
    ) {
        let (mut acc, mut accm) = ([[_mm256_setzero_ps(); N]; 2], [_mm256_setzero_ps(); N]);
        let src = p.codes.as_ptr() as *const __m256i;
        for j in 0..p.nb {
            let mut q = [_mm256_setzero_si256(); VECS];
            for (v, qv) in q.iter_mut().enumerate() {
                *qv = _mm256_load_si256(src.add((j * VECS + v) * 2 + h));
            }
            let at = j * WIDE + h * HALF;
            let k = Block {
                q,
                d: _mm256_loadu_ps(p.d.as_ptr().add(at)),
                m: if F::HAS_MIN {
                    _mm256_loadu_ps(p.m.as_ptr().add(at))
                } else {
                    _mm256_setzero_ps()
                },
            };
            step::<F, N>(&k, (xs, offs, j), &mut acc[j % 2], &mut accm);
        }
        finish::<F, N>(acc, accm, (i0, h), out);
    }

    /// Activation rows `i0..` of a call (and their offset terms, where there are any).
    fn from<'a, 'b>(
        xs: &'a [&'b [Q8Block]],
        offs: &'a [&'b [i32]],
        i0: usize,
    ) -> (&'a [&'b [Q8Block]], &'a [&'b [i32]]) {
        (&xs[i0..], offs.get(i0..).unwrap_or(&[]))
    }

    /// # Safety
    /// As [`super::super::int8_wide::Dot`], with AVX2 checked by
    /// [`super::super::int8_wide::kernels`].
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(in super::super) unsafe fn dot<F: Format>(
        p: &WidePanel,
        xs: &[&[Q8Block]],
        offs: &[&[i32]],
        out: &mut Out,
    ) {
        check::<F>(xs, offs, p.nb, X_MAX);
        assert!(p.codes.len() >= p.nb * VECS && p.d.len() >= p.nb * WIDE);
        assert!(!F::HAS_MIN || p.m.len() >= p.nb * WIDE);
        // Two activation rows a pass: their chains and sums fill the sixteen registers.
        for h in 0..2 {
            for i0 in (0..xs.len()).step_by(2) {
                let rows = from(xs, offs, i0);
                match xs.len() - i0 {
                    1 => panel_rows::<F, 1>(p, rows, (i0, h), out),
                    _ => panel_rows::<F, 2>(p, rows, (i0, h), out),
                }
            }
        }
    }

    /// Half `r` of a group from its bytes against `N` activation rows from `i0`.
    /// # Safety
    /// As [`super::super::int8_wide::Direct`], with `xs` (and `offs`) starting at `i0`
    /// and holding `N` rows of `nb` blocks.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn direct_rows<F: Format, const N: usize>(
        (w, ahead, nb): (&[u8], &[u8], usize),
        (r, h): (&Rows, usize),
        (xs, offs): (&[&[Q8Block]], &[&[i32]]),
        i0: usize,
        out: &mut Out,
    ) {
        let (mut acc, mut accm) = ([[_mm256_setzero_ps(); N]; 2], [_mm256_setzero_ps(); N]);
        let spread = Spread::new(ahead, nb);
        for j in 0..nb {
            spread.part(j);
            let k = decode::<F>(w.as_ptr().add(j * F::BS), r);
            step::<F, N>(&k, (xs, offs, j), &mut acc[j % 2], &mut accm);
        }
        finish::<F, N>(acc, accm, (i0, h), out);
    }

    /// # Safety
    /// As [`super::super::int8_wide::Direct`], with AVX2 checked by
    /// [`super::super::int8_wide::kernels`].
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(in super::super) unsafe fn direct<F: Format>(
        (w, ahead): (&[u8], &[u8]),
        rb: usize,
        n_rows: usize,
        xs: &[&[Q8Block]],
        offs: &[&[i32]],
        out: &mut Out,
    ) {
        let rs = group_rows(n_rows, rb);
        let nb = xs.iter().map(|x| x.len()).fold(rb / F::BS, usize::min);
        check::<F>(xs, offs, nb, 4);
        assert!(w.len() >= (n_rows - 1) * rb + nb * F::BS);
        // Halves holding only repeats of the last row are skipped (their lanes unread).
        let halves = if n_rows > HALF { 2 } else { 1 };
        for (h, r) in rs.iter().enumerate().take(halves) {
            for i0 in (0..xs.len()).step_by(2) {
                let rows = from(xs, offs, i0);
                // Each half's first pass asks for its half of `ahead`.
                let ahead = match (i0, h) {
                    (0, 0) if halves == 2 => split(ahead).0,
                    (0, 1) => split(ahead).1,
                    (0, _) => ahead,
                    _ => &[],
                };
                match xs.len() - i0 {
                    1 => direct_rows::<F, 1>((w, ahead, nb), (r, h), rows, i0, out),
                    _ => direct_rows::<F, 2>((w, ahead, nb), (r, h), rows, i0, out),
                }
            }
        }
    }
}
