//! The attention softmax over one score row, written so that it vectorizes: a
//! polynomial `exp` of plain adds and multiplies (libm's `expf` is a call per score, and
//! at a 2k-token prefill there are half a billion of them), and the max and the sum kept
//! in [`LANES`] interleaved partial results instead of one serial chain. Plain operations
//! only, no fused multiply-add: Rust never contracts them, so the portable and the SIMD
//! builds of a caller round every step alike and give the same bits.

/// Partial maxima and sums: one 256-bit register's worth, the sum's order fixed by it.
const LANES: usize = 8;

/// `e^x` for `x <= 0` within about 1 ulp: `x = k ln2 + r`, `|r| <= ln2 / 2`, and
/// `e^r` by the classic degree-6 minimax polynomial (Cephes' `expf` coefficients).
/// Below -87 (where `e^x` is no longer a normal f32) it returns `e^-87 ≈ 1.6e-38`: the
/// softmax adds it to a sum of at least 1, where it is lost.
#[inline(always)]
pub(super) fn exp_neg(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that `k * LN2_HI` is exact for the k that occur here.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to an integer, left in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.max(-87.0);
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
    // 2^k as an f32 built from its exponent bits (k >= -126 here, so a normal number).
    er * f32::from_bits(((k + 127) as u32) << 23)
}

/// Replaces the scores `s` by their softmax weights. `sink` is a logit that joins the
/// normaliser but has no value row (gpt-oss's per-head sinks).
#[inline(always)]
pub(super) fn softmax(s: &mut [f32], sink: Option<f32>) {
    let m = max(s).max(sink.unwrap_or(f32::NEG_INFINITY));
    let mut z = [0f32; LANES];
    let mut chunks = s.chunks_exact_mut(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            c[l] = exp_neg(c[l] - m);
            z[l] += c[l];
        }
    }
    for (l, v) in chunks.into_remainder().iter_mut().enumerate() {
        *v = exp_neg(*v - m);
        z[l] += *v;
    }
    let mut total = sink.map_or(0.0, |sk| exp_neg(sk - m));
    for zl in z {
        total += zl;
    }
    let inv = 1.0 / total;
    s.iter_mut().for_each(|e| *e *= inv);
}

/// The largest value, lane by lane and then across (the same result in any order).
#[inline(always)]
fn max(s: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; LANES];
    let chunks = s.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for l in 0..LANES {
            m[l] = if c[l] > m[l] { c[l] } else { m[l] };
        }
    }
    for (l, &v) in rest.iter().enumerate() {
        m[l] = m[l].max(v);
    }
    m.into_iter().fold(f32::NEG_INFINITY, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against f64 `exp` over the whole range the softmax feeds it: within 2 ulp.
    #[test]
    fn exp_neg_within_two_ulp_of_f64() {
        let mut worst = 0f64;
        for i in 0..=2_000_000 {
            let x = -87.0 * i as f32 / 2_000_000.0;
            let want = (x as f64).exp();
            let got = exp_neg(x) as f64;
            let ulp = f32::EPSILON as f64 * want;
            worst = worst.max((got - want).abs() / ulp);
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(exp_neg(0.0), 1.0);
        assert!(exp_neg(-1000.0) < 1e-37);
    }

    /// Weights against an f64 softmax (sink included) on rows of every remainder length.
    #[test]
    fn softmax_matches_f64() {
        for len in 1..40 {
            let row: Vec<f32> = (0..len)
                .map(|j| ((j * 37 % 11) as f32 - 5.0) * 1.7)
                .collect();
            for sink in [None, Some(2.5f32)] {
                let mut s = row.clone();
                softmax(&mut s, sink);
                let m = row
                    .iter()
                    .chain(sink.as_ref())
                    .fold(f64::MIN, |a, &b| a.max(b as f64));
                let z: f64 = row
                    .iter()
                    .chain(sink.as_ref())
                    .map(|&v| (v as f64 - m).exp())
                    .sum();
                for (j, &got) in s.iter().enumerate() {
                    let want = (row[j] as f64 - m).exp() / z;
                    assert!(
                        (got as f64 - want).abs() <= 4e-7 * want + 1e-12,
                        "len {len} j {j}"
                    );
                }
            }
        }
    }
}
