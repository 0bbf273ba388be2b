//! Q5_0 and Q5_1: 32 weights per block as 5-bit codes (4 low bits packed in nibbles, the
//! fifth bit of element `j` in bit `j` of a little-endian u32 `qh`).
//!
//! Reference: ggml-common.h `block_q5_0 { half d; u8 qh[4]; u8 qs[16]; }`,
//! `block_q5_1 { half d; half m; u8 qh[4]; u8 qs[16]; }`; ggml-quants.c
//! `dequantize_row_q5_0/1`. Q5_0: `x = d * (q - 16)`; Q5_1: `x = d * q + m`.

// Index loops mirror ggml's reference loops (element j and j + 16 side by side).
#![allow(clippy::needless_range_loop)]

use super::act::Q8Block;
use super::float::f16_at;

/// The 32 five-bit codes of one block whose `qh` starts at `b[at]`.
#[inline(always)]
fn codes(b: &[u8], at: usize) -> [u8; 32] {
    let qh = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let mut q = [0u8; 32];
    for j in 0..16 {
        let byte = b[at + 4 + j];
        q[j] = (byte & 0x0f) | ((((qh >> j) & 1) as u8) << 4);
        q[j + 16] = (byte >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
    }
    q
}

pub(crate) fn dequantize_q5_0(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(22).zip(out.chunks_exact_mut(32)) {
        let d = f16_at(b, 0);
        for (o, q) in y.iter_mut().zip(codes(b, 2)) {
            *o = d * (q as i32 - 16) as f32;
        }
    }
}

pub(crate) fn dequantize_q5_1(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(24).zip(out.chunks_exact_mut(32)) {
        let (d, m) = (f16_at(b, 0), f16_at(b, 2));
        for (o, q) in y.iter_mut().zip(codes(b, 4)) {
            *o = d * q as f32 + m;
        }
    }
}

#[inline(always)]
fn code_dot(q: &[u8; 32], y: &Q8Block) -> i32 {
    q.iter()
        .zip(&y.qs)
        .map(|(&a, &b)| a as i32 * b as i32)
        .sum()
}

/// Scalar Q5_0 row · Q8 row.
pub(crate) fn vec_dot_q5_0(w: &[u8], x: &[Q8Block]) -> f32 {
    let mut acc = 0f32;
    for (b, y) in w.chunks_exact(22).zip(x) {
        let s = code_dot(&codes(b, 2), y) - 16 * y.sum;
        acc += f16_at(b, 0) * y.d * s as f32;
    }
    acc
}

/// Scalar Q5_1 row · Q8 row.
pub(crate) fn vec_dot_q5_1(w: &[u8], x: &[Q8Block]) -> f32 {
    let mut acc = 0f32;
    for (b, y) in w.chunks_exact(24).zip(x) {
        let s = code_dot(&codes(b, 4), y);
        acc += f16_at(b, 0) * y.d * s as f32 + f16_at(b, 2) * y.s;
    }
    acc
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::super::act::Q8Block;
    use super::super::simd::x86::*;
    use std::arch::x86_64::*;

    /// One weight row against `N` activation rows (see `q4::avx2::dot_nibbles`);
    /// the fifth bits come from `qh` spread to bytes.
    /// # Safety
    /// AVX2, FMA and F16C are available; `bsize` is the block size of the layout (`d` at
    /// 0..2, `m` at 2..4 if `has_min`, `qh` at `qh_at..+4`, 16 code bytes after it, so
    /// `qh_at + 20 <= bsize`). Block `j < nb <= w.len() / bsize` is
    /// `w[j * bsize..][..bsize]`, and `get_unchecked(j)` has `j < nb <= xs[k].len()`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot_codes<const N: usize>(
        w: &[u8],
        xs: [&[Q8Block]; N],
        bsize: usize,
        has_min: bool,
    ) -> [f32; N] {
        let mut acc = [_mm256_setzero_ps(); N];
        let mut offs = [0f32; N];
        let qh_at = if has_min { 4 } else { 2 };
        let bit4 = _mm256_set1_epi8(0x10);
        debug_assert!(qh_at + 20 <= bsize && w.len() % bsize == 0);
        debug_assert!(xs.iter().all(|x| x.len() == w.len() / bsize));
        let nb = xs.iter().map(|x| x.len()).fold(w.len() / bsize, usize::min);
        for j in 0..nb {
            let b = w.as_ptr().add(j * bsize);
            let d = f16_to_f32(b);
            let m = if has_min {
                f16_to_f32(b.add(2))
            } else {
                0.0 // Q5_0: the offset leaves the codes below instead
            };
            let hi = _mm256_and_si256(bytes_from_bits_32(b.add(qh_at)), bit4);
            let q = _mm256_or_si256(nibbles_32(b.add(qh_at + 4)), hi);
            let codes = Codes::new(q, (!has_min).then_some(16));
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
    pub unsafe fn vec_dot_q5_0(w: &[u8], x: &[Q8Block]) -> f32 {
        dot_codes::<1>(w, [x], 22, false)[0]
    }

    /// # Safety
    /// The CPU must support AVX2, FMA and F16C (dispatch.rs checks `avx2_available`).
    /// Any lengths: the kernel reads `min(w.len() / BYTES, x.len())` blocks.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn vec_dot_q5_1(w: &[u8], x: &[Q8Block]) -> f32 {
        dot_codes::<1>(w, [x], 24, true)[0]
    }

    /// # Safety
    /// The CPU must support AVX2, FMA and F16C (dispatch.rs checks `avx2_available`).
    /// Any lengths: the kernel reads `min(w.len() / BYTES, x.len())` blocks.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn vec_dot4_q5_0(w: &[u8], xs: [&[Q8Block]; 4]) -> [f32; 4] {
        dot_codes::<4>(w, xs, 22, false)
    }

    /// # Safety
    /// The CPU must support AVX2, FMA and F16C (dispatch.rs checks `avx2_available`).
    /// Any lengths: the kernel reads `min(w.len() / BYTES, x.len())` blocks.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn vec_dot4_q5_1(w: &[u8], xs: [&[Q8Block]; 4]) -> [f32; 4] {
        dot_codes::<4>(w, xs, 24, true)
    }
}
