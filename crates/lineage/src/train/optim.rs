//! AdamW (Loshchilov & Hutter 2019) with decay groups and global-norm gradient clipping,
//! written to match `torch.optim.AdamW` (single-tensor path) and
//! `torch.nn.utils.clip_grad_norm_` operation for operation, so the PyTorch oracle
//! fixtures agree to rounding in f64.

use std::collections::HashMap;

use candle_core::{Tensor, Var};

use super::adamw_kernel::{self, Moment, Update};
use crate::model::fused::cpu::par_map;

use crate::{Error, Result};

/// One trainable tensor.
pub struct Param {
    /// Canonical name (`blk.0.attn_q.weight`).
    pub name: String,
    pub var: Var,
    /// Whether decoupled weight decay applies (matrices; not norms, biases, embeddings).
    pub decay: bool,
}

/// Hyperparameters of the update.
#[derive(Debug, Clone, Copy)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

/// First and second moments per parameter, and the update count.
pub struct AdamW {
    cfg: AdamWConfig,
    m: Vec<Moment>,
    v: Vec<Moment>,
    /// Updates applied so far (PyTorch's `state['step']`).
    pub t: u64,
}

impl AdamW {
    pub fn new(cfg: AdamWConfig, params: &[Param]) -> Result<Self> {
        let zeros = |p: &Param| Moment::zeros(p.var.as_tensor());
        Ok(Self {
            cfg,
            m: params.iter().map(zeros).collect::<Result<_>>()?,
            v: params.iter().map(zeros).collect::<Result<_>>()?,
            t: 0,
        })
    }

    /// One update of every parameter with its gradient times `grad_scale` (the clip
    /// coefficient, see [`clip_coef`]) and learning rate `lr`, fused per parameter and
    /// in place (`adamw_kernel`).
    pub fn step(
        &mut self,
        params: &[Param],
        grads: &[Tensor],
        lr: f64,
        grad_scale: Option<f64>,
    ) -> Result<()> {
        self.t += 1;
        let c = self.cfg;
        let bc1 = 1.0 - c.beta1.powf(self.t as f64);
        let bias2_sqrt = (1.0 - c.beta2.powf(self.t as f64)).sqrt();
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            let u = Update {
                decay: (p.decay && c.weight_decay != 0.0).then(|| 1.0 - lr * c.weight_decay),
                beta1: c.beta1,
                beta2: c.beta2,
                bias2_sqrt,
                eps: c.eps,
                step_size: lr / bc1,
                grad_scale,
            };
            adamw_kernel::apply(p.var.as_tensor(), g, &mut self.m[i], &mut self.v[i], u)?;
        }
        Ok(())
    }

    /// `m.{name}` / `v.{name}` for a checkpoint.
    pub fn state(&self, params: &[Param]) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for (i, p) in params.iter().enumerate() {
            let like = p.var.as_tensor();
            out.insert(format!("m.{}", p.name), self.m[i].to_tensor(like)?);
            out.insert(format!("v.{}", p.name), self.v[i].to_tensor(like)?);
        }
        Ok(out)
    }

    /// Restores moments saved by [`AdamW::state`]; every parameter must be present.
    pub fn load_state(
        &mut self,
        params: &[Param],
        map: &HashMap<String, Tensor>,
        t: u64,
    ) -> Result<()> {
        for (i, p) in params.iter().enumerate() {
            let like = p.var.as_tensor();
            let get = |k: String| -> Result<Moment> {
                let t = map.get(&k).ok_or_else(|| {
                    Error::BadInput(format!(
                        "optimizer state has no `{k}`: checkpoint of another model?"
                    ))
                })?;
                if t.dims() != like.dims() {
                    return Err(Error::BadInput(format!(
                        "optimizer state `{k}` has shape {:?}, the model {:?}",
                        t.dims(),
                        like.dims()
                    )));
                }
                Moment::from_tensor(t, like)
            };
            self.m[i] = get(format!("m.{}", p.name))?;
            self.v[i] = get(format!("v.{}", p.name))?;
        }
        self.t = t;
        Ok(())
    }
}

/// Global L2 norm of all gradients (norm of the per-tensor norms, as PyTorch computes it).
/// The per-tensor norms run on the pool (each tensor's sum in one order, on one thread;
/// serial, they left the second core idle), summed in parameter order: the same bits as
/// one thread.
pub fn global_norm(grads: &[Tensor]) -> Result<f64> {
    let norms = par_map(grads.len(), |i| -> Result<f64> {
        let n = grads[i].sqr()?.sum_all()?.sqrt()?;
        Ok(n.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?)
    });
    let norms = norms.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(norms.iter().fold(0f64, |sq, n| sq + n * n).sqrt())
}

/// The pre-clip global norm, and the coefficient that brings it to at most `max_norm`
/// (`clip_grad_norm_`: `max_norm / (norm + 1e-6)`), None where that is 1 or more or
/// clipping is off. [`AdamW::step`] applies it as it reads each gradient.
pub fn clip_coef(grads: &[Tensor], max_norm: f64) -> Result<(f64, Option<f64>)> {
    let norm = global_norm(grads)?;
    let coef = (max_norm / (norm + 1e-6)).min(1.0);
    Ok((norm, (max_norm > 0.0 && coef < 1.0).then_some(coef)))
}
