//! The AVX2 tile for Q8_0 on the 8-bit-activation path, for CPUs without AVX-512 VNNI:
//! four weight rows against one to four Q8 activation rows per call, the [`Tile`]
//! contract of int8_vnni.rs. (The nibble formats take the wide kernels,
//! int8_wide_avx2.rs, on every AVX2 CPU.)
//!
//! Each output is the AVX2 row kernel's (q8.rs), bit for bit: per block the same
//! `maddubs` + `madd` integer sums of `|q|` and `y` signed by `q`, the same
//! `fma(d * dy, sum, acc)` in the same 8 lanes, and the same `hsum_ps` at the end. What
//! changes is the order of the work, not of any sum:
//! - decode (one activation row): four weight rows at once, so four independent FMA
//!   chains hide the latency one row's chain waits on, and each activation block is
//!   loaded once for four rows;
//! - prefill (three or four activation rows): two weight rows at a time against all of
//!   them (eight accumulators fit AVX2's sixteen registers with the codes beside them).
//!
//! Reference: ggml-cpu `arch/x86/quants.c` (`ggml_vec_dot_q8_0_q8_0` under `__AVX2__`)
//! and its 4-row GEMV (`repack.cpp`), here over rows in their file layout.

use super::int8_vnni::Tile;

/// The AVX2 tile of `ty` (Q8_0), where this CPU has one.
pub(crate) fn tile(ty: super::GgmlType) -> Option<Tile> {
    #[cfg(target_arch = "x86_64")]
    if ty == super::GgmlType::Q8_0 && super::simd::avx2_available() {
        return Some(x86::tile);
    }
    let _ = ty;
    None
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::act::Q8Block;
    use super::super::int8_vnni::{TileOut as Out, W_ROWS, X_ROWS};
    use super::super::simd::x86::*;
    use crate::kernels::prefetch::{halves, Spread};
    use std::arch::x86_64::*;

    /// Q8_0's block: `d` (f16), then 32 signed codes.
    const BS: usize = 34;

    /// `R` weight rows (`rb` bytes apart from `w`) against `N` activation rows over `nb`
    /// blocks: `out[i][k]` for activation row `i`, weight row `k`, each summed as the
    /// AVX2 row kernel sums it.
    /// # Safety
    /// AVX2, FMA and F16C are available; `w + k * rb` holds `nb` blocks for k < R;
    /// `xs.len() >= N` and each of them holds `nb` blocks.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn rows<const R: usize, const N: usize>(
        (w, ahead): (*const u8, &[u8]),
        rb: usize,
        nb: usize,
        xs: &[&[Q8Block]],
    ) -> [[f32; R]; N] {
        let mut acc = [[_mm256_setzero_ps(); R]; N];
        let mut d = [0f32; R];
        let mut q = [_mm256_setzero_si256(); R];
        let spread = Spread::new(ahead, nb);
        for j in 0..nb {
            spread.part(j);
            let b = w.add(j * BS);
            for k in 0..R {
                let bk = b.add(k * rb);
                d[k] = f16_to_f32(bk);
                q[k] = _mm256_loadu_si256(bk.add(2) as *const __m256i);
            }
            for (i, acc_i) in acc.iter_mut().enumerate() {
                let y = xs.get_unchecked(i).get_unchecked(j);
                let yq = _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i);
                for (k, a) in acc_i.iter_mut().enumerate() {
                    // As q8.rs multiplies them: `|q|` by `y` signed by `q`.
                    let p = _mm256_cvtepi32_ps(dot_i8_i8(q[k], yq));
                    *a = _mm256_fmadd_ps(_mm256_set1_ps(d[k] * y.d), p, *a);
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
    fn put<const R: usize, const N: usize>(out: &mut Out, k0: usize, v: [[f32; R]; N]) {
        for (o, vi) in out.iter_mut().zip(v) {
            o[k0..k0 + R].copy_from_slice(&vi);
        }
    }

    /// The [`super::Tile`]: four weight rows at once for one or two activation rows, two
    /// at a time for three or four.
    /// # Safety
    /// As [`super::Tile`]; AVX2, FMA and F16C are available.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn tile(
        (w, ahead): (&[u8], &[u8]),
        rb: usize,
        xs: &[&[Q8Block]],
        out: &mut Out,
    ) {
        let nb = xs.iter().map(|x| x.len()).fold(rb / BS, usize::min);
        assert!((1..=X_ROWS).contains(&xs.len()) && w.len() >= W_ROWS * rb);
        let (p, half) = (w.as_ptr(), 2 * rb);
        // Two passes over the blocks ask for half of `ahead` each.
        let (a0, a1) = halves(ahead);
        match xs.len() {
            1 => put(out, 0, rows::<4, 1>((p, ahead), rb, nb, xs)),
            2 => put(out, 0, rows::<4, 2>((p, ahead), rb, nb, xs)),
            3 => {
                put(out, 0, rows::<2, 3>((p, a0), rb, nb, xs));
                put(out, 2, rows::<2, 3>((p.add(half), a1), rb, nb, xs));
            }
            _ => {
                put(out, 0, rows::<2, 4>((p, a0), rb, nb, xs));
                put(out, 2, rows::<2, 4>((p.add(half), a1), rb, nb, xs));
            }
        }
    }
}
