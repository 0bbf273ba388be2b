//! Q4_0 and Q4_1: 32 weights per block as 4-bit codes with an f16 scale (and f16 min).
//!
//! Reference: ggml-common.h `block_q4_0 { half d; u8 qs[16]; }`,
//! `block_q4_1 { half d; half m; u8 qs[16]; }`; ggml-quants.c `dequantize_row_q4_0/1`:
//! element `j` is the low nibble of `qs[j]`, element `j + 16` the high nibble.
//! Q4_0: `x = d * (q - 8)`; Q4_1: `x = d * q + m`.

// Index loops mirror ggml's reference loops (element j and j + 16 side by side).
#![allow(clippy::needless_range_loop)]

use super::act::Q8Block;
use super::float::f16_at;

pub(crate) fn dequantize_q4_0(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(18).zip(out.chunks_exact_mut(32)) {
        let d = f16_at(b, 0);
        for j in 0..16 {
            y[j] = d * ((b[2 + j] & 0x0f) as i32 - 8) as f32;
            y[j + 16] = d * ((b[2 + j] >> 4) as i32 - 8) as f32;
        }
    }
}

pub(crate) fn dequantize_q4_1(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(20).zip(out.chunks_exact_mut(32)) {
        let (d, m) = (f16_at(b, 0), f16_at(b, 2));
        for j in 0..16 {
            y[j] = d * (b[4 + j] & 0x0f) as f32 + m;
            y[j + 16] = d * (b[4 + j] >> 4) as f32 + m;
        }
    }
}

/// `sum(nibble codes * y.qs)` for the 16 packed bytes `qs`.
#[inline(always)]
fn nibble_dot(qs: &[u8], y: &Q8Block) -> i32 {
    let mut s = 0i32;
    for j in 0..16 {
        s += (qs[j] & 0x0f) as i32 * y.qs[j] as i32 + (qs[j] >> 4) as i32 * y.qs[j + 16] as i32;
    }
    s
}

/// Scalar Q4_0 row · Q8 row. `sum((q - 8) y) = sum(q y) - 8 sum(y)`.
pub(crate) fn vec_dot_q4_0(w: &[u8], x: &[Q8Block]) -> f32 {
    let mut acc = 0f32;
    for (b, y) in w.chunks_exact(18).zip(x) {
        let s = nibble_dot(&b[2..18], y) - 8 * y.sum;
        acc += f16_at(b, 0) * y.d * s as f32;
    }
    acc
}

/// Scalar Q4_1 row · Q8 row. `sum((d q + m) y) = d sum(q y) + m sum(y)`.
pub(crate) fn vec_dot_q4_1(w: &[u8], x: &[Q8Block]) -> f32 {
    let mut acc = 0f32;
    for (b, y) in w.chunks_exact(20).zip(x) {
        let s = nibble_dot(&b[4..20], y);
        acc += f16_at(b, 0) * y.d * s as f32 + f16_at(b, 2) * y.s;
    }
    acc
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::super::act::Q8Block;
    use super::super::simd::x86::*;
    use std::arch::x86_64::*;

    /// One weight row against `N` activation rows: each block is unpacked once and
    /// reused `N` times (the prefill tile), with `N` independent accumulators.
    /// Per block: `d * sum(q y)` in SIMD plus `m * s_y` (Q4_0: `m = -8 d`).
    /// # Safety
    /// AVX2, FMA and F16C are available; `bsize` is the block size of the layout (`d` at
    /// 0..2, `m` at 2..4 if `has_min`, 16 code bytes at `qoff`, so `qoff + 16 <= bsize`).
    /// Block `j < nb <= w.len() / bsize` is `w[j * bsize..][..bsize]`, and
    /// `get_unchecked(j)` has `j < nb <= xs[k].len()`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot_nibbles<const N: usize>(
        w: &[u8],
        xs: [&[Q8Block]; N],
        bsize: usize,
        has_min: bool,
    ) -> [f32; N] {
        let mut acc = [_mm256_setzero_ps(); N];
        let mut offs = [0f32; N];
        let qoff = if has_min { 4 } else { 2 };
        debug_assert!(qoff + 16 <= bsize && w.len() % bsize == 0);
        debug_assert!(xs.iter().all(|x| x.len() == w.len() / bsize));
        let nb = xs.iter().map(|x| x.len()).fold(w.len() / bsize, usize::min);
        for j in 0..nb {
            let b = w.as_ptr().add(j * bsize);
            let d = f16_to_f32(b);
            let m = if has_min {
                f16_to_f32(b.add(2))
            } else {
                0.0 // Q4_0: the offset leaves the codes below instead
            };
            let q = nibbles_32(b.add(qoff));
            let codes = Codes::new(q, (!has_min).then_some(8));
            for k in 0..N {
                let y = xs[k].get_unchecked(j);
                let yq = _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i);
                let p = codes.dot(yq);
                acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * y.d), _mm256_cvtepi32_ps(p), acc[k]);
                if has_min {
                    offs[k] += m * y.s;
                }
            }
        }
        let mut out = [0f32; N];
        for k in 0..N {
            out[k] = hsum_ps(acc[k]) + offs[k];
        }
        out
    }

    /// # Safety
    /// The CPU must support AVX2, FMA and F16C (dispatch.rs checks `avx2_available`).
    /// Any lengths: the kernel reads `min(w.len() / BYTES, x.len())` blocks.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn vec_dot_q4_0(w: &[u8], x: &[Q8Block]) -> f32 {
        dot_nibbles::<1>(w, [x], 18, false)[0]
    }

    /// # Safety
    /// The CPU must support AVX2, FMA and F16C (dispatch.rs checks `avx2_available`).
    /// Any lengths: the kernel reads `min(w.len() / BYTES, x.len())` blocks.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn vec_dot_q4_1(w: &[u8], x: &[Q8Block]) -> f32 {
        dot_nibbles::<1>(w, [x], 20, true)[0]
    }

    /// # Safety
    /// The CPU must support AVX2, FMA and F16C (dispatch.rs checks `avx2_available`).
    /// Any lengths: the kernel reads `min(w.len() / BYTES, x.len())` blocks.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn vec_dot4_q4_0(w: &[u8], xs: [&[Q8Block]; 4]) -> [f32; 4] {
        dot_nibbles::<4>(w, xs, 18, false)
    }

    /// # Safety
    /// The CPU must support AVX2, FMA and F16C (dispatch.rs checks `avx2_available`).
    /// Any lengths: the kernel reads `min(w.len() / BYTES, x.len())` blocks.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn vec_dot4_q4_1(w: &[u8], xs: [&[Q8Block]; 4]) -> [f32; 4] {
        dot_nibbles::<4>(w, xs, 20, true)
    }
}
