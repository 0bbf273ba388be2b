//! The FFN nonlinearity fused with its gating: `f(x)` (MLP) or `f(gate) ∘ up` (GLU),
//! for SiLU, GELU-tanh and ReLU, with the derivatives written out:
//! SiLU `f' = s (1 + x (1 - s))`, `s = σ(x)`; GELU-tanh in its sigmoid form
//! `f = x σ(2u)`, `u = √(2/π) (x + 0.044715 x³)`, `f' = σ + 2 x σ (1 - σ) u'`
//! (`0.5 (1 + tanh u) = σ(2u)`, without the cancellation of `1 + tanh u`).

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::cpu::{by_dtype, contiguous, par_for, tensor, with_slice, Shared};
use super::Float;
use crate::config::Activation;

/// The name its errors carry.
const OP: &str = "fused activation";

/// Whether `act` has a fused kernel (erf GELU uses the reference ops).
pub fn supports(act: Activation) -> bool {
    !matches!(act, Activation::Gelu)
}

/// `f(x)`.
pub fn activation(x: &Tensor, act: Activation) -> crate::Result<Tensor> {
    Ok(x.contiguous()?.apply_op1(Act(act))?)
}

/// `f(gate) ∘ up`.
pub fn glu(gate: &Tensor, up: &Tensor, act: Activation) -> crate::Result<Tensor> {
    Ok(gate.contiguous()?.apply_op2(&up.contiguous()?, Glu(act))?)
}

/// `(f(x), f'(x))`.
#[inline(always)]
fn f_df<T: Float>(x: T, act: Activation) -> (T, T) {
    let sigmoid = |v: T| T::ONE / (T::ONE + (-v).exp());
    match act {
        Activation::Silu => {
            let s = sigmoid(x);
            (x * s, s * (T::ONE + x * (T::ONE - s)))
        }
        Activation::GeluTanh => {
            let c = T::of((2.0 / std::f64::consts::PI).sqrt());
            let k = T::of(0.044715);
            let s = sigmoid(T::of(2.0) * c * (x + k * x * x * x));
            let du = c * (T::ONE + T::of(3.0) * k * x * x);
            (x * s, s + T::of(2.0) * x * s * (T::ONE - s) * du)
        }
        Activation::Relu => {
            if x > T::ZERO {
                (x, T::ONE)
            } else {
                (T::ZERO, T::ZERO)
            }
        }
        Activation::Gelu => unreachable!("supports() keeps erf GELU on the reference ops"),
    }
}

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// Runs `k(act, range)` over `0..n` in parallel chunks, with `act` a constant in each
/// instance (one loop per activation, so that each vectorizes without a branch).
fn chunks(n: usize, act: Activation, k: impl Fn(Activation, usize, usize) + Sync) {
    par_for(n.div_ceil(CHUNK), |c| {
        let (a, b) = (c * CHUNK, ((c + 1) * CHUNK).min(n));
        match act {
            Activation::Silu => k(Activation::Silu, a, b),
            Activation::GeluTanh => k(Activation::GeluTanh, a, b),
            _ => k(Activation::Relu, a, b),
        }
    });
}

/// `f(x)`, or `f(x) ∘ up`.
pub(super) fn forward<T: Float>(x: &[T], up: Option<&[T]>, act: Activation) -> Vec<T> {
    let mut out = vec![T::ZERO; x.len()];
    let o = Shared::new(&mut out);
    chunks(x.len(), act, |act, a, b| {
        // SAFETY: chunk a..b is this task's alone.
        let o = unsafe { o.slice(a, b - a) };
        match up {
            None => o
                .iter_mut()
                .zip(&x[a..b])
                .for_each(|(o, &x)| *o = f_df(x, act).0),
            Some(u) => {
                let it = o.iter_mut().zip(&x[a..b]).zip(&u[a..b]);
                it.for_each(|((o, &x), &u)| *o = f_df(x, act).0 * u);
            }
        }
    });
    out
}

/// MLP: `dx = dy f'(x)`.
pub(super) fn backward_act<T: Float>(x: &[T], dy: &[T], act: Activation) -> Vec<T> {
    let mut dx = vec![T::ZERO; x.len()];
    let o = Shared::new(&mut dx);
    chunks(x.len(), act, |act, a, b| {
        // SAFETY: chunk a..b is this task's alone.
        let o = unsafe { o.slice(a, b - a) };
        let it = o.iter_mut().zip(&x[a..b]).zip(&dy[a..b]);
        it.for_each(|((o, &x), &d)| *o = d * f_df(x, act).1);
    });
    dx
}

/// GLU: `dg = dy up f'(g)`, `du = dy f(g)`, in one pass.
pub(super) fn backward_glu<T: Float>(
    g: &[T],
    u: &[T],
    dy: &[T],
    act: Activation,
) -> (Vec<T>, Vec<T>) {
    let (mut dg, mut du) = (vec![T::ZERO; g.len()], vec![T::ZERO; g.len()]);
    let (og, ou) = (Shared::new(&mut dg), Shared::new(&mut du));
    chunks(g.len(), act, |act, a, b| {
        // SAFETY: chunk a..b is this task's alone.
        let (og, ou) = unsafe { (og.slice(a, b - a), ou.slice(a, b - a)) };
        let it = og
            .iter_mut()
            .zip(ou.iter_mut())
            .zip(&g[a..b])
            .zip(&u[a..b])
            .zip(&dy[a..b]);
        it.for_each(|((((og, ou), &g), &u), &d)| {
            let (f, df) = f_df(g, act);
            *og = d * u * df;
            *ou = d * f;
        });
    });
    (dg, du)
}

struct Act(Activation);
struct Glu(Activation);

pub(super) fn check(act: Activation) -> Result<()> {
    if !supports(act) {
        bail!("fused activation: {act:?} has no kernel");
    }
    Ok(())
}

impl CustomOp1 for Act {
    fn name(&self) -> &'static str {
        "fused_activation"
    }

    fn cpu_fwd(&self, x: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        super::count(self.name());
        check(self.0)?;
        let out = match x {
            CpuStorage::F32(x) => {
                let x = contiguous(x, l, OP)?;
                CpuStorage::F32(forward(x, None, self.0))
            }
            CpuStorage::F64(x) => {
                let x = contiguous(x, l, OP)?;
                CpuStorage::F64(forward(x, None, self.0))
            }
            _ => bail!("fused activation: f32 or f64"),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        fn typed<T: Float>(act: Activation, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
            with_slice::<T, _>(x, |x| {
                with_slice::<T, _>(dy, |dy| tensor(backward_act(x, dy, act), &[x.len()]))
            })
        }
        let dx = by_dtype!(OP, x.dtype(), typed(self.0, x, dy))?;
        Ok(Some(dx.reshape(x.shape())?))
    }
}

impl CustomOp2 for Glu {
    fn name(&self) -> &'static str {
        "fused_glu"
    }

    fn cpu_fwd(
        &self,
        g: &CpuStorage,
        gl: &Layout,
        u: &CpuStorage,
        ul: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        super::count(self.name());
        check(self.0)?;
        if gl.shape() != ul.shape() {
            bail!("fused glu: gate {:?} and up {:?}", gl.dims(), ul.dims());
        }
        let out = match (g, u) {
            (CpuStorage::F32(g), CpuStorage::F32(u)) => {
                let (g, u) = (contiguous(g, gl, OP)?, contiguous(u, ul, OP)?);
                CpuStorage::F32(forward(g, Some(u), self.0))
            }
            (CpuStorage::F64(g), CpuStorage::F64(u)) => {
                let (g, u) = (contiguous(g, gl, OP)?, contiguous(u, ul, OP)?);
                CpuStorage::F64(forward(g, Some(u), self.0))
            }
            _ => bail!("fused glu: f32 or f64 operands of one dtype"),
        };
        Ok((out, gl.shape().clone()))
    }

    fn bwd(
        &self,
        g: &Tensor,
        u: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        fn typed<T: Float>(
            act: Activation,
            g: &Tensor,
            u: &Tensor,
            dy: &Tensor,
        ) -> Result<(Tensor, Tensor)> {
            with_slice::<T, _>(g, |g| {
                with_slice::<T, _>(u, |u| {
                    with_slice::<T, _>(dy, |dy| {
                        let (dg, du) = backward_glu(g, u, dy, act);
                        Ok((tensor(dg, &[g.len()])?, tensor(du, &[g.len()])?))
                    })
                })
            })
        }
        let (dg, du) = by_dtype!(OP, g.dtype(), typed(self.0, g, u, dy))?;
        Ok((Some(dg.reshape(g.shape())?), Some(du.reshape(u.shape())?)))
    }
}
