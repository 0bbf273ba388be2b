//! `y + b` with `b` broadcast over the leading dims (a linear or norm bias, a position
//! table). Its backward passes `dy` through and sums it over the broadcast rows for
//! `db`: candle's reduction over a non-last dim walks the rows with a stride, and this
//! one adds whole rows at a time, block partials in a fixed order (the same sums at any
//! thread count).

use candle_core::{bail, CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::cpu::{by_dtype, par_for, par_map, tensor, with_slice, Shared};
use super::Float;

/// The name its errors carry.
const OP: &str = "add_bias";

/// `y` `[..., *b.shape]` plus `b` in every row.
pub fn add_bias(y: &Tensor, b: &Tensor) -> crate::Result<Tensor> {
    Ok(y.contiguous()?.apply_op2(&b.contiguous()?, AddBias)?)
}

struct AddBias;

/// Rows per parallel task.
const ROWS: usize = 64;

fn forward<T: Float>(y: &[T], b: &[T]) -> Vec<T> {
    let m = b.len();
    let rows = y.len() / m;
    let mut out = vec![T::ZERO; y.len()];
    let o = Shared::new(&mut out);
    par_for(rows.div_ceil(ROWS), |blk| {
        let (r0, r1) = (blk * ROWS, ((blk + 1) * ROWS).min(rows));
        // SAFETY: block `blk` writes only its own rows.
        let o = unsafe { o.slice(r0 * m, (r1 - r0) * m) };
        for (orow, yrow) in o.chunks_exact_mut(m).zip(y[r0 * m..r1 * m].chunks_exact(m)) {
            orow.iter_mut()
                .zip(yrow)
                .zip(b)
                .for_each(|((o, &y), &b)| *o = y + b);
        }
    });
    out
}

/// `Σ_rows dy`.
fn row_sum<T: Float>(dy: &[T], m: usize) -> Vec<T> {
    let rows = dy.len() / m;
    let partial = par_map(rows.div_ceil(ROWS), |blk| {
        let (r0, r1) = (blk * ROWS, ((blk + 1) * ROWS).min(rows));
        let mut acc = vec![T::ZERO; m];
        for row in dy[r0 * m..r1 * m].chunks_exact(m) {
            acc.iter_mut().zip(row).for_each(|(a, &d)| *a += d);
        }
        acc
    });
    let mut db = vec![T::ZERO; m];
    for p in partial {
        db.iter_mut().zip(p).for_each(|(a, b)| *a += b);
    }
    db
}

fn operands<'a, T>(y: &'a [T], yl: &Layout, b: &'a [T], bl: &Layout) -> Result<(&'a [T], &'a [T])> {
    let (Some((y0, y1)), Some((b0, b1))) = (yl.contiguous_offsets(), bl.contiguous_offsets())
    else {
        bail!("add_bias: operands must be contiguous");
    };
    let (yd, bd) = (yl.dims(), bl.dims());
    if bd.is_empty() || bd.len() > yd.len() || yd[yd.len() - bd.len()..] != *bd {
        bail!("add_bias: bias {bd:?} does not end {yd:?}");
    }
    Ok((&y[y0..y1], &b[b0..b1]))
}

impl CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "fused_add_bias"
    }

    fn cpu_fwd(
        &self,
        y: &CpuStorage,
        yl: &Layout,
        b: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        super::count(self.name());
        let out = match (y, b) {
            (CpuStorage::F32(y), CpuStorage::F32(b)) => {
                let (y, b) = operands(y, yl, b, bl)?;
                CpuStorage::F32(forward(y, b))
            }
            (CpuStorage::F64(y), CpuStorage::F64(b)) => {
                let (y, b) = operands(y, yl, b, bl)?;
                CpuStorage::F64(forward(y, b))
            }
            _ => bail!("add_bias: f32 or f64 operands of one dtype"),
        };
        Ok((out, yl.shape().clone()))
    }

    fn bwd(
        &self,
        _y: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        fn typed<T: Float>(b: &Tensor, dy: &Tensor) -> Result<Tensor> {
            with_slice::<T, _>(dy, |d| tensor(row_sum(d, b.elem_count()), b.dims()))
        }
        let db = by_dtype!(OP, b.dtype(), typed(b, dy))?;
        Ok((Some(dy.clone()), Some(db)))
    }
}
