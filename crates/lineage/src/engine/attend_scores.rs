//! Attention's score pass: `M` query vectors against the [`BLOCK`] keys of one block,
//! `q · k_j` as one fused multiply-add chain per score down the head dimension, in
//! dimension order. The query vectors come transposed (`qt[d * M + t]`) and the keys as
//! columns (`kt[d * BLOCK + j]`), so each key column is loaded once for all `M` vectors
//! and the `M` chains run side by side.
//!
//! The SIMD builds are written with intrinsics: as plain loops, LLVM vectorizes across
//! the dimension instead (gathering the columns), at a quarter of the speed. Every
//! build computes the same chains, so the same bits.

use super::kv::BLOCK;

/// A build of the score pass.
pub(super) trait ScorePass {
    /// The scores of the `M` vectors of `qt` (`[hd][M]`) against `kt` (`[hd][BLOCK]`).
    /// # Safety
    /// The CPU has the build's features.
    unsafe fn scores<const M: usize>(qt: &[f32], kt: &[f32]) -> [[f32; BLOCK]; M];
}

/// Any CPU.
pub(super) struct Portable;

impl ScorePass for Portable {
    /// # Safety
    /// Safe on any CPU (the trait's contract has nothing to check here).
    #[inline(always)]
    unsafe fn scores<const M: usize>(qt: &[f32], kt: &[f32]) -> [[f32; BLOCK]; M] {
        let hd = qt.len() / M;
        let mut acc = [[0f32; BLOCK]; M];
        for d in 0..hd {
            let col: &[f32; BLOCK] = kt[d * BLOCK..(d + 1) * BLOCK].try_into().expect("a column");
            for t in 0..M {
                let qd = qt[d * M + t];
                for l in 0..BLOCK {
                    acc[t][l] = qd.mul_add(col[l], acc[t][l]);
                }
            }
        }
        acc
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{ScorePass, BLOCK};
    use std::arch::x86_64::*;

    /// AVX2 and FMA: a score row is two 8-wide registers.
    pub(in crate::engine) struct Avx2;

    /// AVX-512F: a score row is one register.
    pub(in crate::engine) struct Avx512;

    impl ScorePass for Avx2 {
        /// # Safety
        /// AVX2 and FMA are available.
        #[inline(always)]
        unsafe fn scores<const M: usize>(qt: &[f32], kt: &[f32]) -> [[f32; BLOCK]; M] {
            let hd = qt.len() / M;
            // The unchecked reads below stay inside these bounds.
            assert!(kt.len() >= hd * BLOCK && qt.len() >= hd * M);
            let mut acc = [[_mm256_setzero_ps(); 2]; M];
            for d in 0..hd {
                let k = kt.as_ptr().add(d * BLOCK);
                let (k0, k1) = (_mm256_loadu_ps(k), _mm256_loadu_ps(k.add(8)));
                for (t, a) in acc.iter_mut().enumerate() {
                    let q = _mm256_set1_ps(*qt.get_unchecked(d * M + t));
                    a[0] = _mm256_fmadd_ps(q, k0, a[0]);
                    a[1] = _mm256_fmadd_ps(q, k1, a[1]);
                }
            }
            std::array::from_fn(|t| {
                let mut out = [0f32; BLOCK];
                _mm256_storeu_ps(out.as_mut_ptr(), acc[t][0]);
                _mm256_storeu_ps(out.as_mut_ptr().add(8), acc[t][1]);
                out
            })
        }
    }

    impl ScorePass for Avx512 {
        /// # Safety
        /// AVX-512F is available.
        #[inline(always)]
        unsafe fn scores<const M: usize>(qt: &[f32], kt: &[f32]) -> [[f32; BLOCK]; M] {
            let hd = qt.len() / M;
            // The unchecked reads below stay inside these bounds.
            assert!(kt.len() >= hd * BLOCK && qt.len() >= hd * M);
            let mut acc = [_mm512_setzero_ps(); M];
            for d in 0..hd {
                let k = _mm512_loadu_ps(kt.as_ptr().add(d * BLOCK));
                for (t, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(_mm512_set1_ps(*qt.get_unchecked(d * M + t)), k, *a);
                }
            }
            std::array::from_fn(|t| {
                let mut out = [0f32; BLOCK];
                _mm512_storeu_ps(out.as_mut_ptr(), acc[t]);
                out
            })
        }
    }
}
