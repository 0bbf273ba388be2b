//! The attention softmax over one score row, written so that it vectorizes: the
//! polynomial [`exp`] (libm's `expf` is a call per score, and at a 2k-token prefill
//! there are half a billion of them), and the max and the sum kept in eight
//! interleaved partial results instead of one serial chain (`kernels::lanes`). The portable and the SIMD
//! builds of a caller give the same bits (see `kernels::vmath`).

use crate::kernels::lanes::{exp_shifted, max};
use crate::kernels::vmath::exp;

/// Replaces the scores `s` by their softmax weights. `sink` is a logit that joins the
/// normaliser but has no value row (gpt-oss's per-head sinks).
#[inline(always)]
pub(super) fn softmax(s: &mut [f32], sink: Option<f32>) {
    let m = max(s).max(sink.unwrap_or(f32::NEG_INFINITY));
    let z = exp_shifted(s, m);
    let mut total = sink.map_or(0.0, |sk| exp(sk - m));
    for zl in z {
        total += zl;
    }
    let inv = 1.0 / total;
    s.iter_mut().for_each(|e| *e *= inv);
}

#[cfg(test)]
mod tests {
    use super::*;

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
