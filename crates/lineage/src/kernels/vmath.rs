//! `exp` of plain adds, multiplies and bit operations, for the loops that call it once
//! per value (softmax weights, SiLU and GELU's sigmoid form): libm's `expf` is a call per
//! value, this inlines and vectorizes. No fused multiply-adds: Rust never contracts plain
//! operations, so a portable build and an AVX2 or AVX-512 build of the same loop round
//! every step alike and give the same bits.

/// `e^x` within about 1 ulp for `x` in [-87, 88] (Cephes' `expf` scheme: `x = k ln2 + r`,
/// `|r| <= ln2 / 2`, a degree-6 minimax polynomial for `e^r`, `2^k` from exponent bits).
/// Outside that range the argument is clamped: `e^-87 ≈ 1.6e-38` stands in for values
/// below it (every caller adds it to something of size at least 1, or divides by it
/// plus 1) and `e^88 ≈ 1.7e38` for the overflow to infinity.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that `k * LN2_HI` is exact for the k that occur here.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to an integer, left in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let k = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let kf = t - ROUND;
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let er = p * (r * r) + r + 1.0;
    // 2^k built from its exponent bits: -126 <= k <= 127 here, a normal number.
    er * f32::from_bits(((k + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against f64 `exp` over the whole range the softmax feeds it: within 2 ulp.
    #[test]
    fn exp_within_two_ulp_of_f64_down_to_minus_87() {
        let mut worst = 0f64;
        for i in 0..=2_000_000 {
            let x = -87.0 * i as f32 / 2_000_000.0;
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            let ulp = f32::EPSILON as f64 * want;
            worst = worst.max((got - want).abs() / ulp);
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) < 1e-37);
    }

    /// Over the positive range too, and at both clamps.
    #[test]
    fn exp_within_two_ulp_of_f64_up_to_88() {
        let mut worst = 0f64;
        for i in 0..=1_000_000 {
            let x = 88.0 * i as f32 / 1_000_000.0;
            let want = (x as f64).exp();
            worst = worst.max((exp(x) as f64 - want).abs() / (f32::EPSILON as f64 * want));
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert!(exp(1000.0) > 1e38 && exp(1000.0).is_finite());
    }
}
