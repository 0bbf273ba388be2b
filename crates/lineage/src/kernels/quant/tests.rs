//! Kernel tests against outside references: gguf-py's dequantization (fixture written
//! by tools/quant_fixtures/make_quant_fixtures.py) must match bitwise, and the quantized
//! matmul must match "dequantize, then f32 matmul" within the activation-quantization error.

use super::*;
use half::f16;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/quant/quant_fixtures.safetensors"
);

pub(super) const ALL: [GgmlType; 14] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::MXFP4,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

#[test]
fn dequantize_every_type_matches_gguf_py_bitwise() {
    let bytes = std::fs::read(FIXTURE)
        .expect("fixture missing: run tools/quant_fixtures/make_quant_fixtures.py");
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for ty in ALL {
        let blocks = st.tensor(&format!("{ty}.blocks")).unwrap();
        let want = st.tensor(&format!("{ty}.dequant")).unwrap();
        let want: Vec<f32> = want
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let mut got = vec![0f32; want.len()];
        dequantize_row(ty.name(), ty, blocks.data(), &mut got).unwrap();
        let bad = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a.to_bits() != b.to_bits());
        if let Some(i) = bad {
            let max = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            panic!(
                "{ty}: first mismatch at {i}: ours {} vs gguf-py {}; max abs error {max}",
                got[i], want[i]
            );
        }
    }
}

/// Deterministic xorshift for test data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// Byte offsets of f16 scale fields per block (random bytes there could be inf/NaN).
pub(super) fn scale_fields(ty: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 => &[0],
        Q4_1 | Q5_1 | Q4_K | Q5_K => &[0, 2],
        Q2_K => &[80, 82],
        Q3_K => &[108],
        Q6_K => &[208],
        _ => &[],
    }
}

/// Random but valid blocks of `ty` for `n_values` values.
fn random_blocks(ty: GgmlType, n_values: usize, rng: &mut Rng) -> Vec<u8> {
    let n_blocks = n_values / ty.block_size();
    let ts = ty.type_size();
    let mut b: Vec<u8> = (0..n_blocks * ts).map(|_| rng.next() as u8).collect();
    for blk in b.chunks_exact_mut(ts) {
        match ty {
            GgmlType::F32 => blk.copy_from_slice(&rng.unit().to_le_bytes()),
            GgmlType::F16 => blk.copy_from_slice(&f16::from_f32(rng.unit()).to_le_bytes()),
            GgmlType::BF16 => blk.copy_from_slice(&(rng.unit().to_bits() >> 16).to_le_bytes()[..2]),
            GgmlType::MXFP4 => blk[0] = 120 + (rng.next() % 8) as u8,
            _ => {}
        }
        for &at in scale_fields(ty) {
            let s = f16::from_f32(rng.unit() * 0.05);
            blk[at..at + 2].copy_from_slice(&s.to_le_bytes());
        }
    }
    b
}

/// `[n, rows]` by plain f32 dots over the dequantized matrix (the oracle).
fn reference_matmul(m: &QMatrix, x: &[f32]) -> Vec<f32> {
    let w = m.dequantize();
    let (rows, cols) = (m.rows(), m.cols());
    let mut out = vec![0f32; x.len() / cols * rows];
    for (i, xr) in x.chunks_exact(cols).enumerate() {
        for r in 0..rows {
            let wr = &w[r * cols..(r + 1) * cols];
            out[i * rows + r] = wr
                .iter()
                .zip(xr)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum::<f64>() as f32;
        }
    }
    out
}

/// Max |a - b| over rms(b), with the index of the worst element.
fn rel_err(a: &[f32], b: &[f32]) -> (f32, usize) {
    let rms = (b.iter().map(|v| v * v).sum::<f32>() / b.len() as f32)
        .sqrt()
        .max(1e-30);
    let (i, e) = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .enumerate()
        .fold((0, 0f32), |m, (i, e)| if e > m.1 { (i, e) } else { m });
    (e / rms, i)
}

/// Float weights are not quantized against 8-bit activations: f32 rounding only.
/// Quantized types see the activation rounding: each x is off by up to `amax/254`
/// (uniform), i.e. a dot error of about 0.4% of rms(out) for uniform x; the max over
/// ~600 outputs is then ~3.5 sigma = 1.4% (measured: 0.8e-2 .. 1.9e-2). 2.5e-2 ~ 6 sigma.
fn tolerance(ty: GgmlType) -> f32 {
    match ty {
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => 1e-5,
        _ => 2.5e-2,
    }
}

#[test]
fn qmatrix_matmul_every_type_matches_dequantized_f32() {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let (rows, cols) = (37, 512);
    for ty in ALL {
        let m = QMatrix::from_vec(
            "w",
            ty,
            rows,
            cols,
            random_blocks(ty, rows * cols, &mut rng),
        )
        .unwrap();
        for n in [1, 3, 17] {
            let x: Vec<f32> = (0..n * cols).map(|_| rng.unit()).collect();
            let want = reference_matmul(&m, &x);
            for simd in [true, false] {
                let mut got = vec![0f32; n * rows];
                m.matmul_with(&x, &mut got, simd).unwrap();
                let (e, at) = rel_err(&got, &want);
                eprintln!("{ty} n={n} simd={simd}: max err / rms = {e:.2e} at {at}");
                assert!(
                    e < tolerance(ty),
                    "{ty} n={n} simd={simd}: max err/rms {e} at {at}: {} vs {}",
                    got[at],
                    want[at]
                );
            }
        }
    }
}

#[test]
fn qmatrix_simd_and_scalar_kernels_agree() {
    let mut rng = Rng(12345);
    let (rows, cols) = (19, 768);
    for ty in ALL {
        let m = QMatrix::from_vec(
            "w",
            ty,
            rows,
            cols,
            random_blocks(ty, rows * cols, &mut rng),
        )
        .unwrap();
        let x: Vec<f32> = (0..2 * cols).map(|_| rng.unit()).collect();
        let (mut a, mut b) = (vec![0f32; 2 * rows], vec![0f32; 2 * rows]);
        m.matmul_with(&x, &mut a, true).unwrap();
        m.matmul_with(&x, &mut b, false).unwrap();
        let (e, at) = rel_err(&a, &b);
        assert!(e < 1e-5, "{ty}: simd vs scalar err/rms {e} at {at}");
    }
}

#[test]
fn qmatrix_bad_shapes_error() {
    assert!(QMatrix::from_vec("w", GgmlType::Q4_0, 2, 33, vec![0; 36]).is_err());
    assert!(QMatrix::from_vec("w", GgmlType::Q4_0, 2, 32, vec![0; 35]).is_err());
    let e = QMatrix::from_vec("w.iq", GgmlType::IQ2_XXS, 1, 256, vec![0; 66]).unwrap_err();
    assert!(
        matches!(e, crate::Error::UnsupportedTensorType { ggml_type: 16, .. }),
        "{e}"
    );
    let m = QMatrix::from_vec("w", GgmlType::Q8_0, 2, 32, vec![0; 68]).unwrap();
    assert!(m.matmul(&[0.0; 33], &mut [0.0; 2]).is_err());
    assert!(m.matmul(&[0.0; 64], &mut [0.0; 3]).is_err());
}

#[test]
fn dequantize_row_length_mismatch_errors() {
    let mut out = [0f32; 31];
    assert!(dequantize_row("t", GgmlType::Q4_1, &[0; 20], &mut out).is_err());
    assert!(dequantize_row("t", GgmlType::Q4_1, &[0; 21], &mut [0f32; 32]).is_err());
}

/// The exact-activation path is "dequantize, then matmul" up to f32 summation order:
/// against the f64 oracle, max error over rms(out) stays near f32 epsilon times
/// sqrt(cols) (measured below 1e-6); 1e-5 leaves a margin of ten. Covers the decode
/// kernels (n = 1, 3), the 4 x 3 panel tiles with both remainders (17 = 5*3 + 2,
/// 64 = 21*3 + 1) and a row count (37) that leaves a partial panel.
#[test]
fn qmatrix_matmul_f32act_every_type_matches_dequantized_f64() {
    let mut rng = Rng(0x51ab_1e5e_ed00_0001);
    let (rows, cols) = (37, 512);
    for ty in ALL {
        let m = QMatrix::from_vec(
            "w",
            ty,
            rows,
            cols,
            random_blocks(ty, rows * cols, &mut rng),
        )
        .unwrap();
        for n in [1, 3, 17, 64] {
            let x: Vec<f32> = (0..n * cols).map(|_| rng.unit()).collect();
            let want = reference_matmul(&m, &x);
            for simd in [true, false] {
                let mut got = vec![0f32; n * rows];
                m.matmul_opts(&x, &mut got, ActPrecision::F32, simd)
                    .unwrap();
                let (e, at) = rel_err(&got, &want);
                assert!(
                    e < 1e-5,
                    "{ty} n={n} simd={simd}: max err/rms {e:.2e} at {at}: {} vs {}",
                    got[at],
                    want[at]
                );
            }
        }
    }
}

/// The in-register dequantization must equal the scalar dequantizers bit for bit (the
/// products `d * q` are exact in f32; see deq_avx2.rs): a one-hot activation row
/// picks out single weights, so any layout slip shows as a wrong value.
#[test]
fn qmatrix_matmul_f32act_one_hot_rows_read_back_weights_exactly() {
    let mut rng = Rng(77);
    let (rows, cols) = (5, 256);
    for ty in ALL {
        let m = QMatrix::from_vec(
            "w",
            ty,
            rows,
            cols,
            random_blocks(ty, rows * cols, &mut rng),
        )
        .unwrap();
        let w = m.dequantize();
        for n in [1, 5] {
            let picks: Vec<usize> = (0..n).map(|_| rng.next() as usize % cols).collect();
            let mut x = vec![0f32; n * cols];
            for (i, &c) in picks.iter().enumerate() {
                x[i * cols + c] = 1.0;
            }
            let mut got = vec![0f32; n * rows];
            m.matmul_f32act(&x, &mut got).unwrap();
            for (i, &c) in picks.iter().enumerate() {
                for r in 0..rows {
                    assert_eq!(
                        got[i * rows + r],
                        w[r * cols + c],
                        "{ty} n={n}: row {r} col {c}"
                    );
                }
            }
        }
    }
}

/// No activation rows, or a matrix without rows, is a valid empty product on every path.
/// Both used to panic on the exact path: the AVX2 decode kernel indexed a missing
/// activation row, and a zero task size divided `rows.div_ceil(per_task)`.
#[test]
fn qmatrix_matmul_no_rows_is_an_empty_product() {
    let m = QMatrix::from_vec("w", GgmlType::Q4_0, 8, 64, vec![0; 8 * 2 * 18]).unwrap();
    for act in [ActPrecision::F32, ActPrecision::Int8] {
        for simd in [true, false] {
            m.matmul_opts(&[], &mut [], act, simd).unwrap();
        }
    }
    let empty = QMatrix::from_vec("w", GgmlType::Q8_0, 0, 32, Vec::new()).unwrap();
    empty
        .matmul_opts(&[0.5; 32], &mut [], ActPrecision::F32, true)
        .unwrap();
}
