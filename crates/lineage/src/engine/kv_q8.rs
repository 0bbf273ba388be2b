//! The q8_0 KV cache's groups: each head's key and value rows are cut into groups of
//! [`GROUP`] values (a head whose width is not a multiple of 32 ends with a shorter
//! group), each stored as int8 codes and one f16 scale. That is ggml's q8_0 as its CPU
//! backend writes a cache row (`quantize_row_q8_0`): scale `amax / 127` rounded to f16,
//! codes `x * 127 / amax` rounded to nearest, ties to even. 34 bytes per 32 values, a
//! little over half of an f16 cache.
//!
//! Where the codes and scales sit inside a block (per layer, like the f32 cache):
//! - codes: the f32 cache's layout with i8 values (keys transposed `[kw][BLOCK]`, then
//!   values `[BLOCK][vw]`);
//! - scales: keys `[kg][BLOCK]` (group-major, so a key column's scales are one row),
//!   then values `[BLOCK][vg]`, where `kg` and `vg` count the groups of a key and a
//!   value row.

use super::kv_type::{KvElem, F16};

/// Values per scale.
pub const GROUP: usize = 32;

/// Groups in a head of width `hd`.
#[inline(always)]
pub fn groups(hd: usize) -> usize {
    hd.div_ceil(GROUP)
}

/// Group `x` (at most [`GROUP`] values) as codes (`x.len()` of them used) and a scale.
/// Codes stay in -127..=127; non-finite input never panics (a NaN codes as 0).
pub fn quantize(x: &[f32]) -> ([i8; GROUP], F16) {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let id = if amax > 0.0 { 127.0 / amax } else { 0.0 };
    let mut q = [0i8; GROUP];
    for (c, &v) in q.iter_mut().zip(x) {
        // `as` saturates (and maps NaN to 0); the clamp keeps -128 out.
        *c = ((v * id).round_ties_even() as i8).max(-127);
    }
    (q, F16::put(amax / 127.0))
}

/// A row of `heads` heads of width `hd`, quantized group by group: `code(i, q)` gets value
/// i's code, `scale(k, s)` group k's scale (groups counted over the whole row).
pub fn quantize_row(
    x: &[f32],
    hd: usize,
    mut code: impl FnMut(usize, i8),
    mut scale: impl FnMut(usize, F16),
) {
    let ng = groups(hd);
    for (h, head) in x.chunks(hd).enumerate() {
        for (k, grp) in head.chunks(GROUP).enumerate() {
            let (q, s) = quantize(grp);
            for (i, &c) in q[..grp.len()].iter().enumerate() {
                code(h * hd + k * GROUP + i, c);
            }
            scale(h * ng + k, s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes and scale of ggml's q8_0, and the reconstruction within half a step.
    #[test]
    fn groups_quantize_as_ggml_q8_0() {
        let x: Vec<f32> = (0..32).map(|i| (i as f32 - 13.3) * 0.37).collect();
        let (q, s) = quantize(&x);
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert_eq!(s.get(), half::f16::from_f32(amax / 127.0).to_f32());
        assert_eq!(q[31], 127);
        for (c, &v) in q.iter().zip(&x) {
            assert!((*c as f32 * amax / 127.0 - v).abs() <= amax / 254.0 + 1e-6);
        }
        assert_eq!(quantize(&[0.0; 5]).0, [0; 32]);
        assert_eq!(quantize(&[f32::NAN, 1.0]).0[..2], [0, 127]);
        // A head of 40 values: a group of 32, then one of 8, scales counted per row.
        let (mut codes, mut scales) = (vec![0i8; 80], vec![F16::default(); 4]);
        quantize_row(&[1.0; 80], 40, |i, c| codes[i] = c, |k, s| scales[k] = s);
        assert!(codes.iter().all(|&c| c == 127));
        assert!(scales
            .iter()
            .all(|s| s.get() == half::f16::from_f32(1.0 / 127.0).to_f32()));
    }
}
