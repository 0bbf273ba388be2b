//! Micro-benchmark of the quantized matmul, both activation precisions (`int8`: 8-bit
//! blocks and integer dots as llama.cpp; `f32`: exact, weights dequantized on the fly):
//! Q4_1 weights (SmolLM2-135M's FFN shapes) and the Q8_0 LM head (49152 x 576), for
//! decode (n = 1) and prefill (n = 128); then Q4_0, Q8_0, Q4_K and Q6_K at 576 x 1536.
//!
//! Run: `CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo run -p lineage --example qmatrix_bench`
//! (`LINEAGE_BENCH_QUICK=1`: only the SmolLM2 shapes; `LINEAGE_BENCH_N=1,16,128`: row counts;
//! `LINEAGE_BENCH_MIN=1`: the fastest call, not the median)
//! (threads: `LINEAGE_THREADS`, default all cores).
//! GB/s counts weight bytes streamed per call; GFLOP/s counts 2 * rows * cols * n.

use std::time::Instant;

use lineage::kernels::pool;
use lineage::kernels::quant::{ActPrecision, GgmlType, QMatrix};

/// Byte offsets of the f16 scale fields in a block (random bytes there may be NaN).
fn scale_fields(ty: GgmlType) -> &'static [usize] {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q8_0 => &[0],
        GgmlType::Q4_1 | GgmlType::Q4_K => &[0, 2],
        GgmlType::Q6_K => &[208],
        _ => &[],
    }
}

/// Random blocks of `ty` with small f16 scales.
fn random_blocks(ty: GgmlType, rows: usize, cols: usize, seed: &mut u64) -> Vec<u8> {
    let mut next = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    };
    let ts = ty.type_size();
    let mut b: Vec<u8> = (0..rows * cols / ty.block_size() * ts)
        .map(|_| next() as u8)
        .collect();
    for blk in b.chunks_exact_mut(ts) {
        for &at in scale_fields(ty) {
            blk[at..at + 2].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes());
        }
    }
    b
}

/// Seconds per call over enough calls to fill ~0.5 s: the median, or with
/// `LINEAGE_BENCH_MIN=1` the fastest call (on a shared VM whose speed swings by a
/// third from one moment to the next, the fastest is what compares two builds).
fn time_it(mut f: impl FnMut()) -> f64 {
    f();
    let t0 = Instant::now();
    f();
    let once = t0.elapsed().as_secs_f64().max(1e-7);
    let reps = ((0.5 / once) as usize).clamp(5, 20_000);
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    if std::env::var_os("LINEAGE_BENCH_MIN").is_some() {
        times[0]
    } else {
        times[reps / 2]
    }
}

fn main() -> lineage::Result<()> {
    let mut seed = 0x2545f4914f6cdd1d;
    println!(
        "threads: {}, avx2: {}",
        pool::global().n_threads(),
        lineage::kernels::quant::simd::avx2_available()
    );
    let smol = [
        (GgmlType::Q4_1, (576, 1536)),
        (GgmlType::Q4_1, (1536, 576)),
        (GgmlType::Q8_0, (49152, 576)),
    ];
    let others = [
        GgmlType::Q4_0,
        GgmlType::Q8_0,
        GgmlType::Q4_K,
        GgmlType::Q6_K,
    ]
    .map(|t| (t, (576, 1536)));
    let quick = std::env::var_os("LINEAGE_BENCH_QUICK").is_some();
    let cases = smol
        .into_iter()
        .chain(others.into_iter().filter(|_| !quick));
    for (ty, (rows, cols)) in cases {
        let m = QMatrix::from_vec(
            "w",
            ty,
            rows,
            cols,
            random_blocks(ty, rows, cols, &mut seed),
        )?;
        // LINEAGE_BENCH_N=1,16,128: the row counts (16: a server's batched decode).
        let ns: Vec<usize> = std::env::var("LINEAGE_BENCH_N")
            .ok()
            .and_then(|v| v.split(',').map(|x| x.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![1, 128]);
        for &n in &ns {
            let x: Vec<f32> = (0..n * cols)
                .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
                .collect();
            let mut out = vec![0f32; n * rows];
            for (name, act) in [("int8", ActPrecision::Int8), ("f32", ActPrecision::F32)] {
                let secs = time_it(|| {
                    m.matmul_act(&x, &mut out, act)
                        .expect("shapes are consistent")
                });
                let gbs = m.bytes().len() as f64 / secs / 1e9;
                let gflops = 2.0 * (rows * cols * n) as f64 / secs / 1e9;
                println!(
                    "{ty:<5} [{rows:>5} x {cols:>4}] n={n:>3} {name:<4}: {:>9.1} us  {gbs:>6.2} GB/s (weights)  {gflops:>7.2} GFLOP/s",
                    secs * 1e6
                );
            }
        }
    }
    Ok(())
}
