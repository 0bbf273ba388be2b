//! AVX2 tiles for the 8-bit-activation path, for CPUs without AVX-512 VNNI: four weight
//! rows against one to four Q8 activation rows per call, the [`Tile`] contract of
//! int8_vnni.rs.
//!
//! Types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0. Each output is the AVX2 row kernel's (q4.rs,
//! q5.rs, q8.rs), bit for bit: per block the same `maddubs` + `madd` integer sums, the
//! same `fma(d * dy, sum, acc)` in the same 8 lanes, the same scalar min term, and the
//! same `hsum_ps` at the end. What changes is the order of the work, not of any sum:
//! - decode (one activation row): four weight rows at once, so four independent FMA
//!   chains hide the latency one row's chain waits on, and each activation block is
//!   loaded once for four rows;
//! - prefill (three or four activation rows): two weight rows at a time against all of
//!   them (eight accumulators fit AVX2's sixteen registers with the codes beside them).
//!
//! Reference: ggml-cpu `arch/x86/quants.c` (`ggml_vec_dot_q4_0_q8_0` and friends under
//! `__AVX2__`) and its 4-row GEMV (`repack.cpp`), here over rows in their file layout.

use super::int8_vnni::Tile;

/// The AVX2 tile of `ty`, where the type and this CPU have one.
pub(crate) fn tile(ty: super::GgmlType) -> Option<Tile> {
    #[cfg(target_arch = "x86_64")]
    {
        use super::GgmlType as G;
        if !super::simd::avx2_available() {
            return None;
        }
        match ty {
            G::Q4_0 => Some(x86::tile_q4_0 as Tile),
            G::Q4_1 => Some(x86::tile_q4_1),
            G::Q5_0 => Some(x86::tile_q5_0),
            G::Q5_1 => Some(x86::tile_q5_1),
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
mod x86 {
    use super::super::act::Q8Block;
    use super::super::int8_vnni::{W_ROWS, X_ROWS};
    use super::super::simd::x86::*;
    use std::arch::x86_64::*;

    type Out = [[f32; W_ROWS]; X_ROWS];

    /// Where a 32-block format keeps its fields.
    #[derive(Clone, Copy)]
    enum Format {
        /// Q4_0, Q4_1, Q5_0, Q5_1: 16 code bytes at `codes` (low nibbles: values 0..16,
        /// high: 16..32), the fifth bits at `high_bits` (Q5), a float min at byte 2
        /// (`has_min`), else an offset the codes lose in integers.
        Nibbles {
            bs: usize,
            codes: usize,
            high_bits: Option<usize>,
            has_min: bool,
            offset: Option<i8>,
        },
        /// Q8_0: 34-byte blocks, `d` then 32 signed codes.
        Q8,
    }

    impl Format {
        fn block_bytes(self) -> usize {
            match self {
                Format::Nibbles { bs, .. } => bs,
                Format::Q8 => 34,
            }
        }
        fn has_min(self) -> bool {
            matches!(self, Format::Nibbles { has_min: true, .. })
        }
    }

    const Q4_0: Format = Format::Nibbles {
        bs: 18,
        codes: 2,
        high_bits: None,
        has_min: false,
        offset: Some(8),
    };
    const Q4_1: Format = Format::Nibbles {
        bs: 20,
        codes: 4,
        high_bits: None,
        has_min: true,
        offset: None,
    };
    const Q5_0: Format = Format::Nibbles {
        bs: 22,
        codes: 6,
        high_bits: Some(2),
        has_min: false,
        offset: Some(16),
    };
    const Q5_1: Format = Format::Nibbles {
        bs: 24,
        codes: 8,
        high_bits: Some(4),
        has_min: true,
        offset: None,
    };

    /// One block's codes, ready for `dot` against activation bytes: q4.rs / q5.rs
    /// `Codes` for the nibble formats; Q8_0 as q8.rs multiplies, `|q|` against `y`
    /// signed by `q`.
    #[derive(Clone, Copy)]
    enum Block {
        Codes(Codes),
        Q8 { q: __m256i, aq: __m256i },
    }

    impl Block {
        /// # Safety
        /// AVX2, FMA and F16C are available; the block at `b` of format `f` is readable.
        #[inline]
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn load(b: *const u8, f: Format) -> Self {
            match f {
                Format::Nibbles {
                    codes,
                    high_bits,
                    offset,
                    ..
                } => {
                    let mut q = nibbles_32(b.add(codes));
                    if let Some(at) = high_bits {
                        let fifth =
                            _mm256_and_si256(bytes_from_bits_32(b.add(at)), _mm256_set1_epi8(0x10));
                        q = _mm256_or_si256(q, fifth);
                    }
                    Block::Codes(Codes::new(q, offset))
                }
                Format::Q8 => {
                    let q = _mm256_loadu_si256(b.add(2) as *const __m256i);
                    Block::Q8 {
                        q,
                        aq: _mm256_sign_epi8(q, q),
                    }
                }
            }
        }

        /// The 8 lanes of integer sums against activation bytes `y`.
        /// # Safety
        /// AVX2, FMA and F16C are available (register-only).
        #[inline]
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn dot(self, y: __m256i) -> __m256i {
            match self {
                Block::Codes(c) => c.dot(y),
                Block::Q8 { q, aq } => dot_u8_i8(aq, _mm256_sign_epi8(y, q)),
            }
        }
    }

    /// `R` weight rows (`rb` bytes apart from `w`) against `N` activation rows over `nb`
    /// blocks: `out[i][k]` for activation row `i`, weight row `k`, each summed as the
    /// AVX2 row kernel sums it.
    /// # Safety
    /// AVX2, FMA and F16C are available; `w + k * rb` holds `nb` blocks of `f` for k < R;
    /// `xs.len() >= N` and each of them holds `nb` blocks.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn rows<const R: usize, const N: usize>(
        w: *const u8,
        rb: usize,
        nb: usize,
        xs: &[&[Q8Block]],
        f: Format,
    ) -> [[f32; R]; N] {
        let mut acc = [[_mm256_setzero_ps(); R]; N];
        let mut offs = [[0f32; R]; N];
        let bs = f.block_bytes();
        for j in 0..nb {
            let b = w.add(j * bs);
            let at = |k: usize| b.add(k * rb);
            let d: [f32; R] = std::array::from_fn(|k| f16_to_f32(at(k)));
            let m: [f32; R] = std::array::from_fn(|k| {
                if f.has_min() {
                    f16_to_f32(at(k).add(2))
                } else {
                    0.0
                }
            });
            let q: [Block; R] = std::array::from_fn(|k| Block::load(at(k), f));
            for i in 0..N {
                let y = xs.get_unchecked(i).get_unchecked(j);
                let yq = _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i);
                for k in 0..R {
                    let p = _mm256_cvtepi32_ps(q[k].dot(yq));
                    acc[i][k] = _mm256_fmadd_ps(_mm256_set1_ps(d[k] * y.d), p, acc[i][k]);
                    if f.has_min() {
                        offs[i][k] += m[k] * y.s;
                    }
                }
            }
        }
        std::array::from_fn(|i| std::array::from_fn(|k| hsum_ps(acc[i][k]) + offs[i][k]))
    }

    /// Copies `v` into the columns `k0..k0 + R` of `out`'s first `N` rows.
    fn put<const R: usize, const N: usize>(out: &mut Out, k0: usize, v: [[f32; R]; N]) {
        for (o, vi) in out.iter_mut().zip(v) {
            o[k0..k0 + R].copy_from_slice(&vi);
        }
    }

    /// The [`super::Tile`] over format `f`: four weight rows at once for one or two
    /// activation rows, two at a time for three or four.
    /// # Safety
    /// As [`super::Tile`]; AVX2, FMA and F16C are available.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn tile(w: &[u8], rb: usize, xs: &[&[Q8Block]], out: &mut Out, f: Format) {
        let nb = xs
            .iter()
            .map(|x| x.len())
            .fold(rb / f.block_bytes(), usize::min);
        assert!((1..=X_ROWS).contains(&xs.len()) && w.len() >= W_ROWS * rb);
        let (p, half) = (w.as_ptr(), 2 * rb);
        match xs.len() {
            1 => put(out, 0, rows::<4, 1>(p, rb, nb, xs, f)),
            2 => put(out, 0, rows::<4, 2>(p, rb, nb, xs, f)),
            3 => {
                put(out, 0, rows::<2, 3>(p, rb, nb, xs, f));
                put(out, 2, rows::<2, 3>(p.add(half), rb, nb, xs, f));
            }
            _ => {
                put(out, 0, rows::<2, 4>(p, rb, nb, xs, f));
                put(out, 2, rows::<2, 4>(p.add(half), rb, nb, xs, f));
            }
        }
    }

    /// # Safety
    /// As [`super::Tile`]; AVX2, FMA and F16C are available.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn tile_q4_0(w: &[u8], rb: usize, xs: &[&[Q8Block]], out: &mut Out) {
        tile(w, rb, xs, out, Q4_0)
    }

    /// # Safety
    /// As [`super::Tile`]; AVX2, FMA and F16C are available.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn tile_q4_1(w: &[u8], rb: usize, xs: &[&[Q8Block]], out: &mut Out) {
        tile(w, rb, xs, out, Q4_1)
    }

    /// # Safety
    /// As [`super::Tile`]; AVX2, FMA and F16C are available.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn tile_q5_0(w: &[u8], rb: usize, xs: &[&[Q8Block]], out: &mut Out) {
        tile(w, rb, xs, out, Q5_0)
    }

    /// # Safety
    /// As [`super::Tile`]; AVX2, FMA and F16C are available.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn tile_q5_1(w: &[u8], rb: usize, xs: &[&[Q8Block]], out: &mut Out) {
        tile(w, rb, xs, out, Q5_1)
    }

    /// # Safety
    /// As [`super::Tile`]; AVX2, FMA and F16C are available.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn tile_q8_0(w: &[u8], rb: usize, xs: &[&[Q8Block]], out: &mut Out) {
        tile(w, rb, xs, out, Format::Q8)
    }
}
