//! The attention loops' SIMD builds: the score pass (`M` query vectors against the
//! [`BLOCK`] keys of one block) and the widening of f16 cache values in registers.
//!
//! A score `q · k_j` is one fused multiply-add chain down the head dimension, in
//! dimension order. The query vectors come transposed (`qt[d * M + t]`) and the keys as
//! columns (`kt[d * BLOCK + j]`), so each key column is loaded once for all `M` vectors
//! and the `M` chains run side by side. The keys are f32, or the f16 cache's halves
//! widened as they are loaded (decode: one pass per block, so widening the block into a
//! scratch copy first would cost a store and a load per value for nothing).
//!
//! The x86 builds are written with intrinsics: as plain loops, LLVM vectorizes across
//! the dimension instead (gathering the columns), at a quarter of the speed. Every
//! build computes the same chains on the same values, so the same bits.

use super::kv::BLOCK;
use crate::kernels::halves::widen_one;

/// A build of the attention loops' inner pieces.
pub(super) trait AttnSimd {
    /// The scores of the `M` vectors of `qt` (`[hd][M]`) against `kt` (`[hd][BLOCK]`).
    /// # Safety
    /// The CPU has the build's features.
    unsafe fn scores<const M: usize>(qt: &[f32], kt: &[f32]) -> [[f32; BLOCK]; M];
    /// [`AttnSimd::scores`] against keys held as halves.
    /// # Safety
    /// As [`AttnSimd::scores`].
    unsafe fn scores_halves<const M: usize>(qt: &[f32], kt: &[u16]) -> [[f32; BLOCK]; M];
    /// The `W` halves at `p`, widened (exactly, as [`widen_one`]).
    /// # Safety
    /// The CPU has the build's features; `p .. p + W` is readable.
    unsafe fn widen<const W: usize>(p: *const u16) -> [f32; W];
}

/// Any CPU.
pub(super) struct Portable;

impl Portable {
    /// The score chains over keys read through `key(d, l)`.
    #[inline(always)]
    pub(super) fn chains<const M: usize>(
        qt: &[f32],
        key: impl Fn(usize, usize) -> f32,
    ) -> [[f32; BLOCK]; M] {
        let hd = qt.len() / M;
        let mut acc = [[0f32; BLOCK]; M];
        for d in 0..hd {
            let col: [f32; BLOCK] = std::array::from_fn(|l| key(d, l));
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

impl AttnSimd for Portable {
    /// # Safety
    /// Safe on any CPU (the trait's contract has nothing to check here).
    #[inline(always)]
    unsafe fn scores<const M: usize>(qt: &[f32], kt: &[f32]) -> [[f32; BLOCK]; M] {
        Self::chains::<M>(qt, |d, l| kt[d * BLOCK + l])
    }
    /// # Safety
    /// Safe on any CPU.
    #[inline(always)]
    unsafe fn scores_halves<const M: usize>(qt: &[f32], kt: &[u16]) -> [[f32; BLOCK]; M] {
        Self::chains::<M>(qt, |d, l| widen_one(kt[d * BLOCK + l]))
    }
    /// # Safety
    /// `p .. p + W` is readable.
    #[inline(always)]
    unsafe fn widen<const W: usize>(p: *const u16) -> [f32; W] {
        std::array::from_fn(|l| widen_one(*p.add(l)))
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{AttnSimd, BLOCK};
    use std::arch::x86_64::*;

    /// AVX2, FMA and F16C: a score row is two 8-wide registers.
    pub(in crate::engine) struct Avx2;

    /// AVX-512F: a score row is one register.
    pub(in crate::engine) struct Avx512;

    /// The AVX2 chains over key columns given by `col(d)` as two registers.
    /// # Safety
    /// AVX2 and FMA are available; `qt` holds `hd * M` values.
    #[inline(always)]
    unsafe fn chains8<const M: usize>(
        qt: &[f32],
        col: impl Fn(usize) -> [__m256; 2],
    ) -> [[f32; BLOCK]; M] {
        let hd = qt.len() / M;
        let mut acc = [[_mm256_setzero_ps(); 2]; M];
        for d in 0..hd {
            let [k0, k1] = col(d);
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

    /// The AVX-512 chains over key columns given by `col(d)`.
    /// # Safety
    /// AVX-512F is available; `qt` holds `hd * M` values.
    #[inline(always)]
    unsafe fn chains16<const M: usize>(
        qt: &[f32],
        col: impl Fn(usize) -> __m512,
    ) -> [[f32; BLOCK]; M] {
        let hd = qt.len() / M;
        let mut acc = [_mm512_setzero_ps(); M];
        for d in 0..hd {
            let k = col(d);
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

    impl AttnSimd for Avx2 {
        /// # Safety
        /// AVX2, FMA and F16C are available.
        #[inline(always)]
        unsafe fn scores<const M: usize>(qt: &[f32], kt: &[f32]) -> [[f32; BLOCK]; M] {
            // The unchecked reads stay inside this bound.
            assert!(kt.len() >= qt.len() / M * BLOCK);
            let k = kt.as_ptr();
            chains8::<M>(qt, |d| {
                let p = k.add(d * BLOCK);
                [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))]
            })
        }
        /// # Safety
        /// As [`Avx2::scores`].
        #[inline(always)]
        unsafe fn scores_halves<const M: usize>(qt: &[f32], kt: &[u16]) -> [[f32; BLOCK]; M] {
            assert!(kt.len() >= qt.len() / M * BLOCK);
            let k = kt.as_ptr();
            chains8::<M>(qt, |d| {
                let [a, b] = half_regs(k.add(d * BLOCK));
                [a, b]
            })
        }
        /// # Safety
        /// AVX2 and F16C are available; `p .. p + W` is readable.
        #[inline(always)]
        unsafe fn widen<const W: usize>(p: *const u16) -> [f32; W] {
            let mut out = [0f32; W];
            let mut l = 0;
            while l + 8 <= W {
                let h = _mm_loadu_si128(p.add(l) as *const __m128i);
                _mm256_storeu_ps(out.as_mut_ptr().add(l), _mm256_cvtph_ps(h));
                l += 8;
            }
            for (l, o) in out.iter_mut().enumerate().skip(l) {
                *o = super::widen_one(*p.add(l));
            }
            out
        }
    }

    /// Sixteen halves at `p` as two 8-wide registers.
    /// # Safety
    /// F16C is available; `p .. p + 16` is readable.
    #[inline(always)]
    unsafe fn half_regs(p: *const u16) -> [__m256; 2] {
        let h = _mm256_loadu_si256(p as *const __m256i);
        [
            _mm256_cvtph_ps(_mm256_castsi256_si128(h)),
            _mm256_cvtph_ps(_mm256_extracti128_si256::<1>(h)),
        ]
    }

    impl AttnSimd for Avx512 {
        /// # Safety
        /// AVX-512F (with AVX2, FMA and F16C) is available.
        #[inline(always)]
        unsafe fn scores<const M: usize>(qt: &[f32], kt: &[f32]) -> [[f32; BLOCK]; M] {
            // The unchecked reads stay inside this bound.
            assert!(kt.len() >= qt.len() / M * BLOCK);
            let k = kt.as_ptr();
            chains16::<M>(qt, |d| _mm512_loadu_ps(k.add(d * BLOCK)))
        }
        /// # Safety
        /// As [`Avx512::scores`].
        #[inline(always)]
        unsafe fn scores_halves<const M: usize>(qt: &[f32], kt: &[u16]) -> [[f32; BLOCK]; M] {
            assert!(kt.len() >= qt.len() / M * BLOCK);
            let k = kt.as_ptr();
            chains16::<M>(qt, |d| {
                _mm512_cvtph_ps(_mm256_loadu_si256(k.add(d * BLOCK) as *const __m256i))
            })
        }
        /// # Safety
        /// As [`Avx512::scores`]; `p .. p + W` is readable.
        #[inline(always)]
        unsafe fn widen<const W: usize>(p: *const u16) -> [f32; W] {
            let mut out = [0f32; W];
            let mut l = 0;
            while l + 16 <= W {
                let h = _mm256_loadu_si256(p.add(l) as *const __m256i);
                _mm512_storeu_ps(out.as_mut_ptr().add(l), _mm512_cvtph_ps(h));
                l += 16;
            }
            if l + 8 <= W {
                let h = _mm_loadu_si128(p.add(l) as *const __m128i);
                _mm256_storeu_ps(out.as_mut_ptr().add(l), _mm256_cvtph_ps(h));
                l += 8;
            }
            for (l, o) in out.iter_mut().enumerate().skip(l) {
                *o = super::widen_one(*p.add(l));
            }
            out
        }
    }
}
