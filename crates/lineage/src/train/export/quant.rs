//! Weight encodings for GGUF export, bit-exact with ggml's reference quantizers.
//!
//! Reference: ggml `ggml-quants.c` `quantize_row_q8_0_ref` (blocks of 32:
//! `d = amax / 127` in f32, stored as f16; `q = roundf(x * (1/d))`, round half away from
//! zero) and `ggml_fp32_to_fp16` (round to nearest even); gguf-py `quants.py` does the same.

/// f32 -> IEEE half, little endian, round to nearest even.
pub fn f16_bytes(x: &[f32]) -> Vec<u8> {
    x.iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect()
}

/// Q8_0 blocks of one row; `row.len()` must be a multiple of 32 (the caller keeps other
/// rows in F32, as llama.cpp's converter does).
pub fn q8_0_bytes(row: &[f32]) -> Vec<u8> {
    debug_assert!(row.len().is_multiple_of(32));
    let mut out = Vec::with_capacity(row.len() / 32 * 34);
    for block in row.chunks_exact(32) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&half::f16::from_f32(d).to_le_bytes());
        // `f32::round` rounds half away from zero, as C's `roundf`.
        out.extend(block.iter().map(|&v| (v * id).round() as i8 as u8));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_bytes_halves_round_away_from_zero() {
        let mut x = [0f32; 32];
        x[..4].copy_from_slice(&[127.0, 0.5, -0.5, 2.5]); // d = 1, id = 1
        let b = q8_0_bytes(&x);
        assert_eq!(&b[..2], &half::f16::from_f32(1.0).to_le_bytes());
        assert_eq!(&b[2..6], &[127u8, 1, (-1i8) as u8, 3]);
    }

    #[test]
    fn q8_0_bytes_zero_block_has_zero_scale_and_codes() {
        assert_eq!(q8_0_bytes(&[0f32; 32]), vec![0u8; 34]);
    }
}
