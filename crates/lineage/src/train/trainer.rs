//! One optimizer step and one evaluation on the canonical model: the weights become
//! autodiff variables, `crate::model::Model` runs forward, candle's backward gives the
//! gradients, and AdamW updates the variables in place.

use candle_core::{DType, Device, Tensor, Var};

use super::checkpoint::{Checkpoint, TrainState};
use super::init::init_weights;
use super::loss::{cross_entropy, losses};
use super::optim::{clip_coef, AdamW, AdamWConfig, Param};
use super::schedule::lr_at;
use super::settings::{TrainDtype, TrainSettings};
use super::source::TokenSource;
use crate::config::{tensors::tensors, ModelConfig, TensorRole};
use crate::model::fused::{self, cpu::par_map};
use crate::model::{Dropout, Model};
use crate::runtime::sampler::rng::SplitMix64;
use crate::weights::Weights;
use crate::{Error, Result};

/// What one optimizer step measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// Steps completed after this one.
    pub step: u64,
    pub lr: f64,
    /// Mean cross-entropy over the micro-batches (nats/token).
    pub ce: f64,
    pub balance: f64,
    pub z: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

pub struct Trainer {
    pub cfg: ModelConfig,
    pub settings: TrainSettings,
    params: Vec<Param>,
    /// Built on the variables: its forward is differentiated.
    model: Model,
    /// Built on detached views of the same storage: sees every update, records no graph.
    eval_model: Model,
    opt: AdamW,
    pub state: TrainState,
    /// Shards per micro-batch ([`TrainSettings::resolved_shards`]).
    shards: usize,
}

impl Trainer {
    /// A fresh model initialised by the settings' scheme and seed.
    pub fn from_scratch(cfg: ModelConfig, settings: TrainSettings) -> Result<Self> {
        let w = init_weights(&cfg, settings.init, settings.init_std, settings.seed)?;
        let state = TrainState {
            step: 0,
            tokens: 0,
            elapsed_s: 0.0,
            seed: settings.seed,
        };
        Self::build(cfg, settings, &w, state)
    }

    /// Continues from a checkpoint; its model must be the one `settings` describe.
    pub fn from_checkpoint(ck: Checkpoint, settings: TrainSettings) -> Result<Self> {
        let mut t = Self::build(ck.cfg, settings, &ck.weights, ck.state.clone())?;
        t.opt.load_state(&t.params, &ck.optimizer, ck.state.step)?;
        Ok(t)
    }

    /// Starts from given weights (e.g. an oracle's initial checkpoint).
    pub fn from_weights(cfg: ModelConfig, settings: TrainSettings, w: &Weights) -> Result<Self> {
        let state = TrainState {
            step: 0,
            tokens: 0,
            elapsed_s: 0.0,
            seed: settings.seed,
        };
        Self::build(cfg, settings, w, state)
    }

    fn build(
        cfg: ModelConfig,
        settings: TrainSettings,
        w: &Weights,
        state: TrainState,
    ) -> Result<Self> {
        let dtype = match settings.dtype {
            TrainDtype::F32 => DType::F32,
            TrainDtype::F64 => DType::F64,
        };
        let mut params = Vec::new();
        let (mut live, mut detached) = (Weights::default(), Weights::default());
        for spec in tensors(&cfg) {
            let t = w.tensor(&spec.name, &spec.shape)?;
            let var = Var::from_tensor(&t.to_dtype(dtype)?)?;
            live.insert(spec.name.clone(), var.as_tensor().clone());
            detached.insert(spec.name.clone(), var.as_tensor().detach());
            let decay = matches!(spec.role, TensorRole::Matrix | TensorRole::ResidualOut);
            params.push(Param {
                name: spec.name,
                var,
                decay,
            });
        }
        let opt = AdamW::new(
            AdamWConfig {
                beta1: settings.beta1,
                beta2: settings.beta2,
                eps: settings.eps,
                weight_decay: settings.weight_decay,
            },
            &params,
        )?;
        let moe = cfg.layers.iter().any(|l| l.moe);
        Ok(Self {
            shards: settings.resolved_shards(moe),
            model: Model::new(&cfg, &live)?,
            eval_model: Model::new(&cfg, &detached)?,
            cfg,
            settings,
            params,
            opt,
            state,
        })
    }

    /// The differentiated model (built on the variables).
    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn params(&self) -> &[Param] {
        &self.params
    }

    pub fn n_params(&self) -> usize {
        self.params
            .iter()
            .map(|p| p.var.as_tensor().elem_count())
            .sum()
    }

    /// One optimizer step over `grad_accum` micro-batches.
    pub fn step(&mut self, data: &dyn TokenSource) -> Result<StepReport> {
        let (grads, ce, balance, z) = self.gradients(data)?;
        let step = self.state.step;
        let (grad_norm, clip) = clip_coef(&grads, self.settings.grad_clip)?;
        if !grad_norm.is_finite() {
            return Err(diverged(step + 1, grad_norm, "gradient norm"));
        }
        let lr = lr_at(&self.settings, step);
        self.opt.step(&self.params, &grads, lr, clip)?;
        self.state.step += 1;
        self.state.tokens += self.settings.tokens_per_step();
        Ok(StepReport {
            step: self.state.step,
            lr,
            ce,
            balance,
            z,
            grad_norm,
        })
    }

    /// Gradients of the current step's loss (summed over micro-batches and their shards,
    /// each scaled by 1/(grad_accum x shards)), one per parameter in [`Trainer::params`]
    /// order, with the mean cross-entropy, balance and z losses.
    pub fn gradients(&self, data: &dyn TokenSource) -> Result<(Vec<Tensor>, f64, f64, f64)> {
        let s = &self.settings;
        let (step, accum) = (self.state.step, s.grad_accum);
        let parts = accum * self.shards;
        let mut grads: Vec<Option<Tensor>> = vec![None; self.params.len()];
        let (mut ce, mut balance, mut z) = (0.0, 0.0, 0.0);
        for micro in 0..accum {
            let ids = self.window_tensor(&data.train_batch(step, micro as u32)?, s.batch)?;
            // Each shard's forward and backward on its own core; summed in shard order,
            // so the bits do not depend on which finished first.
            for shard in self.shard_gradients(&ids, micro, parts) {
                let shard = shard?;
                // Each parameter's sum on the pool (serial, the adds left a core idle).
                let sums = par_map(grads.len(), |i| -> Result<Option<Tensor>> {
                    Ok(match (&grads[i], &shard.grads[i]) {
                        (Some(acc), Some(gi)) => Some((acc + gi)?),
                        (acc, gi) => acc.clone().or_else(|| gi.clone()),
                    })
                });
                grads = sums.into_iter().collect::<Result<_>>()?;
                ce += shard.ce / parts as f64;
                balance += shard.balance / parts as f64;
                z += shard.z / parts as f64;
            }
        }
        let grads = grads
            .into_iter()
            .zip(&self.params)
            .map(|(g, p)| g.map_or_else(|| Ok(p.var.as_tensor().zeros_like()?), Ok))
            .collect::<Result<_>>()?;
        Ok((grads, ce, balance, z))
    }

    /// The shards of micro-batch `ids` `[batch, T+1]`, forward and backward in parallel
    /// on the rayon pool, in shard order.
    fn shard_gradients(&self, ids: &Tensor, micro: usize, parts: usize) -> Vec<Result<Shard>> {
        use rayon::prelude::*;
        let rows = self.settings.batch / self.shards;
        let run = |shard: usize| -> Result<Shard> {
            let ids = ids.narrow(0, shard * rows, rows)?;
            self.shard(&ids, micro * self.shards + shard, parts)
        };
        if self.shards == 1 {
            return vec![run(0)];
        }
        // One core per shard where there are no more cores than shards (see `solo`).
        let solo = rayon::current_num_threads() <= self.shards;
        (0..self.shards)
            .into_par_iter()
            .map(|i| {
                if solo {
                    fused::cpu::solo(|| run(i))
                } else {
                    run(i)
                }
            })
            .collect()
    }

    /// Loss and gradients of one shard `ids` `[rows, T+1]`; `index` numbers the shards of
    /// the step (its dropout masks), and the loss is scaled by 1/`parts`.
    fn shard(&self, ids: &Tensor, index: usize, parts: usize) -> Result<Shard> {
        let (s, step) = (&self.settings, self.state.step);
        let dropout = (self.cfg.dropout > 0.0)
            .then(|| Dropout::new(self.cfg.dropout, mask_seed(s.seed, step, index)));
        let l = losses(
            &self.model,
            ids,
            dropout.as_ref(),
            (s.balance_coef, s.z_coef),
        )?;
        if !l.ce.is_finite() {
            return Err(diverged(step + 1, l.ce, "loss"));
        }
        let total = if parts > 1 {
            (l.total / parts as f64)?
        } else {
            l.total
        };
        let store = total.backward()?;
        Ok(Shard {
            grads: self
                .params
                .iter()
                .map(|p| store.get(p.var.as_tensor()).cloned())
                .collect(),
            ce: l.ce,
            balance: l.balance,
            z: l.z,
        })
    }

    /// Mean cross-entropy (nats/token) over the source's validation windows.
    pub fn evaluate(&self, data: &dyn TokenSource) -> Result<f64> {
        let windows = data.val_windows(self.settings.eval_windows)?;
        if windows.is_empty() {
            return Err(Error::Train(
                "the validation split has no full window".into(),
            ));
        }
        let (mut sum, mut n) = (0.0, 0usize);
        for chunk in windows.chunks(self.settings.batch) {
            let flat: Vec<u32> = chunk.concat();
            let ids = self.window_tensor(&flat, chunk.len())?;
            let t = ids.dim(1)? - 1;
            let logits = self.eval_model.forward(&ids.narrow(1, 0, t)?, None)?;
            let ce = cross_entropy(&logits, &ids.narrow(1, 1, t)?)?;
            sum += ce.to_dtype(DType::F64)?.to_scalar::<f64>()? * chunk.len() as f64;
            n += chunk.len();
        }
        Ok(sum / n as f64)
    }

    /// The current weights (f32, canonical names).
    pub fn weights(&self) -> Result<Weights> {
        let mut w = Weights::default();
        for p in &self.params {
            w.insert(
                p.name.clone(),
                p.var.as_tensor().detach().to_dtype(DType::F32)?,
            );
        }
        Ok(w)
    }

    pub fn checkpoint(&self) -> Result<Checkpoint> {
        Ok(Checkpoint {
            cfg: self.cfg.clone(),
            weights: self.weights()?,
            optimizer: self.opt.state(&self.params)?,
            state: self.state.clone(),
        })
    }

    /// Row-major ids `[rows, seq_len + 1]` as a tensor, checked against the vocabulary.
    fn window_tensor(&self, ids: &[u32], rows: usize) -> Result<Tensor> {
        if rows == 0 || ids.len() % rows != 0 {
            return Err(Error::Train(format!(
                "a batch of {} ids is not {rows} rows",
                ids.len()
            )));
        }
        Ok(Tensor::from_vec(
            ids.to_vec(),
            (rows, ids.len() / rows),
            &Device::Cpu,
        )?)
    }
}

/// Dropout seed of one shard: a pure function of (seed, step, shard index in the step:
/// micro-batch x shards + shard, which is the micro-batch when there is one shard).
fn mask_seed(seed: u64, step: u64, index: usize) -> u64 {
    let mut r = SplitMix64::new(seed ^ 0xA076_1D64_78BD_642F);
    r.next_u64() ^ SplitMix64::new(step.wrapping_mul(0x1_0000) + index as u64).next_u64()
}

/// What one shard's backward gave: a gradient per parameter (none where the loss does
/// not reach it) and its unscaled losses.
struct Shard {
    grads: Vec<Option<Tensor>>,
    ce: f64,
    balance: f64,
    z: f64,
}

fn diverged(step: u64, value: f64, what: &str) -> Error {
    Error::Train(format!(
        "the {what} became {value} at step {step}; stopped before updating. The last good \
         checkpoint is kept. Try a lower lr, a longer warmup or grad_clip"
    ))
}
