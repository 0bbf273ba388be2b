//! What every fused kernel needs from the machine: its inputs as contiguous CPU slices,
//! disjoint output rows written from several threads, and loops built for AVX2 where
//! the CPU has it (chosen at run time; the portable build elsewhere).

use candle_core::{bail, Layout, Result, Storage, Tensor};

use crate::kernels::real::Float;

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

/// What a fused op's forward keeps for its backward (the probabilities, projections or
/// loss gradient it already computed). The first backward takes it; a second backward
/// over the same graph finds nothing and recomputes.
pub struct Kept<T>(std::sync::Mutex<Option<T>>);

impl<T> Kept<T> {
    pub fn empty() -> Self {
        Self(std::sync::Mutex::new(None))
    }

    pub fn put(&self, v: Option<T>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = v;
    }

    pub fn take(&self) -> Option<T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

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

thread_local! {
    static SOLO: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with this thread's kernels on this thread alone: the training step's shards
/// each own a core, and a kernel splitting its work across the pool from inside one only
/// queues tasks that the other shard's core is too busy to take (llama 6 x 256 on a
/// 2-core Xeon, single runs: 4054 tok/s nested, 4201-4608 solo).
pub fn solo<R>(f: impl FnOnce() -> R) -> R {
    let before = SOLO.with(|s| s.replace(true));
    let out = f();
    SOLO.with(|s| s.set(before));
    out
}

/// Threads a kernel called on this thread may use: 1 inside [`solo`], else the pool's.
pub fn threads() -> usize {
    if SOLO.with(std::cell::Cell::get) {
        1
    } else {
        rayon::current_num_threads()
    }
}

/// `f(i)` for `i` in `0..n` on the rayon pool (candle's matmuls use the same one).
pub fn par_for(n: usize, f: impl Fn(usize) + Send + Sync) {
    use rayon::prelude::*;
    if n <= 1 || threads() == 1 {
        (0..n).for_each(|i| simd(|| f(i)));
        return;
    }
    (0..n).into_par_iter().for_each(|i| simd(|| f(i)));
}

/// `f(i)` for every `i`, each returning a partial result, gathered in order.
pub fn par_map<R: Send>(n: usize, f: impl Fn(usize) -> R + Send + Sync) -> Vec<R> {
    use rayon::prelude::*;
    if threads() == 1 {
        return (0..n).map(|i| simd(|| f(i))).collect();
    }
    (0..n).into_par_iter().map(|i| simd(|| f(i))).collect()
}

/// Runs `f` compiled for AVX2 + FMA where the CPU has them (its inlined loops then
/// vectorize eight f32 lanes wide), else as built.
#[inline(always)]
pub fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::quant::simd::avx512_available() {
        // SAFETY: AVX-512F, AVX2 and FMA were checked (avx512_available).
        return unsafe { avx512(f) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::quant::simd::avx2_available() {
        // SAFETY: AVX2 and FMA were just checked.
        return unsafe { avx2(f) };
    }
    f()
}

/// The same loops sixteen lanes wide. The operations and their order are the code's,
/// whatever the width (no reassociation, no contraction into FMAs), so the bits are
/// those of the AVX2 and portable builds.
///
/// # Safety
/// AVX-512F, AVX2 and FMA are available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
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

/// A tensor of `shape` on the CPU from `v`.
pub fn tensor<T: Float>(v: Vec<T>, shape: &[usize]) -> Result<Tensor> {
    Tensor::from_vec(v, shape, &candle_core::Device::Cpu)
}
