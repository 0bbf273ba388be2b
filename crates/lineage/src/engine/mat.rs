//! A weight matrix `[out, in]` for the engine: dense f32 rows or GGUF blocks, with one
//! `matmul` that writes into a caller's buffer. Dense products are a row-blocked f32 GEMM
//! threaded over output rows on the kernel pool; quantized ones use `QMatrix::matmul_act`.

use std::sync::Arc;

use crate::kernels::pool;
use crate::kernels::quant::{dequantize_row, dot_f32 as dot, ActPrecision, QMatrix};
use crate::weights::{Weight, Weights};
use crate::{Error, Result};

/// `[rows, cols]` = `[out, in]`, row-major.
#[derive(Debug, Clone)]
pub enum Mat {
    Dense {
        w: Arc<[f32]>,
        rows: usize,
        cols: usize,
    },
    Quant(QMatrix),
}

/// A raw pointer that threads may share to write disjoint parts of one buffer.
#[derive(Clone, Copy)]
pub(crate) struct SyncPtr(pub *mut f32);
// SAFETY: a bare address; every user (dense_matmul, attend) derives it from a `&mut`
// buffer it holds for the whole pool job, writes disjoint index ranges per task, and
// `pool::run` joins every task before the buffer is read.
unsafe impl Send for SyncPtr {}
// SAFETY: as for `Send`: shared only among the tasks of one joined pool job.
unsafe impl Sync for SyncPtr {}

/// A dense tensor of any float dtype as f32 values.
pub(crate) fn dense_vec(name: &str, w: &Weights, shape: &[usize]) -> Result<Vec<f32>> {
    let t = w.tensor(name, shape)?;
    Ok(t.to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

impl Mat {
    /// Loads `name` with logical shape `[rows, cols]`.
    pub fn load(w: &Weights, name: &str, rows: usize, cols: usize) -> Result<Self> {
        match w.weight(name, &[rows, cols])? {
            Weight::Dense(t) => {
                let v = t
                    .to_dtype(candle_core::DType::F32)?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                Ok(Self::Dense {
                    w: v.into(),
                    rows,
                    cols,
                })
            }
            Weight::Quant(q) => Ok(Self::Quant(q)),
            Weight::Mxfp4(_) | Weight::QuantStack(_) => Err(Error::BadInput(format!(
                "`{name}`: an expert stack where one matrix belongs"
            ))),
        }
    }

    pub fn rows(&self) -> usize {
        match self {
            Self::Dense { rows, .. } => *rows,
            Self::Quant(q) => q.rows(),
        }
    }

    pub fn cols(&self) -> usize {
        match self {
            Self::Dense { cols, .. } => *cols,
            Self::Quant(q) => q.cols(),
        }
    }

    /// Row `r` as f32 into `out` (`cols` values): an embedding lookup.
    pub fn row_into(&self, r: usize, out: &mut [f32]) -> Result<()> {
        match self {
            Self::Dense { w, cols, .. } => out.copy_from_slice(&w[r * cols..(r + 1) * cols]),
            Self::Quant(q) => {
                let rb = q.row_bytes();
                dequantize_row(
                    "token_embd.weight",
                    q.ggml_type(),
                    &q.bytes()[r * rb..(r + 1) * rb],
                    out,
                )?;
            }
        }
        Ok(())
    }

    /// `out[i, r] = sum_c x[i, c] * W[r, c]`; `x` is `[n, cols]`, `out` is `[n, rows]`.
    pub fn matmul(&self, x: &[f32], n: usize, out: &mut [f32]) -> Result<()> {
        let (rows, cols) = (self.rows(), self.cols());
        let (x, out) = (&x[..n * cols], &mut out[..n * rows]);
        match self {
            Self::Quant(q) => q.matmul_act(x, out, ActPrecision::for_linear()),
            Self::Dense { w, .. } => {
                dense_matmul(w, rows, cols, x, n, out);
                Ok(())
            }
        }
    }
}

/// Rows of W per pool task.
const ROW_BLOCK: usize = 64;

fn dense_matmul(w: &[f32], rows: usize, cols: usize, x: &[f32], n: usize, out: &mut [f32]) {
    // The raw writes below rely on this (one compare per matmul); `w` and `x` are read
    // through checked slices.
    assert!(
        out.len() >= n * rows,
        "out: {} values for [{n}, {rows}]",
        out.len()
    );
    let ptr = SyncPtr(out.as_mut_ptr());
    let task = |t: usize| {
        let p = ptr;
        let (r0, r1) = (t * ROW_BLOCK, ((t + 1) * ROW_BLOCK).min(rows));
        for r in r0..r1 {
            let wr = &w[r * cols..(r + 1) * cols];
            for i in 0..n {
                let v = dot(wr, &x[i * cols..(i + 1) * cols]);
                // SAFETY: i < n and r < rows, so i * rows + r < out.len() (asserted
                // above); r is in this task's row block alone, and `run` joins every task
                // before `out` is read.
                unsafe { *p.0.add(i * rows + r) = v };
            }
        }
    };
    let n_tasks = rows.div_ceil(ROW_BLOCK);
    if n * rows * cols < 1 << 16 {
        (0..n_tasks).for_each(task);
    } else {
        pool::global().run(n_tasks, &task);
    }
}

impl Mat {
    /// The matrices' rows stacked into one `[sum rows, cols]` matrix, when they share
    /// storage (all dense, or one ggml type) and width: projections of one input then
    /// cost one matmul (one pool fork-join) instead of several.
    pub fn stack(parts: &[&Mat]) -> Option<Mat> {
        let cols = parts.first()?.cols();
        if parts.iter().any(|m| m.cols() != cols) {
            return None;
        }
        let rows = parts.iter().map(|m| m.rows()).sum();
        if parts.iter().all(|m| matches!(m, Mat::Dense { .. })) {
            let mut v = Vec::with_capacity(rows * cols);
            for m in parts {
                if let Mat::Dense { w, .. } = m {
                    v.extend_from_slice(w);
                }
            }
            return Some(Mat::Dense {
                w: v.into(),
                rows,
                cols,
            });
        }
        let ty = match parts[0] {
            Mat::Quant(q) => q.ggml_type(),
            Mat::Dense { .. } => return None,
        };
        let mut bytes = Vec::new();
        for m in parts {
            match m {
                Mat::Quant(q) if q.ggml_type() == ty => bytes.extend_from_slice(q.bytes()),
                _ => return None,
            }
        }
        QMatrix::from_vec("stacked projection", ty, rows, cols, bytes)
            .ok()
            .map(Mat::Quant)
    }
}
