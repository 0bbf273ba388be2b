//! What every fused kernel needs from the machine: its inputs as contiguous CPU slices,
//! disjoint output rows written from several threads, and loops built for AVX2 where
//! the CPU has it (chosen at run time; the portable build elsewhere).

use candle_core::{bail, Layout, Result, Storage, Tensor};

use super::Float;

/// Runs `f` on `t`'s elements in row-major order (made contiguous first if needed).
pub fn with_slice<T: Float, R>(t: &Tensor, f: impl FnOnce(&[T]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        bail!("fused kernels run on the CPU");
    };
    let Some((a, b)) = layout.contiguous_offsets() else {
        bail!("fused kernels: a contiguous tensor is not contiguous");
    };
    f(&cpu.as_slice::<T>()?[a..b])
}

/// The elements a contiguous `layout` addresses in a CPU storage's slice.
pub fn contiguous<'a, T>(x: &'a [T], layout: &Layout, op: &str) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&x[a..b]),
        None => bail!("{op}: operands must be contiguous"),
    }
}

/// `$f::<f32>(args)` or `$f::<f64>(args)` by `$dtype`, else an error naming `$op`: the
/// backward passes' one dispatch on the element type.
macro_rules! by_dtype {
    ($op:expr, $dtype:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $dtype {
            candle_core::DType::F32 => $f::<f32>($($arg),*),
            candle_core::DType::F64 => $f::<f64>($($arg),*),
            t => candle_core::bail!("{}: {t:?}", $op),
        }
    };
}
pub(crate) use by_dtype;

/// An output buffer that parallel tasks write at disjoint offsets.
pub struct Shared<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: tasks only write disjoint ranges (each kernel's task split says which).
unsafe impl<T: Send> Send for Shared<T> {}
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    pub fn new(v: &mut [T]) -> Self {
        Self {
            ptr: v.as_mut_ptr(),
            len: v.len(),
        }
    }

    pub fn ptr(&self) -> *mut T {
        self.ptr
    }

    /// # Safety
    /// No other task touches `start..start + len` while the slice lives.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
        assert!(
            start + len <= self.len,
            "fused kernel: write past its buffer"
        );
        std::slice::from_raw_parts_mut(self.ptr.add(start), len)
    }
}

/// `f(i)` for `i` in `0..n` on the rayon pool (candle's matmuls use the same one).
pub fn par_for(n: usize, f: impl Fn(usize) + Send + Sync) {
    use rayon::prelude::*;
    if n <= 1 {
        (0..n).for_each(|i| simd(|| f(i)));
        return;
    }
    (0..n).into_par_iter().for_each(|i| simd(|| f(i)));
}

/// `f(i)` for every `i`, each returning a partial result, gathered in order.
pub fn par_map<R: Send>(n: usize, f: impl Fn(usize) -> R + Send + Sync) -> Vec<R> {
    use rayon::prelude::*;
    (0..n).into_par_iter().map(|i| simd(|| f(i))).collect()
}

/// Runs `f` compiled for AVX2 + FMA where the CPU has them (its inlined loops then
/// vectorize eight f32 lanes wide), else as built.
#[inline(always)]
pub fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::quant::simd::avx2_available() {
        // SAFETY: AVX2 and FMA were just checked.
        return unsafe { avx2(f) };
    }
    f()
}

/// # Safety
/// AVX2 and FMA are available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Row blocks of about `target` elements for parallel row-wise kernels.
pub fn row_blocks(rows: usize, width: usize, target: usize) -> usize {
    (target / width.max(1)).clamp(1, rows.max(1))
}

/// `Σ a_i b_i` with eight independent partial sums (vectorizes; the order is fixed).
#[inline(always)]
pub fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += *x * *y;
    }
    s
}

/// `max_i x_i` in eight lanes (vectorizes); `-inf` for an empty slice.
#[inline(always)]
pub fn max<T: Float>(x: &[T]) -> T {
    let mut acc = [T::NEG_INFINITY; 8];
    let c = x.chunks_exact(8);
    let rest = c.remainder();
    for v in c {
        for l in 0..8 {
            acc[l] = if v[l] > acc[l] { v[l] } else { acc[l] };
        }
    }
    let pick = |a: T, b: T| if b > a { b } else { a };
    let m = rest.iter().fold(T::NEG_INFINITY, |m, &v| pick(m, v));
    let lanes = pick(
        pick(pick(acc[0], acc[4]), pick(acc[1], acc[5])),
        pick(pick(acc[2], acc[6]), pick(acc[3], acc[7])),
    );
    pick(lanes, m)
}

/// `x_i <- e^(x_i - shift)` in place, returning `Σ_i` of the new values (eight lanes).
#[inline(always)]
pub fn exp_shifted_sum<T: Float>(x: &mut [T], shift: T) -> T {
    let mut acc = [T::ZERO; 8];
    let mut c = x.chunks_exact_mut(8);
    for v in &mut c {
        for l in 0..8 {
            v[l] = (v[l] - shift).exp();
            acc[l] += v[l];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for v in c.into_remainder() {
        *v = (*v - shift).exp();
        s += *v;
    }
    s
}

/// `Σ_i e^(x_i - shift)` (eight lanes).
#[inline(always)]
pub fn sum_exp<T: Float>(x: &[T], shift: T) -> T {
    let mut acc = [T::ZERO; 8];
    let c = x.chunks_exact(8);
    let rest = c.remainder();
    for v in c {
        for l in 0..8 {
            acc[l] += (v[l] - shift).exp();
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for &v in rest {
        s += (v - shift).exp();
    }
    s
}

/// A tensor of `shape` on the CPU from `v`.
pub fn tensor<T: Float>(v: Vec<T>, shape: &[usize]) -> Result<Tensor> {
    Tensor::from_vec(v, shape, &candle_core::Device::Cpu)
}
