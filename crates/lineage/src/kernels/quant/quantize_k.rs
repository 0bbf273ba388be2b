//! The Q4_K weight quantizer: 256-value super-blocks of eight 32-value sub-blocks, each
//! `x ≈ d·ls·u − dmin·lm` with 4-bit codes `u`, 6-bit sub-block scales `ls` and mins
//! `lm`, and f16 `d`, `dmin` per super-block (the layout `k_unpack::unpack_q4_k` reads).
//!
//! Not bit-exact with ggml's `quantize_row_q4_K_ref`, but the same method: per
//! sub-block, search the code scale over a few candidates around `15 / (max − min)` and
//! refit scale and min by least squares on the chosen codes (ggml's
//! `make_qkx2_quants`, unweighted); then quantize the sub-block scales and mins to six
//! bits against the super-block's largest, and recompute the codes with the rounded
//! scales. Tests bound its error against the dequantizer that is checked against
//! llama.cpp.

/// Values per super-block.
pub const QK_K: usize = 256;
/// Bytes per super-block: f16 d, f16 dmin, 12 bytes of scales, 128 of codes.
pub const Q4_K_BYTES: usize = 144;
const SUB: usize = 32;

/// Q4_K super-blocks of one row whose length is a multiple of 256.
pub fn q4_k_bytes(row: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(row.len() / QK_K * Q4_K_BYTES);
    for block in row.chunks_exact(QK_K) {
        out.extend_from_slice(&super_block(block));
    }
    out
}

fn super_block(x: &[f32]) -> [u8; Q4_K_BYTES] {
    let fits: Vec<(f32, f32)> = x.chunks_exact(SUB).map(fit_sub_block).collect();
    let max_scale = fits.iter().fold(0f32, |m, f| m.max(f.0));
    let max_min = fits.iter().fold(0f32, |m, f| m.max(f.1));
    let d = half::f16::from_f32(max_scale / 63.0);
    let dmin = half::f16::from_f32(max_min / 63.0);
    let (df, dminf) = (d.to_f32(), dmin.to_f32());
    let six = |v: f32, unit: f32| {
        if unit > 0.0 {
            (v / unit).round().clamp(0.0, 63.0) as u8
        } else {
            0
        }
    };
    let ls: Vec<u8> = fits.iter().map(|f| six(f.0, df)).collect();
    let lm: Vec<u8> = fits.iter().map(|f| six(f.1, dminf)).collect();
    let mut b = [0u8; Q4_K_BYTES];
    b[0..2].copy_from_slice(&d.to_le_bytes());
    b[2..4].copy_from_slice(&dmin.to_le_bytes());
    pack_scales(&ls, &lm, &mut b[4..16]);
    let mut u = [0u8; QK_K];
    for (j, sub) in x.chunks_exact(SUB).enumerate() {
        let (scale, min) = (df * ls[j] as f32, dminf * lm[j] as f32);
        for (i, &v) in sub.iter().enumerate() {
            u[SUB * j + i] = code(v, scale, min);
        }
    }
    for c in 0..4 {
        for l in 0..32 {
            b[16 + 32 * c + l] = u[64 * c + l] | (u[64 * c + 32 + l] << 4);
        }
    }
    b
}

/// The 4-bit code of `v` under `v ≈ scale·u − min`.
fn code(v: f32, scale: f32, min: f32) -> u8 {
    if scale > 0.0 {
        ((v + min) / scale).round().clamp(0.0, 15.0) as u8
    } else {
        0
    }
}

/// The inverse of `k_unpack::scale_min_k4`: sub-blocks 0..4 in the low six bits of
/// bytes 0..4 (scales) and 4..8 (mins); sub-blocks 4..8 split into a low nibble in bytes
/// 8..12 and their top two bits in the spare bits 6..8 of bytes 0..8.
fn pack_scales(ls: &[u8], lm: &[u8], q: &mut [u8]) {
    for j in 0..4 {
        q[j] = ls[j] | ((ls[j + 4] >> 4) << 6);
        q[j + 4] = lm[j] | ((lm[j + 4] >> 4) << 6);
        q[j + 8] = (ls[j + 4] & 0x0f) | ((lm[j + 4] & 0x0f) << 4);
    }
}

/// `(scale, min)` with `x ≈ scale·u − min`, `u ∈ 0..=15`, `scale, min ≥ 0`, of least
/// squared error over a small search of code scales, each refit by least squares.
fn fit_sub_block(x: &[f32]) -> (f32, f32) {
    let lo = x.iter().fold(0f32, |m, &v| m.min(v));
    let hi = x.iter().fold(f32::MIN, |m, &v| m.max(v));
    if hi <= lo {
        return (0.0, -lo);
    }
    let mut best = ((hi - lo) / 15.0, -lo);
    let mut best_err = error(x, best.0, best.1);
    for step in -4..=16 {
        let iscale = (15.0 + 0.1 * step as f32) / (hi - lo);
        let u: Vec<f32> = x
            .iter()
            .map(|&v| (iscale * (v - lo)).round().clamp(0.0, 15.0))
            .collect();
        let Some(fit) = refit(x, &u) else { continue };
        let err = error(x, fit.0, fit.1);
        if err < best_err {
            (best, best_err) = (fit, err);
        }
    }
    best
}

/// Least-squares `(scale, min)` of `x ≈ scale·u − min` for fixed codes, with the min
/// held at zero when the free fit would make it negative (Q4_K's mins are unsigned).
fn refit(x: &[f32], u: &[f32]) -> Option<(f32, f32)> {
    let n = x.len() as f32;
    let (su, sx) = (u.iter().sum::<f32>(), x.iter().sum::<f32>());
    let suu = u.iter().map(|a| a * a).sum::<f32>();
    let sux = u.iter().zip(x).map(|(a, b)| a * b).sum::<f32>();
    let det = n * suu - su * su;
    if det <= 0.0 {
        return None;
    }
    let scale = (n * sux - su * sx) / det;
    let offset = (suu * sx - su * sux) / det;
    let (scale, min) = if offset > 0.0 {
        (sux / suu, 0.0)
    } else {
        (scale, -offset)
    };
    (scale > 0.0).then_some((scale, min))
}

fn error(x: &[f32], scale: f32, min: f32) -> f32 {
    x.iter()
        .map(|&v| (scale * code(v, scale, min) as f32 - min - v).powi(2))
        .sum()
}
