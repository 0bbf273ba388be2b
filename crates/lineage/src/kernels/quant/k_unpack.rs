//! Unpacking of the K-quant super-blocks (256 weights) into one integer form,
//! [`KBlock`]: `x[i] = d * scales[g] * (u[i] - off) - dmin * mins[g]` with `g = i / 16`.
//!
//! Reference: ggml-common.h `block_q2_K .. block_q6_K` and ggml-quants.c
//! `dequantize_row_q{2..6}_K`; the element orders below are those loops flattened
//! (cross-checked with gguf-py `quants.py`, which writes them as reshapes).

// Index loops mirror ggml's reference loops (element j and j + 16 side by side).
#![allow(clippy::needless_range_loop)]

use super::float::f16_at;

/// One super-block in integer form. `u` holds codes in `0..=63`.
pub(crate) struct KBlock {
    pub u: [u8; 256],
    pub scales: [i16; 16],
    pub mins: [i16; 16],
    pub d: f32,
    pub dmin: f32,
    /// Code offset: 0 for Q2_K/Q4_K/Q5_K, 4 for Q3_K, 32 for Q6_K.
    pub off: i32,
}

impl KBlock {
    fn new(d: f32, dmin: f32, off: i32) -> Self {
        Self {
            u: [0; 256],
            scales: [0; 16],
            mins: [0; 16],
            d,
            dmin,
            off,
        }
    }
}

/// Q2_K `{ u8 scales[16]; u8 qs[64]; half d; half dmin; }` (84 bytes).
pub(crate) fn unpack_q2_k(b: &[u8]) -> KBlock {
    let mut k = KBlock::new(f16_at(b, 80), f16_at(b, 82), 0);
    for g in 0..16 {
        k.scales[g] = (b[g] & 0x0f) as i16;
        k.mins[g] = (b[g] >> 4) as i16;
    }
    for (e, u) in k.u.iter_mut().enumerate() {
        let (n, j, l) = (e / 128, (e % 128) / 32, e % 32);
        *u = (b[16 + 32 * n + l] >> (2 * j)) & 3;
    }
    k
}

/// Q3_K `{ u8 hmask[32]; u8 qs[64]; u8 scales[12]; half d; }` (110 bytes). A clear
/// high bit means "subtract 4", so `u = low2 + 4 * hbit` with offset 4.
pub(crate) fn unpack_q3_k(b: &[u8]) -> KBlock {
    let mut k = KBlock::new(f16_at(b, 108), 0.0, 4);
    let sc = &b[96..108];
    for g in 0..16 {
        let low = if g < 8 { sc[g] & 0x0f } else { sc[g - 8] >> 4 };
        let high = (sc[8 + g % 4] >> (2 * (g / 4))) & 3;
        k.scales[g] = (low | (high << 4)) as i16 - 32;
    }
    for (e, u) in k.u.iter_mut().enumerate() {
        let (n, j, l) = (e / 128, (e % 128) / 32, e % 32);
        let low = (b[32 + 32 * n + l] >> (2 * j)) & 3;
        let hbit = (b[l] >> (e / 32)) & 1;
        *u = low | (hbit << 2);
    }
    k
}

/// The 6-bit scale and min of sub-block `j` (of 8) from Q4_K/Q5_K's 12 packed bytes.
#[inline(always)]
pub(crate) fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

fn set_k4_scales(k: &mut KBlock, sc: &[u8]) {
    for j in 0..8 {
        let (s, m) = scale_min_k4(j, sc);
        k.scales[2 * j] = s as i16;
        k.scales[2 * j + 1] = s as i16;
        k.mins[2 * j] = m as i16;
        k.mins[2 * j + 1] = m as i16;
    }
}

/// Q4_K `{ half d; half dmin; u8 scales[12]; u8 qs[128]; }` (144 bytes).
pub(crate) fn unpack_q4_k(b: &[u8]) -> KBlock {
    let mut k = KBlock::new(f16_at(b, 0), f16_at(b, 2), 0);
    set_k4_scales(&mut k, &b[4..16]);
    let qs = &b[16..144];
    for c in 0..4 {
        for l in 0..32 {
            k.u[64 * c + l] = qs[32 * c + l] & 0x0f;
            k.u[64 * c + 32 + l] = qs[32 * c + l] >> 4;
        }
    }
    k
}

/// Q5_K `{ half d; half dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; }` (176 bytes).
pub(crate) fn unpack_q5_k(b: &[u8]) -> KBlock {
    let mut k = KBlock::new(f16_at(b, 0), f16_at(b, 2), 0);
    set_k4_scales(&mut k, &b[4..16]);
    let (qh, qs) = (&b[16..48], &b[48..176]);
    for c in 0..4 {
        for l in 0..32 {
            let (e0, e1) = (64 * c + l, 64 * c + 32 + l);
            k.u[e0] = (qs[32 * c + l] & 0x0f) | (((qh[l] >> (e0 / 32)) & 1) << 4);
            k.u[e1] = (qs[32 * c + l] >> 4) | (((qh[l] >> (e1 / 32)) & 1) << 4);
        }
    }
    k
}

/// Q6_K `{ u8 ql[128]; u8 qh[64]; i8 scales[16]; half d; }` (210 bytes), offset 32.
pub(crate) fn unpack_q6_k(b: &[u8]) -> KBlock {
    let mut k = KBlock::new(f16_at(b, 208), 0.0, 32);
    for g in 0..16 {
        k.scales[g] = b[192 + g] as i8 as i16;
    }
    for n in 0..2 {
        let (ql, qh) = (&b[64 * n..64 * n + 64], &b[128 + 32 * n..160 + 32 * n]);
        let u = &mut k.u[128 * n..128 * n + 128];
        for l in 0..32 {
            u[l] = (ql[l] & 0x0f) | ((qh[l] & 3) << 4);
            u[l + 32] = (ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4);
            u[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
            u[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
        }
    }
    k
}
