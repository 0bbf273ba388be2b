//! Machine probes for `lineage bench --roofline`: the read bandwidth and the FMA peak of
//! this machine, measured on the kernel pool with every thread it has. Decode is bound
//! by the first (every weight is read once per token), prefill by the second.

use std::time::Instant;

use super::pool;

/// Bytes per second reading a 256 MiB buffer (far past any cache), best of 3 passes.
pub fn read_bandwidth() -> f64 {
    let buf = vec![1f32; 64 << 20];
    let n = pool::global().n_threads().max(1);
    let chunk = buf.len().div_ceil(n);
    let sums: Vec<std::sync::atomic::AtomicU32> = (0..n).map(|_| Default::default()).collect();
    let mut best = 0f64;
    for _ in 0..3 {
        let t = Instant::now();
        pool::global().run(n, &|i| {
            let s = sum(&buf[(i * chunk).min(buf.len())..((i + 1) * chunk).min(buf.len())]);
            // Kept, so the reads are not optimised away.
            sums[i].store(s.to_bits(), std::sync::atomic::Ordering::Relaxed);
        });
        best = best.max((buf.len() * 4) as f64 / t.elapsed().as_secs_f64());
    }
    best
}

/// Sum in 16 independent lanes (vectorised by the compiler).
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    for c in x.chunks_exact(16) {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum()
}

/// FLOP/s of fused multiply-adds on every thread (2 FLOPs each), with the widest
/// vectors the CPU has (AVX-512, AVX2+FMA, or scalar), best of 3.
pub fn fma_peak() -> f64 {
    let n = pool::global().n_threads().max(1);
    const ITERS: u64 = 20_000_000;
    let lanes = lanes();
    let mut best = 0f64;
    for _ in 0..3 {
        let t = Instant::now();
        pool::global().run(n, &|_| {
            std::hint::black_box(fma_loop(ITERS));
        });
        let flops = (n as u64 * ITERS * 12 * lanes * 2) as f64;
        best = best.max(flops / t.elapsed().as_secs_f64());
    }
    best
}

fn lanes() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            return 16;
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return 8;
        }
    }
    1
}

/// 12 independent FMA chains of `lanes()` values, `iters` steps each.
fn fma_loop(iters: u64) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F was just detected.
            return unsafe { fma512(iters) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA were just detected.
            return unsafe { fma256(iters) };
        }
    }
    let mut a = [1f32; 12];
    for _ in 0..iters {
        for v in &mut a {
            *v = v.mul_add(0.999_999, 1e-7);
        }
    }
    a.iter().sum()
}

/// # Safety
/// AVX-512F is available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma512(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let (m, c) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    let mut a = [_mm512_set1_ps(1.0); 12];
    for _ in 0..iters {
        for v in &mut a {
            *v = _mm512_fmadd_ps(*v, m, c);
        }
    }
    a.iter().map(|&v| _mm512_reduce_add_ps(v)).sum()
}

/// # Safety
/// AVX2 and FMA are available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma256(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let (m, c) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let mut a = [_mm256_set1_ps(1.0); 12];
    for _ in 0..iters {
        for v in &mut a {
            *v = _mm256_fmadd_ps(*v, m, c);
        }
    }
    let mut out = [0f32; 8];
    a.iter().fold(0f32, |s, &v| {
        _mm256_storeu_ps(out.as_mut_ptr(), v);
        s + out.iter().sum::<f32>()
    })
}
