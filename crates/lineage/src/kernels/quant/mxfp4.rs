//! MXFP4 (OCP microscaling FP4) as stored in GGUF: 32 weights per block, one E8M0 scale
//! byte then 16 bytes of E2M1 codes.
//!
//! Reference: ggml-common.h `block_mxfp4 { u8 e; u8 qs[16]; }`, ggml-quants.c
//! `dequantize_row_mxfp4`, ggml-impl.h `ggml_e8m0_to_fp32_half`; gguf-py `quants.py`.
//! Nibble order is ggml's: element `j` is the LOW nibble of `qs[j]` and element `j + 16`
//! the HIGH nibble. (The HF/OpenAI checkpoint layout instead packs elements 2k and 2k+1
//! into byte k; converters reorder.) `kvalues` are the E2M1 values doubled, hence the
//! "half" scale: `x = kvalues[q] * 2^(e - 128)`.

// Index loops mirror ggml's reference loops (element j and j + 16 side by side).
#![allow(clippy::needless_range_loop)]

use super::act::Q8Block;

/// E2M1 code -> value * 2.
pub(crate) const KVALUES: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// `2^(e - 128)` exactly, including the two subnormal cases `e = 0, 1`.
#[inline(always)]
pub(crate) fn e8m0_to_f32_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        ((e as u32) - 1) << 23
    };
    f32::from_bits(bits)
}

pub(crate) fn dequantize_mxfp4(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(17).zip(out.chunks_exact_mut(32)) {
        let d = e8m0_to_f32_half(b[0]);
        for j in 0..16 {
            y[j] = d * KVALUES[(b[1 + j] & 0x0f) as usize] as f32;
            y[j + 16] = d * KVALUES[(b[1 + j] >> 4) as usize] as f32;
        }
    }
}

/// Scalar MXFP4 row · Q8 row.
pub(crate) fn vec_dot_mxfp4(w: &[u8], x: &[Q8Block]) -> f32 {
    let mut acc = 0f32;
    for (b, y) in w.chunks_exact(17).zip(x) {
        let mut s = 0i32;
        for j in 0..16 {
            s += KVALUES[(b[1 + j] & 0x0f) as usize] as i32 * y.qs[j] as i32;
            s += KVALUES[(b[1 + j] >> 4) as usize] as i32 * y.qs[j + 16] as i32;
        }
        acc += e8m0_to_f32_half(b[0]) * y.d * s as f32;
    }
    acc
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::super::act::Q8Block;
    use super::super::simd::x86::*;
    use super::{e8m0_to_f32_half, KVALUES};
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2, FMA and F16C (dispatch.rs checks `avx2_available`).
    /// Any lengths: blocks are `chunks_exact(17)` zipped with `x`; the loads read the 16
    /// bytes of `KVALUES` and bytes 1..17 of each 17-byte block.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn vec_dot_mxfp4(w: &[u8], x: &[Q8Block]) -> f32 {
        debug_assert!(w.len() % 17 == 0 && x.len() == w.len() / 17);
        let t = _mm_loadu_si128(KVALUES.as_ptr() as *const __m128i);
        let table = _mm256_set_m128i(t, t);
        let mut acc = _mm256_setzero_ps();
        for (b, y) in w.chunks_exact(17).zip(x) {
            let q = _mm256_shuffle_epi8(table, nibbles_32(b.as_ptr().add(1)));
            let yq = _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i);
            let p = _mm256_cvtepi32_ps(dot_i8_i8(q, yq));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(e8m0_to_f32_half(b[0]) * y.d), p, acc);
        }
        hsum_ps(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e8m0_half_scale_powers_of_two_exact() {
        assert_eq!(e8m0_to_f32_half(128), 1.0);
        assert_eq!(e8m0_to_f32_half(127), 0.5);
        assert_eq!(e8m0_to_f32_half(1), 2f32.powi(-127));
        assert_eq!(e8m0_to_f32_half(0), 2f32.powi(-128));
    }

    #[test]
    fn mxfp4_low_nibble_is_first_half() {
        let mut block = [0u8; 17];
        block[0] = 128; // scale 1 (half), so x = kvalue
        block[1] = 0x72; // element 0 <- code 2 (=2), element 16 <- code 7 (=12)
        let mut out = [0f32; 32];
        dequantize_mxfp4(&block, &mut out);
        assert_eq!((out[0], out[16], out[1]), (2.0, 12.0, 0.0));
    }
}
