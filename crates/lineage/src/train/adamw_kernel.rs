//! The fused AdamW update: one pass over a parameter that applies the decoupled decay,
//! both moment updates, the bias correction and the step, in place on the variable's
//! storage. Candle ops would take a dozen passes, each allocating a tensor the size of
//! the parameter.
//!
//! Per element, in PyTorch's order (`_single_tensor_adamw`, the ATen CPU kernels of
//! `mul_`, `lerp_` with weight < 0.5, `addcmul_`, true division by a scalar, `add_`
//! and `addcdiv_`), every scalar cast to the tensor's dtype as ATen does:
//!
//! ```text
//! g = g * clip_coef                    (when the global norm was clipped)
//! w = w * (1 - lr wd)                  (decayed parameters only)
//! m = m + (1 - b1) (g - m)
//! v = v b2 + (1 - b2) g g
//! w = w + (-lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)
//! ```

use std::cell::RefCell;

use candle_core::{CpuStorage, Layout, Tensor};

use crate::{Error, Result};

/// First or second moments of one parameter, in its dtype.
#[derive(Debug, Clone)]
pub enum Moment {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// The scalars of one update.
#[derive(Debug, Clone, Copy)]
pub struct Update {
    /// `1 - lr * weight_decay`, or None when the parameter takes no decay.
    pub decay: Option<f64>,
    pub beta1: f64,
    pub beta2: f64,
    pub bias2_sqrt: f64,
    pub eps: f64,
    /// `lr / (1 - beta1^t)`.
    pub step_size: f64,
    /// The clipping coefficient the gradient is multiplied by first, when it is below 1
    /// (`clip_grad_norm_`'s in-place multiply, the same f32 product, without a pass of
    /// its own over every gradient).
    pub grad_scale: Option<f64>,
}

/// Applies `u` to the variable tensor `w` with gradient `g`, updating `m` and `v`.
pub fn apply(w: &Tensor, g: &Tensor, m: &mut Moment, v: &mut Moment, u: Update) -> Result<()> {
    let op = Op {
        m: RefCell::new(m),
        v: RefCell::new(v),
        u,
    };
    w.inplace_op2(&g.contiguous()?, &op)?;
    Ok(())
}

struct Op<'a> {
    m: RefCell<&'a mut Moment>,
    v: RefCell<&'a mut Moment>,
    u: Update,
}

impl candle_core::InplaceOp2 for Op<'_> {
    fn name(&self) -> &'static str {
        "adamw"
    }

    fn cpu_fwd(
        &self,
        w: &mut CpuStorage,
        wl: &Layout,
        g: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<()> {
        let (Some((w0, w1)), Some((g0, g1))) = (wl.contiguous_offsets(), gl.contiguous_offsets())
        else {
            candle_core::bail!("adamw: parameter and gradient must be contiguous");
        };
        let (mut m, mut v) = (self.m.borrow_mut(), self.v.borrow_mut());
        match (w, g, &mut **m, &mut **v) {
            (CpuStorage::F32(w), CpuStorage::F32(g), Moment::F32(m), Moment::F32(v)) => step(
                &mut w[w0..w1],
                &g[g0..g1],
                m,
                v,
                &self.u,
                |x| x as f32,
                f32::sqrt,
            ),
            (CpuStorage::F64(w), CpuStorage::F64(g), Moment::F64(m), Moment::F64(v)) => {
                step(&mut w[w0..w1], &g[g0..g1], m, v, &self.u, |x| x, f64::sqrt)
            }
            _ => candle_core::bail!("adamw: parameter, gradient and moments must share f32 or f64"),
        }
    }
}

/// The update's scalars in the parameter's dtype. Without a clip or decay the factor is
/// 1, and a product by 1 is exact: the bits of skipping it, with no branch in the loop.
#[derive(Clone, Copy)]
struct Consts<T> {
    scale: T,
    decay: T,
    b1c: T,
    b2: T,
    b2c: T,
    bias2: T,
    eps: T,
    neg_step: T,
}

/// The update of one chunk, the scalars passed by value so the loop keeps them in
/// registers and vectorizes (captured by reference, it ran one element at a time).
#[inline(always)]
fn update_chunk<T>(
    w: &mut [T],
    m: &mut [T],
    v: &mut [T],
    g: &[T],
    k: Consts<T>,
    sqrt: impl Fn(T) -> T,
) where
    T: Copy
        + std::ops::Add<Output = T>
        + std::ops::Sub<Output = T>
        + std::ops::Mul<Output = T>
        + std::ops::Div<Output = T>,
{
    let it = w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g);
    for (((w, m), v), &g) in it {
        let g = g * k.scale;
        let mi = *m + k.b1c * (g - *m);
        let vi = *v * k.b2 + k.b2c * g * g;
        *w = *w * k.decay + k.neg_step * mi / (sqrt(vi) / k.bias2 + k.eps);
        (*m, *v) = (mi, vi);
    }
}

/// One chunk of the parameter, its first and second moments, and its gradient.
type Chunk<'a, T> = (((&'a mut [T], &'a mut [T]), &'a mut [T]), &'a [T]);

fn step<T>(
    w: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    u: &Update,
    cast: impl Fn(f64) -> T,
    sqrt: impl Fn(T) -> T + Sync,
) -> candle_core::Result<()>
where
    T: Copy
        + Send
        + Sync
        + std::ops::Add<Output = T>
        + std::ops::Sub<Output = T>
        + std::ops::Mul<Output = T>
        + std::ops::Div<Output = T>,
{
    if w.len() != g.len() || w.len() != m.len() || w.len() != v.len() {
        candle_core::bail!(
            "adamw: {} weights, {} gradients, {} and {} moments",
            w.len(),
            g.len(),
            m.len(),
            v.len()
        );
    }
    let k = Consts {
        scale: cast(u.grad_scale.unwrap_or(1.0)),
        decay: cast(u.decay.unwrap_or(1.0)),
        b1c: cast(1.0 - u.beta1),
        b2: cast(u.beta2),
        b2c: cast(1.0 - u.beta2),
        bias2: cast(u.bias2_sqrt),
        eps: cast(u.eps),
        neg_step: cast(-u.step_size),
    };
    // Each element on its own, so the split across threads changes no bit; serial, this
    // pass kept one core busy while the other waited.
    let update = |(((w, m), v), g): Chunk<T>| {
        crate::model::fused::cpu::simd(|| update_chunk(w, m, v, g, k, &sqrt))
    };
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 14;
    if w.len() <= CHUNK {
        // Norm gains and biases: one chunk, so no hand-off to the pool and back.
        update((((w, m), v), g));
        return Ok(());
    }
    w.par_chunks_mut(CHUNK)
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .zip(g.par_chunks(CHUNK))
        .for_each(update);
    Ok(())
}

impl Moment {
    /// Zeros in the dtype of `like`.
    pub fn zeros(like: &Tensor) -> Result<Self> {
        let n = like.elem_count();
        match like.dtype() {
            candle_core::DType::F32 => Ok(Self::F32(vec![0.0; n])),
            candle_core::DType::F64 => Ok(Self::F64(vec![0.0; n])),
            d => Err(Error::Train(format!(
                "AdamW runs on f32 or f64 parameters, not {d:?}"
            ))),
        }
    }

    /// The moment as a tensor of `like`'s shape, for a checkpoint.
    pub fn to_tensor(&self, like: &Tensor) -> Result<Tensor> {
        let t = match self {
            Self::F32(x) => Tensor::from_slice(x, like.shape(), like.device())?,
            Self::F64(x) => Tensor::from_slice(x, like.shape(), like.device())?,
        };
        Ok(t)
    }

    /// A checkpoint's tensor in the dtype of `like`.
    pub fn from_tensor(t: &Tensor, like: &Tensor) -> Result<Self> {
        let flat = t.to_dtype(like.dtype())?.flatten_all()?;
        match like.dtype() {
            candle_core::DType::F32 => Ok(Self::F32(flat.to_vec1()?)),
            candle_core::DType::F64 => Ok(Self::F64(flat.to_vec1()?)),
            d => Err(Error::Train(format!(
                "AdamW runs on f32 or f64 parameters, not {d:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parameter of several chunks, updated on the pool, equals each element updated
    /// alone (the one-chunk path), bit for bit: the split lines the four slices up.
    #[test]
    fn the_chunked_update_equals_one_element_at_a_time() {
        let n = 3 * (1 << 14) + 5;
        let wave = |i: usize, f: f64| ((i as f64 * f).sin() * 0.5) as f32;
        let (w0, g): (Vec<f32>, Vec<f32>) = (0..n).map(|i| (wave(i, 0.7), wave(i, 1.3))).unzip();
        let (m0, v0): (Vec<f32>, Vec<f32>) = (0..n)
            .map(|i| (wave(i, 2.1) * 0.1, wave(i, 0.3).abs() * 0.01))
            .unzip();
        let u = Update {
            decay: Some(1.0 - 3e-3 * 0.1),
            beta1: 0.9,
            beta2: 0.95,
            bias2_sqrt: (1.0f64 - 0.95f64.powi(3)).sqrt(),
            eps: 1e-8,
            step_size: 3e-3 / (1.0 - 0.9f64.powi(3)),
            grad_scale: Some(0.37),
        };
        let run = |w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]| {
            step(w, g, m, v, &u, |x| x as f32, f32::sqrt).unwrap()
        };
        let (mut w, mut m, mut v) = (w0.clone(), m0.clone(), v0.clone());
        run(&mut w, &g, &mut m, &mut v);
        let moved = w.iter().zip(&w0).filter(|(a, b)| a != b).count();
        assert!(moved > n / 2, "the update moved {moved} of {n} weights");
        let (mut w1, mut m1, mut v1) = (w0, m0, v0);
        for i in 0..n {
            let r = i..i + 1;
            run(
                &mut w1[r.clone()],
                &g[r.clone()],
                &mut m1[r.clone()],
                &mut v1[r],
            );
        }
        let bits = |x: &[f32]| x.iter().map(|y| y.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&w), bits(&w1));
        assert_eq!(bits(&m), bits(&m1));
        assert_eq!(bits(&v), bits(&v1));
    }
}
