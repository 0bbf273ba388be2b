//! Activation quantization: a row of `x` becomes 8-bit blocks once, before the integer
//! dot products against every weight row.
//!
//! Reference: ggml-quants.c `quantize_row_q8_0` / `quantize_row_q8_1` (32-blocks, with the
//! block sum that Q4_1/Q5_1 need) and `quantize_row_q8_K` (256-blocks with 16 group sums).
//! Unlike ggml we keep the scale in f32 (not f16): slightly more accurate, same speed.

/// 32 activations as `d * qs[i]`, with `sum = sum(qs)` and `s = d * sum` (the block's
/// value sum, as ggml's Q8_1 keeps it) for the offset term of Q4_1/Q5_1.
#[derive(Clone, Copy, Debug)]
pub struct Q8Block {
    pub qs: [i8; 32],
    pub d: f32,
    pub sum: i32,
    pub s: f32,
}

/// 256 activations as `d * qs[i]`, with `bsums[g] = sum(qs[16g..16g+16])`.
#[derive(Clone, Copy, Debug)]
pub struct Q8KBlock {
    pub qs: [i8; 256],
    pub d: f32,
    pub bsums: [i16; 16],
}

impl Default for Q8Block {
    fn default() -> Self {
        Self { qs: [0; 32], d: 0.0, sum: 0, s: 0.0 }
    }
}

impl Default for Q8KBlock {
    fn default() -> Self {
        Self { qs: [0; 256], d: 0.0, bsums: [0; 16] }
    }
}

/// Round to nearest with ggml's magic-number trick (valid for |v| < 2^22); vectorizes,
/// unlike `f32::round`.
#[inline(always)]
fn nearest_int(v: f32) -> i32 {
    ((v + 12582912.0f32).to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// Quantize `x` to `qs` with scale `amax / 127`; returns the scale.
#[inline(always)]
fn quantize_group(x: &[f32], qs: &mut [i8]) -> f32 {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
    for (q, v) in qs.iter_mut().zip(x) {
        *q = nearest_int(v * id).clamp(-127, 127) as i8;
    }
    d
}

/// Quantize one row (length a multiple of 32) into `out` (cleared first).
pub fn quantize_row_q8(x: &[f32], out: &mut Vec<Q8Block>) {
    out.clear();
    for chunk in x.chunks_exact(32) {
        let mut b = Q8Block::default();
        b.d = quantize_group(chunk, &mut b.qs);
        b.sum = b.qs.iter().map(|&q| q as i32).sum();
        b.s = b.d * b.sum as f32;
        out.push(b);
    }
}

/// Quantize one row (length a multiple of 256) into `out` (cleared first).
pub fn quantize_row_q8k(x: &[f32], out: &mut Vec<Q8KBlock>) {
    out.clear();
    for chunk in x.chunks_exact(256) {
        let mut b = Q8KBlock::default();
        b.d = quantize_group(chunk, &mut b.qs);
        for (g, s) in b.bsums.iter_mut().enumerate() {
            *s = b.qs[16 * g..16 * g + 16].iter().map(|&q| q as i16).sum();
        }
        out.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_row_q8_ramp_roundtrips_within_half_step() {
        let x: Vec<f32> = (0..64).map(|i| (i as f32 - 31.5) * 0.37).collect();
        let mut blocks = Vec::new();
        quantize_row_q8(&x, &mut blocks);
        for (i, v) in x.iter().enumerate() {
            let b = &blocks[i / 32];
            let back = b.d * b.qs[i % 32] as f32;
            assert!((back - v).abs() <= 0.5 * b.d + 1e-6, "at {i}: {back} vs {v}");
        }
        assert_eq!(blocks[0].sum, blocks[0].qs.iter().map(|&q| q as i32).sum::<i32>());
    }

    #[test]
    fn nearest_int_negative_halves_round_to_even() {
        assert_eq!(nearest_int(-2.5), -2);
        assert_eq!(nearest_int(3.4), 3);
        assert_eq!(nearest_int(-127.0), -127);
    }
}
