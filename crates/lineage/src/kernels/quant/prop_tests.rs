//! Property tests (proptest): the fast kernels against their references on random
//! shapes and random block bytes. Column counts are whole blocks but mostly not whole
//! SIMD widths (F32/F16/BF16 take any count), row counts are odd or leave partial
//! panels (1, 3, 7, 17, ...), and 1..=9 activation rows reach the decode kernels
//! (n <= 3), the 4-row int8 tiles and the 4 x 3 prefill panels with both remainders.
//!
//! References: the scalar dequantizers (checked against gguf-py in tests.rs) and
//! "dequantize, then dot in f64". Bounds follow the f32 summation error, so they scale
//! with the sum of the magnitudes of the terms the kernels add, not with the result.

use proptest::collection::vec;
use proptest::prelude::*;

use super::act::{quantize_row_q8, quantize_row_q8k};
use super::dispatch::{dequantizer, kernel, Kernel};
use super::exact::simd_dequantizer;
use super::float::f16_at;
use super::k_quants::unpack_row;
use super::matmul::quantize_rows;
use super::mxfp4::e8m0_to_f32_half;
use super::tests::{scale_fields, ALL};
use super::*;

/// The types with an AVX2 row dequantizer (exact.rs).
const SIMD_DEQ: [GgmlType; 7] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q6_K,
];

/// Relative error allowed per unit of summed term magnitude (f32 rounding of sums of a
/// few hundred terms, with a wide margin), plus an absolute floor.
const REL: f64 = 1e-5;
const ABS: f64 = 1e-6;

/// Scale fields made finite: an all-ones f16 exponent (inf/NaN) loses its lowest bit.
/// Everything else stays arbitrary, so codes, sub-scales and mins take every value.
fn finite_scales(ty: GgmlType, bytes: &mut [u8]) {
    for blk in bytes.chunks_exact_mut(ty.type_size()) {
        for &at in scale_fields(ty) {
            if blk[at + 1] & 0x7c == 0x7c {
                blk[at + 1] &= !0x04;
            }
        }
    }
}

/// For the matmuls: every f16/bf16/f32 value and scale below 2 in magnitude (exponent's
/// top bit cleared) and MXFP4 scales in 2^-28 .. 2^12, so no sum overflows.
pub(super) fn tame(ty: GgmlType, bytes: &mut [u8]) {
    match ty {
        GgmlType::F32 => bytes.chunks_exact_mut(4).for_each(|v| v[3] &= !0x40),
        GgmlType::F16 | GgmlType::BF16 => bytes.chunks_exact_mut(2).for_each(|v| v[1] &= !0x40),
        GgmlType::MXFP4 => bytes
            .chunks_exact_mut(17)
            .for_each(|b| b[0] = 100 + b[0] % 41),
        _ => {
            for blk in bytes.chunks_exact_mut(ty.type_size()) {
                for &at in scale_fields(ty) {
                    blk[at + 1] &= !0x40;
                }
            }
        }
    }
}

/// A random weight matrix and activations.
#[derive(Debug, Clone)]
struct Case {
    ty: GgmlType,
    rows: usize,
    cols: usize,
    n: usize,
    w: Vec<u8>,
    x: Vec<f32>,
}

impl Case {
    fn matrix(&self) -> QMatrix {
        QMatrix::from_vec("w", self.ty, self.rows, self.cols, self.w.clone()).unwrap()
    }
}

fn rows() -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), Just(3), Just(7), Just(17), 1usize..=20]
}

/// Columns in whole blocks: up to 12 blocks of 32 (so 32, 96, 160, ... are not whole
/// 64-wide steps), 1..=3 super-blocks, or 1..=70 plain values.
fn cols(ty: GgmlType) -> impl Strategy<Value = usize> {
    let bs = ty.block_size();
    let max: usize = match bs {
        1 => 70,
        32 => 12,
        _ => 3,
    };
    (1..=max).prop_map(move |b| b * bs)
}

fn case() -> impl Strategy<Value = Case> {
    (prop::sample::select(&ALL[..]), rows(), 1usize..=9)
        .prop_flat_map(|(ty, rows, n)| (Just(ty), Just(rows), cols(ty), Just(n)))
        .prop_flat_map(|(ty, rows, cols, n)| {
            let len = rows * cols / ty.block_size() * ty.type_size();
            let (w, x) = (vec(any::<u8>(), len), vec(-1f32..1.0, n * cols));
            (Just((ty, rows, cols, n)), w, x)
        })
        .prop_map(|((ty, rows, cols, n), mut w, x)| {
            tame(ty, &mut w);
            Case {
                ty,
                rows,
                cols,
                n,
                w,
                x,
            }
        })
}

/// Per weight, an upper bound on the magnitude of every term a kernel adds for it: the
/// SIMD int8 kernels sum `d * q` and the offset `m` (or `-8 d`) separately, K-quants
/// `d * sc * (u - off)` and `dmin * m`, so cancellation in `w` must not shrink the bound.
fn term_magnitudes(ty: GgmlType, row: &[u8], w: &[f32]) -> Vec<f32> {
    use GgmlType::*;
    let per_block = |f: &dyn Fn(&[u8]) -> f32| -> Vec<f32> {
        let bs = row.chunks_exact(ty.type_size()).map(f);
        bs.flat_map(|m| std::iter::repeat_n(m, ty.block_size()))
            .collect()
    };
    match ty {
        Q4_0 => per_block(&|b| 23.0 * f16_at(b, 0).abs()),
        Q5_0 => per_block(&|b| 47.0 * f16_at(b, 0).abs()),
        Q4_1 => per_block(&|b| 15.0 * f16_at(b, 0).abs() + f16_at(b, 2).abs()),
        Q5_1 => per_block(&|b| 31.0 * f16_at(b, 0).abs() + f16_at(b, 2).abs()),
        Q8_0 => per_block(&|b| 128.0 * f16_at(b, 0).abs()),
        MXFP4 => per_block(&|b| 12.0 * e8m0_to_f32_half(b[0])),
        Q2_K | Q3_K | Q4_K | Q5_K | Q6_K => {
            let Some(Kernel::Q8K { unpack, .. }) = kernel(ty, false) else {
                unreachable!("{ty} is a K-quant")
            };
            let mut ks = Vec::new();
            unpack_row(unpack, ty.type_size(), row, &mut ks);
            let group = |k: &k_unpack::KBlock, g: usize| {
                (k.d * k.scales[g] as f32).abs() * (63 + k.off.abs()) as f32
                    + (k.dmin * k.mins[g] as f32).abs()
            };
            let per_group = ks.iter().flat_map(|k| (0..16).map(move |g| group(k, g)));
            per_group.flat_map(|m| std::iter::repeat_n(m, 16)).collect()
        }
        _ => w.iter().map(|v| v.abs()).collect(),
    }
}

/// The activations a kernel path really multiplies: f32 as given, or the int8 blocks
/// dequantized; plus, per row and block, ggml's f16-rounded block sum `s` minus the exact
/// `d * sum` (Q4_1/Q5_1 add `m * s`, so that difference is part of their numerics).
fn effective_x(c: &Case, act: ActPrecision) -> (Vec<f32>, Vec<f32>) {
    let k = kernel(c.ty, false);
    let mut out = Vec::with_capacity(c.x.len());
    let mut s_err = Vec::new();
    for xr in c.x.chunks_exact(c.cols) {
        match (act, k) {
            (ActPrecision::Int8, Some(Kernel::Q8 { .. })) => {
                let mut bl = Vec::new();
                quantize_row_q8(xr, &mut bl);
                for b in &bl {
                    out.extend(b.qs.iter().map(|&q| b.d * q as f32));
                    s_err.push(b.s - b.d * b.sum as f32);
                }
            }
            (ActPrecision::Int8, Some(Kernel::Q8K { .. })) => {
                let mut bl = Vec::new();
                quantize_row_q8k(xr, &mut bl);
                for b in &bl {
                    out.extend(b.qs.iter().map(|&q| b.d * q as f32));
                }
            }
            _ => out.extend_from_slice(xr),
        }
    }
    (out, s_err)
}

/// `[n, rows]` of (f64 reference, allowed error) for the path `act`.
fn reference(c: &Case, act: ActPrecision) -> Vec<(f64, f64)> {
    let m = c.matrix();
    let w = m.dequantize();
    let (x, s_err) = effective_x(c, act);
    let rb = m.row_bytes();
    let has_min = matches!(c.ty, GgmlType::Q4_1 | GgmlType::Q5_1);
    let nb = c.cols / 32;
    let mut out = vec![(0.0, 0.0); c.n * c.rows];
    for r in 0..c.rows {
        let (wr, row) = (&w[r * c.cols..][..c.cols], &c.w[r * rb..][..rb]);
        let mag = term_magnitudes(c.ty, row, wr);
        for (i, xr) in x.chunks_exact(c.cols).enumerate() {
            let dot: f64 = wr.iter().zip(xr).map(|(&a, &b)| a as f64 * b as f64).sum();
            let size: f64 = mag
                .iter()
                .zip(xr)
                .map(|(&a, &b)| (a * b).abs() as f64)
                .sum();
            let mut allow = REL * size + ABS;
            if has_min && act == ActPrecision::Int8 {
                let mins = row.chunks_exact(c.ty.type_size()).map(|b| f16_at(b, 2));
                let errs = &s_err[i * nb..(i + 1) * nb];
                allow += mins
                    .zip(errs)
                    .map(|(m, e)| (m * e).abs() as f64)
                    .sum::<f64>();
            }
            out[i * c.rows + r] = (dot, allow);
        }
    }
    out
}

/// The first output outside its bound, as a message naming it.
fn check(
    c: &Case,
    got: &[f32],
    want: &[(f64, f64)],
    what: &str,
) -> std::result::Result<(), TestCaseError> {
    for (at, (&g, &(w, allow))) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs();
        prop_assert!(
            err <= allow,
            "{} {what} [{} x {}] n={}: out[{}, {}] = {g} vs {w}: error {err:.3e} > {allow:.3e}",
            c.ty,
            c.rows,
            c.cols,
            c.n,
            at / c.rows,
            at % c.rows
        );
    }
    Ok(())
}

fn run(c: &Case, act: ActPrecision, simd: bool) -> Vec<f32> {
    let mut out = vec![f32::NAN; c.n * c.rows];
    c.matrix().matmul_opts(&c.x, &mut out, act, simd).unwrap();
    out
}

/// Whole blocks of a SIMD-dequantized type, arbitrary bytes but finite scales.
fn deq_case() -> impl Strategy<Value = (GgmlType, Vec<u8>, usize, usize)> {
    (prop::sample::select(&SIMD_DEQ[..]), 1usize..=9)
        .prop_flat_map(|(ty, nb)| {
            let bytes = vec(any::<u8>(), nb * ty.type_size());
            (Just(ty), bytes, 0usize..4, 0usize..8)
        })
        .prop_map(|(ty, mut b, skew_in, skew_out)| {
            finite_scales(ty, &mut b);
            (ty, b, skew_in, skew_out)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The AVX2 row dequantizers equal the scalar ones bit for bit (deq_avx2.rs: the
    /// products are exact, fma rounds once where `d * q + m` does), at any alignment of
    /// the input bytes (`skew_in`) and of the output (`skew_out`). The one documented
    /// exception: Q4_0/Q5_0's `fma(q, d, -8d)` gives +0 where `d * (q - 8)` gives -0.
    #[test]
    fn simd_dequantizer_random_blocks_equal_scalar_bitwise(
        (ty, blocks, skew_in, skew_out) in deq_case()
    ) {
        let Some(fast) = simd_dequantizer(ty) else {
            return Ok(()); // no AVX2 on this CPU: nothing to compare
        };
        let mut buf = vec![0u8; skew_in];
        buf.extend_from_slice(&blocks);
        let n = blocks.len() / ty.type_size() * ty.block_size();
        let mut want = vec![0f32; n];
        dequantizer(ty).unwrap()(&blocks, &mut want);
        let mut got = vec![f32::NAN; skew_out + n];
        // SAFETY: `simd_dequantizer` only returns a kernel after `avx2_available()`.
        unsafe { fast(&buf[skew_in..], &mut got[skew_out..]) };
        let got = &got[skew_out..];
        let zero_sign_free = matches!(ty, GgmlType::Q4_0 | GgmlType::Q5_0);
        let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (zero_sign_free && a == 0.0 && b == 0.0);
        let bad = got.iter().zip(&want).position(|(&a, &b)| !same(a, b));
        prop_assert!(bad.is_none(), "{ty}: value {:?}: simd {} vs scalar {}",
            bad, got[bad.unwrap_or(0)], want[bad.unwrap_or(0)]);
    }

    /// The exact-activation matmul, AVX2 and scalar, against "dequantize, then f64 dot":
    /// register dots for n <= 3, panels and 4 x 3 tiles (with remainders) above.
    #[test]
    fn matmul_f32act_random_shapes_match_dequantized_f64(c in case()) {
        let want = reference(&c, ActPrecision::F32);
        for simd in [true, false] {
            check(&c, &run(&c, ActPrecision::F32, simd), &want, &format!("f32act simd={simd}"))?;
        }
    }

    /// The int8-activation matmul, AVX2 (with its 4-row tiles) and scalar, against the
    /// dequantized weights times the dequantized int8 activations; the K-quant and float
    /// kernels sum exact integers (or the same floats) in the same order, so their AVX2
    /// and scalar results must be equal bit for bit.
    #[test]
    fn matmul_int8_random_shapes_match_dequantized_f64(c in case()) {
        let want = reference(&c, ActPrecision::Int8);
        let (fast, slow) = (run(&c, ActPrecision::Int8, true), run(&c, ActPrecision::Int8, false));
        check(&c, &fast, &want, "int8 simd=true")?;
        check(&c, &slow, &want, "int8 simd=false")?;
        if !matches!(kernel(c.ty, false), Some(Kernel::Q8 { .. })) {
            let bad = fast.iter().zip(&slow).position(|(a, b)| a.to_bits() != b.to_bits());
            prop_assert!(bad.is_none(), "{}: simd and scalar differ at {:?}", c.ty, bad);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Batch invariance: each activation row's outputs are bit-identical whether the row
    /// is multiplied alone (the n = 1 decode kernel) or among `n` rows (the n <= 3 decode
    /// kernels, the 4-row int8 tiles, the 4 x 3 f32 panels), on both precisions, AVX2 and
    /// scalar. The server's batched decode and chunked prefill rest on this.
    #[test]
    fn matmul_rows_are_bit_identical_alone_and_in_a_batch(c in case()) {
        for act in [ActPrecision::F32, ActPrecision::Int8] {
            for simd in [true, false] {
                let all = run(&c, act, simd);
                for (i, xr) in c.x.chunks_exact(c.cols).enumerate() {
                    let mut alone = vec![f32::NAN; c.rows];
                    c.matrix().matmul_opts(xr, &mut alone, act, simd).unwrap();
                    let batched = &all[i * c.rows..(i + 1) * c.rows];
                    let bad = alone.iter().zip(batched).position(|(a, b)| a.to_bits() != b.to_bits());
                    prop_assert!(bad.is_none(),
                        "{} {act:?} simd={simd} [{} x {}] n={}: row {i} col {:?}: alone {} vs batched {}",
                        c.ty, c.rows, c.cols, c.n, bad, alone[bad.unwrap_or(0)], batched[bad.unwrap_or(0)]);
                }
            }
        }
    }
}

/// Four Q8_0 weight rows (the type with int8 tile kernels; the nibble formats take the
/// wide kernels, wide_tests.rs) and 1..=4 activation rows.
fn tile_case() -> impl Strategy<Value = (GgmlType, usize, Vec<u8>, Vec<f32>, usize)> {
    (Just(GgmlType::Q8_0), 1usize..=12, 1usize..=4)
        .prop_flat_map(|(ty, nb, m)| {
            let w = vec(any::<u8>(), 4 * nb * ty.type_size());
            (Just((ty, nb, m)), w, vec(-1f32..1.0, m * nb * 32))
        })
        .prop_map(|((ty, nb, m), mut w, x)| {
            tame(ty, &mut w);
            (ty, nb * 32, w, x, m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every tile kernel this CPU has (AVX-512 VNNI, AVX2) gives each output the bits the
    /// AVX2 row kernel gives it, for one to four activation rows: decode (one row, the
    /// four weight rows at once) and prefill (several) cannot disagree with the row
    /// kernel that takes a task's leftover rows.
    #[test]
    fn int8_tiles_equal_the_row_kernel_bitwise((ty, cols, w, x, m) in tile_case()) {
        let Some(Kernel::Q8 { dot, .. }) = kernel(ty, true) else { unreachable!() };
        let acts = quantize_rows(&x, cols, quantize_row_q8);
        let xs: Vec<&[act::Q8Block]> = acts.chunks_exact(cols / 32).collect();
        let rb = cols / 32 * ty.type_size();
        let mut ran = 0;
        for (name, tile) in [("vnni", int8_vnni::tile(ty)), ("avx2", int8_avx2::tile(ty))] {
            let Some(tile) = tile else { continue };
            ran += 1;
            let mut out = [[f32::NAN; 4]; 4];
            // SAFETY: `tile` is only handed out after its CPU check; `w` holds four rows
            // of `rb` bytes and each activation row a block per weight block.
            unsafe { tile((&w, &[]), rb, &xs[..m], &mut out) };
            for (i, xi) in xs.iter().enumerate() {
                for k in 0..4 {
                    // SAFETY: `dot` is the AVX2 kernel only after its CPU check.
                    let want = unsafe { dot(&w[k * rb..(k + 1) * rb], xi) };
                    prop_assert!(out[i][k].to_bits() == want.to_bits(),
                        "{ty} {name}: x row {i} of {m}, w row {k}: tile {} vs row {}", out[i][k], want);
                }
            }
        }
        // Every x86-64 CPU these run on has AVX2; only a scalar-only CPU has no tile.
        prop_assert!(ran > 0 || !simd::avx2_available(), "{ty}: no tile kernel ran");
    }

    /// The AVX2 prefill panels (int8_panel.rs) give each output the bits of the AVX2 row
    /// kernel, for one to four activation rows, refilled over an earlier panel of another
    /// size (the thread's panel is reused call after call). They run on every AVX2 CPU,
    /// even those whose matmul takes the VNNI kernels instead.
    #[test]
    fn int8_panels_equal_the_row_kernel_bitwise((ty, cols, w, x, m) in tile_case()) {
        let Some(Kernel::Q8 { dot, .. }) = kernel(ty, true) else { unreachable!() };
        let acts = quantize_rows(&x, cols, quantize_row_q8);
        let xs: Vec<&[act::Q8Block]> = acts.chunks_exact(cols / 32).collect();
        let rb = cols / 32 * ty.type_size();
        let mut ran = 0;
        for (name, k) in [("avx2", int8_panel::kernels(ty))].into_iter().filter_map(|(n, k)| Some((n, k?))) {
            ran += 1;
            let (fill, pdot) = (k.fill, k.dot);
            let mut panel = int8_panel::Panel::default();
            let big = vec![0x33u8; 4 * (rb + 2 * ty.type_size())];
            // SAFETY: the kernels are only handed out after their CPU check; `big` holds
            // four rows of rb + 2 blocks, `w` four rows of `rb` bytes, each activation row
            // a block per weight block.
            unsafe { fill(&big, rb + 2 * ty.type_size(), cols / 32 + 2, &mut panel) };
            let mut out = [[f32::NAN; 4]; 4];
            // SAFETY: as above.
            unsafe { fill(&w, rb, cols / 32, &mut panel) };
            // SAFETY: as above; the panel was filled by this type's `fill`.
            unsafe { pdot(&panel, &xs[..m], &mut out) };
            for (i, xi) in xs.iter().enumerate() {
                for k in 0..4 {
                    // SAFETY: `dot` is the AVX2 kernel only after its CPU check.
                    let want = unsafe { dot(&w[k * rb..(k + 1) * rb], xi) };
                    prop_assert!(out[i][k].to_bits() == want.to_bits(),
                        "{ty} {name} panel: x row {i} of {m}, w row {k}: {} vs row {}", out[i][k], want);
                }
            }
        }
        prop_assert!(ran > 0 || !simd::avx2_available(), "{ty}: no panel on an AVX2 CPU");
    }
}

/// One K-quant weight row (Q4_K, Q5_K or Q6_K, 1..=3 super-blocks) and 1..=9 activation
/// rows (up to 4 in registers, more through the split-once path).
fn k_row_case() -> impl Strategy<Value = (GgmlType, Vec<u8>, Vec<f32>, usize)> {
    (
        prop::sample::select(&[GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K][..]),
        1usize..=3,
        1usize..=9,
    )
        .prop_flat_map(|(ty, nb, m)| {
            let w = vec(any::<u8>(), nb * ty.type_size());
            (Just((ty, m)), w, vec(-1f32..1.0, m * nb * 256))
        })
        .prop_map(|((ty, m), mut w, x)| {
            tame(ty, &mut w);
            (ty, w, x, m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The K-quant row kernels (AVX2, AVX-512 VNNI) give each output the
    /// bits of the scalar unpack-then-dot path, for one to nine activation rows.
    #[test]
    fn k_row_kernels_equal_the_unpacked_path_bitwise((ty, w, x, m) in k_row_case()) {
        let Some(Kernel::Q8K { unpack, .. }) = kernel(ty, false) else { unreachable!() };
        let cols = w.len() / ty.type_size() * 256;
        let acts = quantize_rows(&x, cols, quantize_row_q8k);
        let xs: Vec<&[act::Q8KBlock]> = acts.chunks_exact(cols / 256).collect();
        let mut ks = Vec::new();
        unpack_row(unpack, ty.type_size(), &w, &mut ks);
        let mut ran = 0;
        for (name, row) in [("avx2", k_avx2::k_row(ty)), ("avx512", k_avx512::k_row(ty))] {
            let Some(row) = row else { continue };
            ran += 1;
            let mut out = [f32::NAN; 9];
            // SAFETY: `row` is only handed out after its CPU check.
            unsafe { row(&w, &xs[..m], &mut out) };
            for (i, xi) in xs.iter().enumerate() {
                let want = k_quants::vec_dot_k(&ks, xi);
                prop_assert!(out[i].to_bits() == want.to_bits(),
                    "{ty} {name}: x row {i} of {m}: kernel {} vs unpacked {}", out[i], want);
            }
        }
        prop_assert!(ran > 0 || !simd::avx2_available(), "{ty}: no row kernel ran");
    }
}
