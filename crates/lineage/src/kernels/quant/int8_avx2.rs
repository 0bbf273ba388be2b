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
            G::Q4_0 => Some(x86::tile::<x86::Q4_0> as Tile),
            G::Q4_1 => Some(x86::tile::<x86::Q4_1>),
            G::Q5_0 => Some(x86::tile::<x86::Q5_0>),
            G::Q5_1 => Some(x86::tile::<x86::Q5_1>),
            G::Q8_0 => Some(x86::tile::<x86::Q8_0>),
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
    pub(super) use super::super::block_format::{Format, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0};
    use super::super::int8_vnni::{W_ROWS, X_ROWS};
    use super::super::simd::x86::*;
    use std::arch::x86_64::*;

    type Out = [[f32; W_ROWS]; X_ROWS];

    /// One block's 32 codes: the nibble formats' (offset taken off in integers, as the
    /// `Codes` of q4.rs / q5.rs do), or Q8_0's signed bytes.
    /// # Safety
    /// AVX2, FMA and F16C are available; the block at `b` is readable.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load<F: Format>(b: *const u8) -> __m256i {
        if F::Q8 {
            return _mm256_loadu_si256(b.add(2) as *const __m256i);
        }
        let mut q = nibbles_32(b.add(F::CODES));
        if let Some(at) = F::HIGH_BITS {
            let fifth = _mm256_and_si256(bytes_from_bits_32(b.add(at)), _mm256_set1_epi8(0x10));
            q = _mm256_or_si256(q, fifth);
        }
        match F::OFFSET {
            Some(o) => _mm256_sub_epi8(q, _mm256_set1_epi8(o)),
            None => q,
        }
    }

    /// `R` weight rows (`rb` bytes apart from `w`) against `N` activation rows over `nb`
    /// blocks: `out[i][k]` for activation row `i`, weight row `k`, each summed as the
    /// AVX2 row kernel sums it.
    /// # Safety
    /// AVX2, FMA and F16C are available; `w + k * rb` holds `nb` blocks of `F` for k < R;
    /// `xs.len() >= N` and each of them holds `nb` blocks.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn rows<F: Format, const R: usize, const N: usize>(
        w: *const u8,
        rb: usize,
        nb: usize,
        xs: &[&[Q8Block]],
    ) -> [[f32; R]; N] {
        let mut acc = [[_mm256_setzero_ps(); R]; N];
        let mut offs = [[0f32; R]; N];
        let (mut d, mut m) = ([0f32; R], [0f32; R]);
        let mut q = [_mm256_setzero_si256(); R];
        for j in 0..nb {
            let b = w.add(j * F::BS);
            for k in 0..R {
                let bk = b.add(k * rb);
                d[k] = f16_to_f32(bk);
                if F::HAS_MIN {
                    m[k] = f16_to_f32(bk.add(2));
                }
                q[k] = load::<F>(bk);
            }
            for i in 0..N {
                let y = xs.get_unchecked(i).get_unchecked(j);
                let yq = _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i);
                for k in 0..R {
                    // Signed codes (Q8_0, the offset formats) as q8.rs and `Codes` multiply
                    // them (`|q|` by `y` signed by `q`); Q4_1/Q5_1's stay unsigned.
                    let p = if F::Q8 || F::OFFSET.is_some() {
                        dot_i8_i8(q[k], yq)
                    } else {
                        dot_u8_i8(q[k], yq)
                    };
                    let p = _mm256_cvtepi32_ps(p);
                    acc[i][k] = _mm256_fmadd_ps(_mm256_set1_ps(d[k] * y.d), p, acc[i][k]);
                    if F::HAS_MIN {
                        offs[i][k] += m[k] * y.s;
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
    fn put<const R: usize, const N: usize>(out: &mut Out, k0: usize, v: [[f32; R]; N]) {
        for (o, vi) in out.iter_mut().zip(v) {
            o[k0..k0 + R].copy_from_slice(&vi);
        }
    }

    /// The [`super::Tile`] over format `F`: four weight rows at once for one or two
    /// activation rows, two at a time for three or four.
    /// # Safety
    /// As [`super::Tile`]; AVX2, FMA and F16C are available.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn tile<F: Format>(w: &[u8], rb: usize, xs: &[&[Q8Block]], out: &mut Out) {
        let nb = xs.iter().map(|x| x.len()).fold(rb / F::BS, usize::min);
        assert!((1..=X_ROWS).contains(&xs.len()) && w.len() >= W_ROWS * rb);
        let (p, half) = (w.as_ptr(), 2 * rb);
        match xs.len() {
            1 => put(out, 0, rows::<F, 4, 1>(p, rb, nb, xs)),
            2 => put(out, 0, rows::<F, 4, 2>(p, rb, nb, xs)),
            3 => {
                put(out, 0, rows::<F, 2, 3>(p, rb, nb, xs));
                put(out, 2, rows::<F, 2, 3>(p.add(half), rb, nb, xs));
            }
            _ => {
                put(out, 0, rows::<F, 2, 4>(p, rb, nb, xs));
                put(out, 2, rows::<F, 2, 4>(p.add(half), rb, nb, xs));
            }
        }
    }
}
