//! Fused mean cross-entropy over `[N, V]` logits and `[N]` targets, with its backward.
//! As candle ops, log-softmax, gather and mean write a dozen `[N, V]` tensors forward
//! and back (16 MB each for 1024 tokens at a 4096 vocabulary); fused, the forward only
//! reads the logits (row max, then the sum of exponentials) and the backward writes
//! the one gradient.
//!
//! Per row i with target t: `loss_i = -((x_it - max_i) - ln s_i)`, `s_i = Σ_j exp(x_ij -
//! max_i)`, the loss is `Σ_i loss_i / N`; the gradient is `(softmax_ij - [j = t]) · g / N`
//! for the incoming gradient g, as PyTorch's `log_softmax_backward` of the NLL gradient.
//! The candle ops version (`model::ops::log_softmax_last` + gather) stays the reference
//! this is tested against.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use crate::kernels::lanes;
use crate::kernels::real::Float;
use crate::model::fused::cpu::{par_for, par_map, Shared};
use crate::Result;

/// Mean cross-entropy of `logits` `[N, V]` (f32 or f64) against `targets` `[N]` (u32),
/// as a scalar of the logits' dtype, differentiable in the logits.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    Ok(logits
        .contiguous()?
        .apply_op2(&targets.contiguous()?, Forward)?)
}

struct Forward;

/// The gradient of the mean loss times an incoming gradient g: `scale = g / N`.
struct Backward {
    scale: f64,
}

/// The rows of `logits` and the targets, checked against each other.
fn rows<'a, T>(
    x: &'a [T],
    xl: &Layout,
    t: &'a CpuStorage,
    tl: &Layout,
) -> candle_core::Result<(Vec<&'a [T]>, &'a [u32])> {
    let (Some((x0, x1)), Some((t0, t1))) = (xl.contiguous_offsets(), tl.contiguous_offsets())
    else {
        candle_core::bail!("cross_entropy: logits and targets must be contiguous");
    };
    let dims = xl.dims();
    let (CpuStorage::U32(t), [n, v]) = (t, dims) else {
        candle_core::bail!("cross_entropy: logits must be [N, V] and targets u32, got {dims:?}");
    };
    let targets = &t[t0..t1];
    if targets.len() != *n {
        candle_core::bail!("cross_entropy: {} targets for {n} rows", targets.len());
    }
    if let Some(bad) = targets.iter().find(|&&id| id as usize >= *v) {
        candle_core::bail!("cross_entropy: target id {bad} outside the vocabulary of {v}");
    }
    Ok((x[x0..x1].chunks_exact(*v).collect(), targets))
}

/// `(max, ln Σ exp(x - max))` of one row.
#[inline(always)]
fn row_stats<T: Float>(row: &[T]) -> (T, T) {
    let max = lanes::max(row);
    (max, lanes::sum_exp(row, max).ln())
}

/// Rows per parallel task.
const ROWS: usize = 16;

fn mean_loss<T: Float>(rows: &[&[T]], targets: &[u32]) -> T {
    // Block partials summed in block order: the same loss at any thread count.
    let partial = par_map(rows.len().div_ceil(ROWS), |blk| {
        let (r0, r1) = (blk * ROWS, ((blk + 1) * ROWS).min(rows.len()));
        (r0..r1).fold(0.0f64, |acc, i| {
            let (max, ln_s) = row_stats(rows[i]);
            acc + (ln_s - (rows[i][targets[i] as usize] - max)).f64()
        })
    });
    T::of(partial.iter().sum::<f64>() / rows.len().max(1) as f64)
}

fn gradient<T: Float>(rows: &[&[T]], targets: &[u32], scale: T) -> Vec<T> {
    let v = rows.first().map_or(0, |r| r.len());
    let mut out = vec![T::ZERO; rows.len() * v];
    let shared = Shared::new(&mut out);
    par_for(rows.len().div_ceil(ROWS), |blk| {
        let (r0, r1) = (blk * ROWS, ((blk + 1) * ROWS).min(rows.len()));
        // SAFETY: block `blk` writes only its own rows.
        let o = unsafe { shared.slice(r0 * v, (r1 - r0) * v) };
        for (i, orow) in (r0..r1).zip(o.chunks_exact_mut(v)) {
            let (max, ln_s) = row_stats(rows[i]);
            orow.iter_mut()
                .zip(rows[i])
                .for_each(|(o, &x)| *o = ((x - max) - ln_s).exp() * scale);
            orow[targets[i] as usize] -= scale;
        }
    });
    out
}

/// Turns `logits` `[N, V]` in place into the gradient of the summed loss, `softmax -
/// onehot(target)` per row, and returns the mean loss: one visit per row, which is in
/// cache for the second read (the fused LM head's forward, `head_ce_kernel`).
pub(crate) fn loss_into_gradient<T: Float>(logits: &mut [T], v: usize, targets: &[u32]) -> T {
    let n = targets.len();
    let shared = Shared::new(logits);
    let partial = par_map(n.div_ceil(ROWS), |blk| {
        let (r0, r1) = (blk * ROWS, ((blk + 1) * ROWS).min(n));
        // SAFETY: block `blk` reads and writes only its own rows.
        let rows = unsafe { shared.slice(r0 * v, (r1 - r0) * v) };
        rows.chunks_exact_mut(v)
            .zip(&targets[r0..r1])
            .fold(0.0f64, |acc, (row, &t)| {
                let (max, ln_s) = row_stats(row);
                let loss = (ln_s - (row[t as usize] - max)).f64();
                row.iter_mut().for_each(|x| *x = ((*x - max) - ln_s).exp());
                row[t as usize] -= T::ONE;
                acc + loss
            })
    });
    T::of(partial.iter().sum::<f64>() / n.max(1) as f64)
}

impl CustomOp2 for Forward {
    fn name(&self) -> &'static str {
        "cross_entropy"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        t: &CpuStorage,
        tl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match x {
            CpuStorage::F32(x) => {
                let (r, t) = rows(x, xl, t, tl)?;
                CpuStorage::F32(vec![mean_loss(&r, t)])
            }
            CpuStorage::F64(x) => {
                let (r, t) = rows(x, xl, t, tl)?;
                CpuStorage::F64(vec![mean_loss(&r, t)])
            }
            _ => candle_core::bail!("cross_entropy: logits must be f32 or f64"),
        };
        Ok((out, Shape::from(())))
    }

    fn bwd(
        &self,
        x: &Tensor,
        t: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let n = x.dim(0)?.max(1) as f64;
        let g = grad.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        let dx = x.apply_op2_no_bwd(t, &Backward { scale: g / n })?;
        Ok((Some(dx), None))
    }
}

impl CustomOp2 for Backward {
    fn name(&self) -> &'static str {
        "cross_entropy_backward"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        t: &CpuStorage,
        tl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match x {
            CpuStorage::F32(x) => {
                let (r, t) = rows(x, xl, t, tl)?;
                CpuStorage::F32(gradient(&r, t, self.scale as f32))
            }
            CpuStorage::F64(x) => {
                let (r, t) = rows(x, xl, t, tl)?;
                CpuStorage::F64(gradient(&r, t, self.scale))
            }
            _ => candle_core::bail!("cross_entropy: logits must be f32 or f64"),
        };
        Ok((out, xl.shape().clone()))
    }
}
