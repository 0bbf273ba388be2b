//! Activation quantization: a row of `x` becomes 8-bit blocks once, before the integer
//! dot products against every weight row.
//!
//! Reference: ggml-cpu `arch/x86/quants.c` `quantize_row_q8_0` / `quantize_row_q8_1`
//! (32-blocks: `d = amax / 127` stored as f16, codes `round_even(x * 127 / amax)`, and for
//! Q8_1 `s = f16(d * sum(q))` with the f32 `d`) and ggml-quants.c `quantize_row_q8_K_ref`
//! (256-blocks: `iscale = -127 / max` with `max` the signed value of largest magnitude,
//! `d = 1 / iscale` kept in f32, 16 group sums). We match these bit for bit: the f16
//! fields are kept as f32 holding the f16-rounded value.

/// 32 activations as `d * qs[i]`, with `sum = sum(qs)` and `s = f16(d * sum)` (the
/// block's value sum, as ggml's Q8_1 keeps it) for the offset term of Q4_1/Q5_1.
/// `d` and `s` hold f16-representable values, as ggml's `block_q8_0/1` store them.
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
        Self {
            qs: [0; 32],
            d: 0.0,
            sum: 0,
            s: 0.0,
        }
    }
}

impl Default for Q8KBlock {
    fn default() -> Self {
        Self {
            qs: [0; 256],
            d: 0.0,
            bsums: [0; 16],
        }
    }
}

/// Round to nearest with ggml's magic-number trick (valid for |v| < 2^22); vectorizes,
/// unlike `f32::round`.
#[inline(always)]
pub(super) fn nearest_int(v: f32) -> i32 {
    ((v + 12582912.0f32).to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// The f32 nearest to `v` that an f16 can hold (ggml's `GGML_FP32_TO_FP16`, round to
/// nearest even), widened back.
#[inline(always)]
pub(super) fn f16_round(v: f32) -> f32 {
    half::f16::from_f32(v).to_f32()
}

/// Quantize one row (length a multiple of 32) into `out` (cleared first), as ggml's
/// AVX2 `quantize_row_q8_1` (whose `d` and codes equal `quantize_row_q8_0`'s). AVX-512
/// CPUs take act_avx512.rs, which gives the same bits.
pub fn quantize_row_q8(x: &[f32], out: &mut Vec<Q8Block>) {
    out.clear();
    #[cfg(target_arch = "x86_64")]
    if super::simd::avx512_available() {
        // SAFETY: AVX-512F (and AVX2) checked just above.
        return unsafe { super::act_avx512::quantize_row_q8(x, out) };
    }
    out.extend(x.chunks_exact(32).map(q8_block));
}

/// The scalar form of one [`quantize_row_q8`] block: the reference of every other.
pub(super) fn q8_block(chunk: &[f32]) -> Q8Block {
    let mut b = Q8Block::default();
    let amax = chunk.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    // ggml multiplies by `127 / amax`, not `1 / d` (they differ in the last bit).
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    for (q, v) in b.qs.iter_mut().zip(chunk) {
        *q = nearest_int(v * id).clamp(-127, 127) as i8;
    }
    b.sum = b.qs.iter().map(|&q| q as i32).sum();
    b.d = f16_round(d);
    b.s = f16_round(d * b.sum as f32);
    b
}

/// Quantize one row (length a multiple of 256) into `out` (cleared first), as ggml's
/// `quantize_row_q8_K_ref`: the scale comes from the signed extreme, so that value maps
/// to exactly -127, and codes are clamped above at 127. AVX-512 CPUs take
/// act_avx512.rs, which gives the same bits.
pub fn quantize_row_q8k(x: &[f32], out: &mut Vec<Q8KBlock>) {
    out.clear();
    #[cfg(target_arch = "x86_64")]
    if super::simd::avx512_available() {
        // SAFETY: AVX-512F (and AVX2) checked just above.
        return unsafe { super::act_avx512::quantize_row_q8k(x, out) };
    }
    out.extend(x.chunks_exact(256).map(q8k_block));
}

/// The scalar form of one [`quantize_row_q8k`] block: the reference of every other.
pub(super) fn q8k_block(chunk: &[f32]) -> Q8KBlock {
    let mut b = Q8KBlock::default();
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in chunk {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax != 0.0 {
        let iscale = -127.0 / max;
        for (q, v) in b.qs.iter_mut().zip(chunk) {
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        b.d = 1.0 / iscale;
    }
    for (g, s) in b.bsums.iter_mut().enumerate() {
        *s = b.qs[16 * g..16 * g + 16].iter().map(|&q| q as i16).sum();
    }
    b
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
            assert!(
                (back - v).abs() <= 0.5 * b.d + 1e-6,
                "at {i}: {back} vs {v}"
            );
        }
        assert_eq!(
            blocks[0].sum,
            blocks[0].qs.iter().map(|&q| q as i32).sum::<i32>()
        );
    }

    /// ggml's fields: `d = f16(amax / 127)`, codes `round_even(x * 127 / amax)` and
    /// `s = f16(d32 * sum)` with the unrounded `d32` (not `f16(d) * sum`).
    #[test]
    fn quantize_row_q8_matches_ggml_f16_fields() {
        let mut x = [0f32; 64];
        x[..4].copy_from_slice(&[127.0, 0.5, 1.5, -2.5]); // id = 1: halves round to even
        x[32] = 2.54;
        x[33] = 1.0;
        let mut blocks = Vec::new();
        quantize_row_q8(&x, &mut blocks);
        assert_eq!(&blocks[0].qs[..4], &[127, 0, 2, -2]);
        assert_eq!((blocks[0].d, blocks[0].sum), (1.0, 127));
        let (b, d32) = (&blocks[1], 2.54f32 / 127.0);
        assert_eq!(b.d, half::f16::from_f32(d32).to_f32());
        assert_ne!(b.d, d32);
        assert_eq!(b.sum, 127 + 50);
        assert_eq!(b.s, half::f16::from_f32(d32 * 177.0).to_f32());
    }

    #[test]
    fn quantize_row_q8k_negative_extreme_maps_to_minus_127() {
        let mut x = [0.1f32; 256];
        x[7] = -3.0;
        let mut blocks = Vec::new();
        quantize_row_q8k(&x, &mut blocks);
        let b = &blocks[0];
        assert_eq!(b.qs[7], -127);
        assert!((b.d * b.qs[0] as f32 - 0.1).abs() <= 0.5 * b.d.abs());
    }

    #[test]
    fn nearest_int_negative_halves_round_to_even() {
        assert_eq!(nearest_int(-2.5), -2);
        assert_eq!(nearest_int(3.4), 3);
        assert_eq!(nearest_int(-127.0), -127);
    }
}
