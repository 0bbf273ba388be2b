//! The matmul driver: quantize activations once, split weight rows across the pool,
//! and reuse each weight row (in L1) against every activation row (in L2).
//!
//! Reference: ggml-cpu `ggml_compute_forward_mul_mat` (src1 converted to the
//! `vec_dot_type` once, rows of src0 chunked over threads).

use super::act::{quantize_row_q8, quantize_row_q8k, Q8Block, Q8KBlock};
use super::dispatch::{dequantizer, kernel, Kernel};
use super::float::dot_f32;
use super::k_quants::unpack_row;
use super::QMatrix;
use crate::kernels::pool::Pool;

/// The output buffer shared by tasks that write disjoint elements.
struct OutPtr(*mut f32);
// SAFETY: every task writes a disjoint set of `out` elements (its own weight rows).
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// # Safety
    /// `at` is in bounds and no other task writes it.
    #[inline(always)]
    unsafe fn write(&self, at: usize, v: f32) {
        *self.0.add(at) = v;
    }
}

/// Rows per task: about four tasks per thread, for balance when a core is busy.
fn rows_per_task(rows: usize, threads: usize) -> usize {
    rows.div_ceil(threads * 4).max(4)
}

/// Quantize every row of `x` (`n` rows of `cols`) with `f`, concatenated.
fn quantize_rows<B: Default + Clone>(x: &[f32], cols: usize, f: fn(&[f32], &mut Vec<B>)) -> Vec<B> {
    let mut all = Vec::new();
    let mut row = Vec::new();
    for xr in x.chunks_exact(cols) {
        f(xr, &mut row);
        all.extend_from_slice(&row);
    }
    all
}

/// `out[n, rows] = x[n, cols] · Wᵀ`; shapes were checked by the caller.
pub(crate) fn run(m: &QMatrix, x: &[f32], out: &mut [f32], simd: bool, pool: &Pool) {
    let (rows, cols) = (m.rows(), m.cols());
    let n = x.len() / cols;
    let Some(kernel) = kernel(m.ggml_type(), simd) else { return };
    let (w, rb) = (m.bytes(), m.row_bytes());
    let per_task = rows_per_task(rows, pool.n_threads());
    let n_tasks = rows.div_ceil(per_task);
    let outp = OutPtr(out.as_mut_ptr());
    let task_rows = |t: usize| (t * per_task)..((t + 1) * per_task).min(rows);
    match kernel {
        Kernel::Q8(dot) => {
            let acts = quantize_rows::<Q8Block>(x, cols, quantize_row_q8);
            let nb = cols / 32;
            pool.run(n_tasks, &|t| {
                for r in task_rows(t) {
                    let wr = &w[r * rb..(r + 1) * rb];
                    for i in 0..n {
                        // SAFETY: `dot` was picked for this CPU; (i, r) belongs to this task.
                        unsafe { outp.write(i * rows + r, dot(wr, &acts[i * nb..(i + 1) * nb])) };
                    }
                }
            });
        }
        Kernel::Q8K { unpack, dot } => {
            let acts = quantize_rows::<Q8KBlock>(x, cols, quantize_row_q8k);
            let nb = cols / 256;
            pool.run(n_tasks, &|t| {
                let mut ks = Vec::with_capacity(nb);
                for r in task_rows(t) {
                    unpack_row(unpack, rb / nb.max(1), &w[r * rb..(r + 1) * rb], &mut ks);
                    for i in 0..n {
                        // SAFETY: as above.
                        unsafe { outp.write(i * rows + r, dot(&ks, &acts[i * nb..(i + 1) * nb])) };
                    }
                }
            });
        }
        Kernel::Float => {
            let Some(deq) = dequantizer(m.ggml_type()) else { return };
            pool.run(n_tasks, &|t| {
                let mut wf = vec![0f32; cols];
                for r in task_rows(t) {
                    deq(&w[r * rb..(r + 1) * rb], &mut wf);
                    for (i, xr) in x.chunks_exact(cols).enumerate() {
                        // SAFETY: (i, r) belongs to this task.
                        unsafe { outp.write(i * rows + r, dot_f32(&wf, xr)) };
                    }
                }
            });
        }
    }
}
