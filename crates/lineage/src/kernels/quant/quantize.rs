//! Weight quantizers for the 32-element block formats the kernels read, bit-exact with
//! ggml's reference quantizers (Q8_0 lives with the GGUF export: `train::export::q8_0_bytes`;
//! Q4_K, 256-value super-blocks and not bit-exact, in `quantize_k`).
//!
//! Reference: ggml `ggml-quants.c`:
//! - `quantize_row_q4_0_ref`: `max` is the signed value of largest magnitude (the first
//!   one on ties), `d = max / -8`, `q = min(15, (int8_t)(x / d + 8.5))`, i.e. truncation
//!   toward zero of `x * (1/d) + 8.5`, so halves round up; element `j` in the low nibble of
//!   byte `j`, element `j + 16` in the high nibble. `d` is stored as f16 (nearest even).
//! - `quantize_row_mxfp4_ref`: `e = floor(log2(amax)) - 2 + 127` (0 for an all-zero
//!   block), values snapped to the nearest of the doubled E2M1 grid times
//!   `2^(e - 128)`, the first index winning ties (`best_index_mxfp4`).
//!
//! gguf-py `quants.py` implements the same rules; tests/ablate_posthoc.rs checks these
//! functions against the gguf-py blocks of tests/fixtures/quant.

use super::mxfp4::{e8m0_to_f32_half, KVALUES};
use super::GgmlType;
use crate::{Error, Result};

/// Elements per block of every format here.
const QK: usize = 32;

/// Blocks of `ty` for one row; `row.len()` must be a multiple of the block (32, or 256 for
/// Q4_K). Q8_0, Q4_0, MXFP4 and Q4_K are supported; any other type is an error naming it.
pub fn quantize_row(ty: GgmlType, row: &[f32]) -> Result<Vec<u8>> {
    let block = ty.block_size();
    if !row.len().is_multiple_of(block) {
        return Err(Error::BadInput(format!(
            "quantize {ty}: a row of {} values is not a whole number of {block}-value blocks",
            row.len()
        )));
    }
    match ty {
        GgmlType::Q8_0 => Ok(crate::train::export::q8_0_bytes(row)),
        GgmlType::Q4_0 => Ok(q4_0_bytes(row)),
        GgmlType::MXFP4 => Ok(mxfp4_bytes(row)),
        GgmlType::Q4_K => Ok(super::quantize_k::q4_k_bytes(row)),
        _ => Err(Error::UnsupportedTensorType {
            tensor: format!("quantize_row({ty})"),
            ggml_type: ty.id(),
        }),
    }
}

/// Q4_0 blocks (18 bytes per 32 values) of one row whose length is a multiple of 32.
pub fn q4_0_bytes(row: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(row.len() / QK * 18);
    for block in row.chunks_exact(QK) {
        // The signed value of largest magnitude; a strict `<` keeps the first on ties.
        let (mut amax, mut max) = (0f32, 0f32);
        for &v in block {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&half::f16::from_f32(d).to_le_bytes());
        // `as i8` truncates toward zero like C's `(int8_t)` cast of a float in range.
        let code = |x: f32| ((x * id + 8.5) as i8).clamp(0, 15) as u8;
        for j in 0..QK / 2 {
            out.push(code(block[j]) | (code(block[j + QK / 2]) << 4));
        }
    }
    out
}

/// MXFP4 blocks (17 bytes per 32 values: E8M0 scale, 16 bytes of E2M1 codes).
pub fn mxfp4_bytes(row: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(row.len() / QK * 17);
    for block in row.chunks_exact(QK) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        // ggml casts `floor(log2(amax)) - 2 + 127` to u8; the clamp only matters for
        // magnitudes outside what weights hold (below 2^-125 or above 2^127).
        let e = if amax > 0.0 {
            (amax.log2().floor() - 2.0 + 127.0).clamp(0.0, 255.0) as u8
        } else {
            0
        };
        let d = e8m0_to_f32_half(e);
        out.push(e);
        for j in 0..QK / 2 {
            out.push(best_index(block[j], d) | (best_index(block[j + QK / 2], d) << 4));
        }
    }
    out
}

/// Index of the doubled E2M1 value nearest `x / d`; the first index wins ties.
fn best_index(x: f32, d: f32) -> u8 {
    let mut best = (0u8, (KVALUES[0] as f32 * d - x).abs());
    for (i, &k) in KVALUES.iter().enumerate().skip(1) {
        let err = (k as f32 * d - x).abs();
        if err < best.1 {
            best = (i as u8, err);
        }
    }
    best.0
}
