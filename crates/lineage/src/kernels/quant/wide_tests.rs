//! The wide kernels against their scalar statements, bit for bit, every group size from
//! one row to sixteen and one to eight activation rows: the nibble formats' panel and
//! direct path (int8_wide.rs on AVX-512 VNNI and int8_wide_avx2.rs on AVX2, also
//! through the matmul) and the K-quant panel (k_wide.rs)
//! against the unpack-then-dot path. Decode, prefill and batches rest on them agreeing.

use proptest::collection::vec;
use proptest::prelude::*;

use super::act::{self, quantize_row_q8, quantize_row_q8k};
use super::dispatch::{kernel, Kernel};
use super::int8_wide::{self, reference, WidePanel, WIDE, X_MAX};
use super::k_quants::{self, unpack_row};
use super::k_wide::{self, KPanel};
use super::matmul::quantize_rows;
use super::prop_tests::tame;
use super::*;

/// The nibble formats the wide kernels take.
const NIBBLES: [GgmlType; 4] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
];

/// A group of 1..=16 weight rows of 1..=12 blocks and 1..=8 activation rows.
fn group_case() -> impl Strategy<Value = (GgmlType, usize, usize, Vec<u8>, Vec<f32>)> {
    (
        prop::sample::select(&NIBBLES[..]),
        1usize..=WIDE,
        1usize..=12,
        1usize..=X_MAX,
    )
        .prop_flat_map(|(ty, rows, nb, m)| {
            let w = vec(any::<u8>(), rows * nb * ty.type_size());
            (Just((ty, rows, nb)), w, vec(-1f32..1.0, m * nb * 32))
        })
        .prop_map(|((ty, rows, nb), mut w, x)| {
            tame(ty, &mut w);
            (ty, rows, nb * 32, w, x)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every output of the panel (refilled over a larger one) and of the direct path
    /// is the scalar statement's, bit for bit.
    #[test]
    fn wide_kernels_equal_the_scalar_statement_bitwise((ty, rows, cols, w, x) in group_case()) {
        // Both instruction sets' kernels where this CPU runs them.
        let sets = [("VNNI", int8_wide::vnni_kernels(ty)), ("AVX2", int8_wide::avx2_kernels(ty))];
        prop_assert!(sets[0].1.is_some() || !int8_vnni::available(), "{ty}: no VNNI kernel");
        prop_assert!(sets[1].1.is_some() || !simd::avx2_available(), "{ty}: no AVX2 kernel");
        for (isa, k) in sets {
            if let Some(k) = k {
                check_group(isa, k, (ty, rows, cols, &w, &x))?;
            }
        }
    }
}

/// One instruction set's panel (refilled over a larger one) and direct path against
/// the scalar statement, bit for bit.
fn check_group(
    isa: &str,
    k: int8_wide::WideKernel,
    (ty, rows, cols, w, x): (GgmlType, usize, usize, &[u8], &[f32]),
) -> std::result::Result<(), TestCaseError> {
    let (nb, rb) = (cols / 32, cols / 32 * ty.type_size());
    let acts = quantize_rows(x, cols, quantize_row_q8);
    let xs: Vec<&[act::Q8Block]> = acts.chunks_exact(nb).collect();
    let mut offs = Vec::new();
    if let Some(off) = k.offset {
        int8_wide::offset_terms(&acts, off, &mut offs);
    }
    let os: Vec<&[i32]> = offs.chunks_exact(nb).collect();
    let mut panel = WidePanel::default();
    let big = vec![0x33u8; WIDE * (rb + 2 * ty.type_size())];
    let mut out = [[f32::NAN; WIDE]; X_MAX];
    // SAFETY: the kernels are only handed out after their CPU check; `big` holds 16
    // rows of rb + 2 blocks, `w` `rows` rows of `rb` bytes, each activation row a
    // block (and an offset term) per weight block.
    unsafe {
        (k.fill)(&big, rb + 2 * ty.type_size(), WIDE, nb + 2, &mut panel);
        (k.fill)(w, rb, rows, nb, &mut panel);
        (k.dot)(&panel, &xs, &os, &mut out);
    }
    let mut direct = [[f32::NAN; WIDE]; X_MAX];
    let m = xs.len().min(4);
    let dos = if os.is_empty() { &os[..] } else { &os[..m] };
    // SAFETY: as above.
    unsafe { (k.direct)((w, &big), rb, rows, &xs[..m], dos, &mut direct) };
    for (i, xi) in xs.iter().enumerate() {
        for r in 0..rows {
            let want = reference(ty, &w[r * rb..(r + 1) * rb], xi);
            prop_assert!(
                out[i][r].to_bits() == want.to_bits(),
                "{isa} {ty} panel: x row {i}, w row {r} of {rows}: {} vs {}",
                out[i][r],
                want
            );
            if i < m {
                prop_assert!(
                    direct[i][r].to_bits() == want.to_bits(),
                    "{isa} {ty} direct: x row {i}, w row {r} of {rows}: {} vs {}",
                    direct[i][r],
                    want
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The scalar statement (on every CPU, VNNI or not) is the dot product of the
    /// dequantized weights and the dequantized activation blocks, to f32 rounding:
    /// within 1e-5 of the sum of the absolute products (f64 oracle).
    #[test]
    fn the_scalar_statement_is_the_dequantized_dot((ty, rows, cols, w, x) in group_case()) {
        let (nb, rb) = (cols / 32, cols / 32 * ty.type_size());
        let acts = quantize_rows(&x, cols, quantize_row_q8);
        let xs: Vec<&[act::Q8Block]> = acts.chunks_exact(nb).collect();
        let deq = super::dispatch::dequantizer(ty).unwrap();
        for r in 0..rows {
            let mut wf = vec![0f32; cols];
            deq(&w[r * rb..(r + 1) * rb], &mut wf);
            for xi in &xs {
                let yf = xi.iter().flat_map(|b| b.qs.iter().map(move |&q| q as f64 * b.d as f64));
                let (mut dot, mut mag) = (0f64, 0f64);
                for (a, y) in wf.iter().zip(yf) {
                    dot += *a as f64 * y;
                    mag += (*a as f64 * y).abs();
                }
                let got = reference(ty, &w[r * rb..(r + 1) * rb], xi) as f64;
                // Q4_1/Q5_1 take `s` (an f16-rounded block sum) for the min term, as ggml.
                let s_err: f64 = xi.iter().map(|b| (b.s as f64 - b.d as f64 * b.sum as f64).abs()).sum();
                let tol = 1e-5 * mag + 2.0 * s_err + 1e-30;
                prop_assert!((got - dot).abs() <= tol, "{ty}: row {r}: {got} vs {dot} (tol {tol})");
            }
        }
    }
}

/// Rows up to 128 MiB apart fit the gathers' 32-bit offsets; farther ones are refused
/// (the matmul then takes the row kernels), as is an overflowing product.
#[test]
fn wide_kernels_take_rows_whose_group_offsets_fit_32_bits() {
    assert!(int8_wide::fits(18 * 1024));
    assert!(int8_wide::fits((i32::MAX as usize - 1) / WIDE));
    assert!(!int8_wide::fits(i32::MAX as usize / WIDE + 1));
    assert!(!int8_wide::fits(usize::MAX / 2));
}

/// Through the matmul, on an AVX2 or VNNI CPU: rows past a multiple of sixteen, decode (one row)
/// and prefill (nine: a panel call of eight and one of one) give every output the scalar
/// statement's bits.
#[test]
fn wide_matmul_equals_the_scalar_statement_bitwise() {
    if int8_wide::kernels(GgmlType::Q5_0).is_none() {
        assert!(!simd::avx2_available());
        return;
    }
    let mut seed = 7u64;
    for ty in NIBBLES {
        let (rows, cols) = (37, 96);
        let mut w: Vec<u8> = (0..rows * cols / 32 * ty.type_size())
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        tame(ty, &mut w);
        let m = QMatrix::from_vec("w", ty, rows, cols, w.clone()).unwrap();
        let rb = cols / 32 * ty.type_size();
        for n in [1, 9] {
            let x: Vec<f32> = (0..n * cols)
                .map(|i| ((i * 7919 % 211) as f32 - 105.0) / 50.0)
                .collect();
            let mut out = vec![f32::NAN; n * rows];
            m.matmul_opts(&x, &mut out, ActPrecision::Int8, true)
                .unwrap();
            let acts = quantize_rows(&x, cols, quantize_row_q8);
            for (i, xi) in acts.chunks_exact(cols / 32).enumerate() {
                for r in 0..rows {
                    let want = reference(ty, &w[r * rb..(r + 1) * rb], xi);
                    let got = out[i * rows + r];
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{ty} n={n}: x row {i}, w row {r}: {got} vs {want}"
                    );
                }
            }
        }
    }
}

/// The K-quant types with a panel.
const K_TYPES: [GgmlType; 3] = [GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K];

/// A group of 1..=16 K-quant rows (Q4_K, Q5_K, Q6_K) of 1..=3 super-blocks and 1..=8
/// activation rows.
fn k_group_case() -> impl Strategy<Value = (GgmlType, usize, Vec<u8>, Vec<f32>)> {
    (
        prop::sample::select(&K_TYPES[..]),
        1usize..=k_wide::WIDE,
        1usize..=3,
        1usize..=k_wide::X_MAX,
    )
        .prop_flat_map(|(ty, rows, nb, m)| {
            let w = vec(any::<u8>(), rows * nb * ty.type_size());
            (Just((ty, rows)), w, vec(-1f32..1.0, m * nb * 256))
        })
        .prop_map(|((ty, rows), mut w, x)| {
            tame(ty, &mut w);
            (ty, rows, w, x)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every output of the K-quant panel (refilled over a larger one) is the scalar
    /// unpack-then-dot path's, bit for bit.
    #[test]
    fn k_panel_equals_the_unpacked_path_bitwise((ty, rows, w, x) in k_group_case()) {
        let Some(k) = k_wide::kernels(ty) else {
            prop_assert!(!int8_vnni::available(), "{ty}: no K panel on a VNNI CPU");
            return Ok(());
        };
        let Some(Kernel::Q8K { unpack, .. }) = kernel(ty, false) else { unreachable!() };
        let rb = w.len() / rows;
        let (nb, cols) = (rb / ty.type_size(), rb / ty.type_size() * 256);
        let acts = quantize_rows(&x, cols, quantize_row_q8k);
        let xs: Vec<&[act::Q8KBlock]> = acts.chunks_exact(nb).collect();
        let mut panel = KPanel::default();
        let big = vec![0x11u8; k_wide::WIDE * (rb + ty.type_size())];
        let mut out = [[f32::NAN; k_wide::WIDE]; k_wide::X_MAX];
        // SAFETY: the kernels are only handed out after their CPU check; `big` holds 16
        // rows of rb + 1 super-blocks, `w` `rows` rows of `rb` bytes, each activation row
        // a super-block per weight super-block.
        unsafe {
            (k.fill)(&big, rb + ty.type_size(), k_wide::WIDE, nb + 1, &mut panel);
            (k.fill)(&w, rb, rows, nb, &mut panel);
            (k.dot)(&panel, &xs, &mut out);
        }
        let mut ks = Vec::new();
        for r in 0..rows {
            unpack_row(unpack, ty.type_size(), &w[r * rb..(r + 1) * rb], &mut ks);
            for (i, xi) in xs.iter().enumerate() {
                let want = k_quants::vec_dot_k(&ks, xi);
                prop_assert!(out[i][r].to_bits() == want.to_bits(),
                    "{ty}: x row {i}, w row {r} of {rows}: panel {} vs unpacked {}", out[i][r], want);
            }
        }
    }
}
