//! The FFN's input side as one op: `h = f(x W_gᵀ) ∘ (x W_uᵀ)` (GLU) or `h = f(x W_uᵀ)`
//! (MLP). Built from the fused linear and the fused nonlinearity, it is three graph
//! nodes whose `[N, d_ff]` outputs (the gate and the up projection) each get a gradient
//! that candle starts as a zeroed tensor and adds into, and `x` gets one more gradient
//! to add. Here the gate and up projections are buffers the op keeps for its backward,
//! which computes their gradients in scratch, multiplies them back through both
//! matrices and sums the two input gradients itself. The separate linear + `glu` /
//! `activation` ops stay the reference it is tested against (`tests/fused_ops.rs`).

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::cpu::{by_dtype, contiguous, tensor, with_slice, Kept};
use super::glu::{backward_act, backward_glu, check, forward as act_forward};
use super::{linear, Float};
use crate::config::Activation;

const OP: &str = "fused ffn input";

/// `f(x W_gᵀ) ∘ (x W_uᵀ)` for `x` `[..., D]`, `W_g`, `W_u` `[F, D]` -> `[..., F]`.
pub fn glu_in(x: &Tensor, gate: &Tensor, up: &Tensor, act: Activation) -> crate::Result<Tensor> {
    let op = GluIn {
        act,
        kept: Kept::empty(),
    };
    Ok(x.contiguous()?
        .apply_op3(&gate.contiguous()?, &up.contiguous()?, op)?)
}

/// `f(x W_uᵀ)` for `x` `[..., D]`, `W_u` `[F, D]` -> `[..., F]`.
pub fn mlp_in(x: &Tensor, up: &Tensor, act: Activation) -> crate::Result<Tensor> {
    let op = MlpIn {
        act,
        kept: Kept::empty(),
    };
    Ok(x.contiguous()?.apply_op2(&up.contiguous()?, op)?)
}

/// The projections the forward computed, for the backward.
type Projections = Kept<Vec<CpuStorage>>;

struct GluIn {
    act: Activation,
    kept: Projections,
}

struct MlpIn {
    act: Activation,
    kept: Projections,
}

fn out_shape(xl: &Layout, f: usize) -> Shape {
    let mut shape = xl.dims().to_vec();
    *shape.last_mut().expect("checked by linear::dims") = f;
    Shape::from(shape)
}

/// The kept projection `i` as `T`, or `x Wᵀ` recomputed.
fn projection<'a, T: Float>(
    kept: &'a Option<Vec<CpuStorage>>,
    i: usize,
    x: &[T],
    w: &[T],
    d: (usize, usize, usize),
) -> std::borrow::Cow<'a, [T]> {
    match kept.as_ref().map(|k| k[i].as_slice::<T>()) {
        Some(Ok(p)) => std::borrow::Cow::Borrowed(p),
        _ => std::borrow::Cow::Owned(linear::forward(x, w, d)),
    }
}

fn glu_fwd<T: Float>(
    x: &[T],
    g: &[T],
    u: &[T],
    d: (usize, usize, usize),
    act: Activation,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let (gp, up) = (linear::forward(x, g, d), linear::forward(x, u, d));
    (act_forward(&gp, Some(&up), act), gp, up)
}

impl CustomOp3 for GluIn {
    fn name(&self) -> &'static str {
        "fused_glu_in"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        g: &CpuStorage,
        gl: &Layout,
        u: &CpuStorage,
        ul: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        super::count(self.name());
        check(self.act)?;
        let d = linear::dims(xl.dims(), gl.dims())?;
        if gl.dims() != ul.dims() {
            bail!("{OP}: gate {:?} and up {:?}", gl.dims(), ul.dims());
        }
        let (h, kept) = match (x, g, u) {
            (CpuStorage::F32(x), CpuStorage::F32(g), CpuStorage::F32(u)) => {
                let (x, g, u) = (
                    contiguous(x, xl, OP)?,
                    contiguous(g, gl, OP)?,
                    contiguous(u, ul, OP)?,
                );
                let (h, gp, up) = glu_fwd(x, g, u, d, self.act);
                (
                    CpuStorage::F32(h),
                    vec![CpuStorage::F32(gp), CpuStorage::F32(up)],
                )
            }
            (CpuStorage::F64(x), CpuStorage::F64(g), CpuStorage::F64(u)) => {
                let (x, g, u) = (
                    contiguous(x, xl, OP)?,
                    contiguous(g, gl, OP)?,
                    contiguous(u, ul, OP)?,
                );
                let (h, gp, up) = glu_fwd(x, g, u, d, self.act);
                (
                    CpuStorage::F64(h),
                    vec![CpuStorage::F64(gp), CpuStorage::F64(up)],
                )
            }
            _ => bail!("{OP}: f32 or f64 operands of one dtype"),
        };
        self.kept.put(Some(kept));
        Ok((h, out_shape(xl, d.2)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        g: &Tensor,
        u: &Tensor,
        _res: &Tensor,
        dh: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        fn typed<T: Float>(
            act: Activation,
            kept: Option<Vec<CpuStorage>>,
            (x, g, u, dh): (&Tensor, &Tensor, &Tensor, &Tensor),
        ) -> Result<(Tensor, Tensor, Tensor)> {
            let d = linear::dims(x.dims(), g.dims())?;
            with_slice::<T, _>(x, |xs| {
                with_slice::<T, _>(g, |gs| {
                    with_slice::<T, _>(u, |us| {
                        with_slice::<T, _>(dh, |dhs| {
                            let gp = projection(&kept, 0, xs, gs, d);
                            let up = projection(&kept, 1, xs, us, d);
                            let (dgp, dup) = backward_glu(&gp, &up, dhs, act);
                            let (mut dx, dg) = linear::backward(xs, gs, &dgp, d, T::ONE);
                            let (dx_u, du) = linear::backward(xs, us, &dup, d, T::ONE);
                            dx.iter_mut().zip(&dx_u).for_each(|(a, &b)| *a += b);
                            Ok((
                                tensor(dx, x.dims())?,
                                tensor(dg, g.dims())?,
                                tensor(du, u.dims())?,
                            ))
                        })
                    })
                })
            })
        }
        let kept = self.kept.take();
        let (dx, dg, du) = by_dtype!(OP, x.dtype(), typed(self.act, kept, (x, g, u, dh)))?;
        Ok((Some(dx), Some(dg), Some(du)))
    }
}

impl CustomOp2 for MlpIn {
    fn name(&self) -> &'static str {
        "fused_mlp_in"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        u: &CpuStorage,
        ul: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        super::count(self.name());
        check(self.act)?;
        let d = linear::dims(xl.dims(), ul.dims())?;
        let (h, kept) = match (x, u) {
            (CpuStorage::F32(x), CpuStorage::F32(u)) => {
                let up = linear::forward(contiguous(x, xl, OP)?, contiguous(u, ul, OP)?, d);
                (
                    CpuStorage::F32(act_forward(&up, None, self.act)),
                    CpuStorage::F32(up),
                )
            }
            (CpuStorage::F64(x), CpuStorage::F64(u)) => {
                let up = linear::forward(contiguous(x, xl, OP)?, contiguous(u, ul, OP)?, d);
                (
                    CpuStorage::F64(act_forward(&up, None, self.act)),
                    CpuStorage::F64(up),
                )
            }
            _ => bail!("{OP}: f32 or f64 operands of one dtype"),
        };
        self.kept.put(Some(vec![kept]));
        Ok((h, out_shape(xl, d.2)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        u: &Tensor,
        _res: &Tensor,
        dh: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        fn typed<T: Float>(
            act: Activation,
            kept: Option<Vec<CpuStorage>>,
            (x, u, dh): (&Tensor, &Tensor, &Tensor),
        ) -> Result<(Tensor, Tensor)> {
            let d = linear::dims(x.dims(), u.dims())?;
            with_slice::<T, _>(x, |xs| {
                with_slice::<T, _>(u, |us| {
                    with_slice::<T, _>(dh, |dhs| {
                        let up = projection(&kept, 0, xs, us, d);
                        let dup = backward_act(&up, dhs, act);
                        let (dx, du) = linear::backward(xs, us, &dup, d, T::ONE);
                        Ok((tensor(dx, x.dims())?, tensor(du, u.dims())?))
                    })
                })
            })
        }
        let kept = self.kept.take();
        let (dx, du) = by_dtype!(OP, x.dtype(), typed(self.act, kept, (x, u, dh)))?;
        Ok((Some(dx), Some(du)))
    }
}
