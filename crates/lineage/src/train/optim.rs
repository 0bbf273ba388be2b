//! AdamW (Loshchilov & Hutter 2019) with decay groups and global-norm gradient clipping,
//! written to match `torch.optim.AdamW` (single-tensor path) and
//! `torch.nn.utils.clip_grad_norm_` operation for operation, so the PyTorch oracle
//! fixtures agree to rounding in f64.

use std::collections::HashMap;

use candle_core::{Tensor, Var};

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
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Updates applied so far (PyTorch's `state['step']`).
    pub t: u64,
}

impl AdamW {
    pub fn new(cfg: AdamWConfig, params: &[Param]) -> Result<Self> {
        let zeros = |p: &Param| Ok(p.var.as_tensor().zeros_like()?);
        Ok(Self {
            cfg,
            m: params.iter().map(zeros).collect::<Result<_>>()?,
            v: params.iter().map(zeros).collect::<Result<_>>()?,
            t: 0,
        })
    }

    /// One update of every parameter with its gradient and learning rate `lr`.
    pub fn step(&mut self, params: &[Param], grads: &[Tensor], lr: f64) -> Result<()> {
        self.t += 1;
        let c = self.cfg;
        let bc1 = 1.0 - c.beta1.powf(self.t as f64);
        let bc2_sqrt = (1.0 - c.beta2.powf(self.t as f64)).sqrt();
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            let mut w = p.var.as_tensor().detach();
            if p.decay && c.weight_decay != 0.0 {
                w = (w * (1.0 - lr * c.weight_decay))?;
            }
            // exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2)
            let m = (&self.m[i] + ((g - &self.m[i])? * (1.0 - c.beta1))?)?;
            let v = ((&self.v[i] * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let denom = ((v.sqrt()? / bc2_sqrt)? + c.eps)?;
            let w = (w - ((&m / denom)? * (lr / bc1))?)?;
            p.var.set(&w)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// `m.{name}` / `v.{name}` for a checkpoint.
    pub fn state(&self, params: &[Param]) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, p) in params.iter().enumerate() {
            out.insert(format!("m.{}", p.name), self.m[i].clone());
            out.insert(format!("v.{}", p.name), self.v[i].clone());
        }
        out
    }

    /// Restores moments saved by [`AdamW::state`]; every parameter must be present.
    pub fn load_state(&mut self, params: &[Param], map: &HashMap<String, Tensor>, t: u64) -> Result<()> {
        for (i, p) in params.iter().enumerate() {
            let dtype = p.var.as_tensor().dtype();
            let get = |k: String| -> Result<Tensor> {
                let t = map.get(&k).ok_or_else(|| {
                    Error::BadInput(format!("optimizer state has no `{k}`: checkpoint of another model?"))
                })?;
                if t.dims() != p.var.as_tensor().dims() {
                    return Err(Error::BadInput(format!(
                        "optimizer state `{k}` has shape {:?}, the model {:?}",
                        t.dims(),
                        p.var.as_tensor().dims()
                    )));
                }
                Ok(t.to_dtype(dtype)?)
            };
            self.m[i] = get(format!("m.{}", p.name))?;
            self.v[i] = get(format!("v.{}", p.name))?;
        }
        self.t = t;
        Ok(())
    }
}

/// Global L2 norm of all gradients (norm of the per-tensor norms, as PyTorch computes it).
pub fn global_norm(grads: &[Tensor]) -> Result<f64> {
    let mut sq = 0f64;
    for g in grads {
        let n = g.sqr()?.sum_all()?.sqrt()?.to_dtype(candle_core::DType::F64)?;
        let n = n.to_scalar::<f64>()?;
        sq += n * n;
    }
    Ok(sq.sqrt())
}

/// Scales `grads` so their global norm is at most `max_norm` (`clip_grad_norm_`:
/// coefficient `max_norm / (norm + 1e-6)` clamped to 1). Returns the pre-clip norm.
pub fn clip(grads: &mut [Tensor], max_norm: f64) -> Result<f64> {
    let norm = global_norm(grads)?;
    if max_norm > 0.0 {
        let coef = (max_norm / (norm + 1e-6)).min(1.0);
        if coef < 1.0 {
            for g in grads.iter_mut() {
                *g = (&*g * coef)?;
            }
        }
    }
    Ok(norm)
}
