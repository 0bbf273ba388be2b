//! RMSNorm and LayerNorm over the last dim, `y = x̂ ∘ g` with `x̂ = x r` (RMS) or
//! `(x - μ) r` (Layer), `r = 1 / sqrt(mean(x²) or var(x) + eps)`. Backward, with
//! `u = dy ∘ g`: `dx = r (u - x̂ mean(u ∘ x̂))`, less `r mean(u)` for LayerNorm, and
//! `dg = Σ_rows dy ∘ x̂`. A bias is added outside (a broadcast add).

use candle_core::{bail, CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::cpu::{by_dtype, par_for, par_map, row_blocks, tensor, with_slice, Shared};
use super::Float;
use crate::kernels::lanes::{dot, sum};

/// The name its errors carry.
const OP: &str = "norm";

/// RMSNorm of `x` `[..., D]` with gain `g` `[D]` (Gemma's `1 + w` is the caller's gain).
pub fn rms_norm(x: &Tensor, g: &Tensor, eps: f64) -> crate::Result<Tensor> {
    let op = NormOp { layer: false, eps };
    Ok(x.contiguous()?.apply_op2(&g.contiguous()?, op)?)
}

/// LayerNorm of `x` `[..., D]` with gain `g` `[D]`, without bias.
pub fn layer_norm(x: &Tensor, g: &Tensor, eps: f64) -> crate::Result<Tensor> {
    let op = NormOp { layer: true, eps };
    Ok(x.contiguous()?.apply_op2(&g.contiguous()?, op)?)
}

#[derive(Clone, Copy)]
struct NormOp {
    layer: bool,
    eps: f64,
}

/// Rows per parallel task: about 16k elements.
const BLOCK: usize = 1 << 14;

impl NormOp {
    /// `(μ, r)` of one row.
    #[inline(always)]
    fn stats<T: Float>(&self, row: &[T]) -> (T, T) {
        let n = T::of(row.len() as f64);
        let mu = if self.layer { sum(row) / n } else { T::ZERO };
        let ss = if self.layer {
            row.iter().fold(T::ZERO, |s, &v| s + (v - mu) * (v - mu))
        } else {
            dot(row, row)
        };
        (mu, T::ONE / (ss / n + T::of(self.eps)).sqrt())
    }

    fn forward<T: Float>(&self, x: &[T], g: &[T]) -> Vec<T> {
        let d = g.len();
        let mut y = vec![T::ZERO; x.len()];
        let rows = x.len() / d;
        let per = row_blocks(rows, d, BLOCK);
        let out = Shared::new(&mut y);
        par_for(rows.div_ceil(per), |blk| {
            let (r0, r1) = (blk * per, ((blk + 1) * per).min(rows));
            // SAFETY: block `blk` writes only its own rows.
            let ys = unsafe { out.slice(r0 * d, (r1 - r0) * d) };
            for (xr, yr) in x[r0 * d..r1 * d]
                .chunks_exact(d)
                .zip(ys.chunks_exact_mut(d))
            {
                let (mu, r) = self.stats(xr);
                for ((yv, &xv), &gv) in yr.iter_mut().zip(xr).zip(g) {
                    *yv = (xv - mu) * r * gv;
                }
            }
        });
        y
    }

    /// `(dx, dg)`.
    fn backward<T: Float>(&self, x: &[T], g: &[T], dy: &[T]) -> (Vec<T>, Vec<T>) {
        let d = g.len();
        let rows = x.len() / d;
        let per = row_blocks(rows, d, BLOCK);
        let mut dx = vec![T::ZERO; x.len()];
        let out = Shared::new(&mut dx);
        let partial = par_map(rows.div_ceil(per), |blk| {
            let (r0, r1) = (blk * per, ((blk + 1) * per).min(rows));
            // SAFETY: block `blk` writes only its own rows.
            let dxs = unsafe { out.slice(r0 * d, (r1 - r0) * d) };
            let mut dg = vec![T::ZERO; d];
            let mut xhat = vec![T::ZERO; d];
            let mut u = vec![T::ZERO; d];
            let n = T::of(d as f64);
            let rows = x[r0 * d..r1 * d]
                .chunks_exact(d)
                .zip(dy[r0 * d..r1 * d].chunks_exact(d));
            for ((xr, dyr), dxr) in rows.zip(dxs.chunks_exact_mut(d)) {
                let (mu, r) = self.stats(xr);
                for i in 0..d {
                    xhat[i] = (xr[i] - mu) * r;
                    u[i] = dyr[i] * g[i];
                    dg[i] += dyr[i] * xhat[i];
                }
                let mean_ux = dot(&u, &xhat) / n;
                let mean_u = if self.layer { sum(&u) / n } else { T::ZERO };
                for i in 0..d {
                    dxr[i] = r * (u[i] - mean_u - xhat[i] * mean_ux);
                }
            }
            dg
        });
        // In block order, so the sum is the same whatever the thread count.
        let mut dg = vec![T::ZERO; d];
        for p in partial {
            dg.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
        (dx, dg)
    }
}

fn operands<'a, T: Float>(
    x: &'a [T],
    xl: &Layout,
    g: &'a [T],
    gl: &Layout,
) -> Result<(&'a [T], &'a [T])> {
    let (Some((x0, x1)), Some((g0, g1))) = (xl.contiguous_offsets(), gl.contiguous_offsets())
    else {
        bail!("norm: operands must be contiguous");
    };
    let d = *xl.dims().last().unwrap_or(&0);
    if gl.dims() != [d] || d == 0 {
        bail!("norm: gain {:?} for rows of {d}", gl.dims());
    }
    Ok((&x[x0..x1], &g[g0..g1]))
}

impl CustomOp2 for NormOp {
    fn name(&self) -> &'static str {
        "fused_norm"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        g: &CpuStorage,
        gl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        super::count(self.name());
        let out = match (x, g) {
            (CpuStorage::F32(x), CpuStorage::F32(g)) => {
                let (x, g) = operands(x, xl, g, gl)?;
                CpuStorage::F32(self.forward(x, g))
            }
            (CpuStorage::F64(x), CpuStorage::F64(g)) => {
                let (x, g) = operands(x, xl, g, gl)?;
                CpuStorage::F64(self.forward(x, g))
            }
            _ => bail!("norm: f32 or f64 operands of one dtype"),
        };
        Ok((out, xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        g: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        fn typed<T: Float>(
            op: &NormOp,
            x: &Tensor,
            g: &Tensor,
            dy: &Tensor,
        ) -> Result<(Tensor, Tensor)> {
            with_slice::<T, _>(x, |xs| {
                with_slice::<T, _>(g, |gs| {
                    with_slice::<T, _>(dy, |dys| {
                        let (dx, dg) = op.backward(xs, gs, dys);
                        Ok((tensor(dx, x.dims())?, tensor(dg, g.dims())?))
                    })
                })
            })
        }
        let (dx, dg) = by_dtype!(OP, x.dtype(), typed(self, x, g, dy))?;
        Ok((Some(dx), Some(dg)))
    }
}
