//! Mixture-of-experts FFN (Shazeer et al. 2017; Fedus et al. 2021): a router picks k
//! experts per token, only those experts run, on only their tokens, and their outputs
//! are summed with the routing weights; shared experts run on every token.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};

use super::ffn::{ffn_forward, load_dense, FfnWeights};
use super::linear::Linear;
use super::ops;
use super::router::{route, Routing};
use crate::config::{FfnKind, MoeConfig};
use crate::plan::{MoePlan, StackSlot};
use crate::weights::{Weight, Weights};
use crate::Result;

/// `[E, out, in]` expert matrices (dense or MXFP4) with optional `[E, out]` biases.
#[derive(Debug, Clone)]
struct ExpertStack {
    weight: Weight,
    bias: Option<Tensor>,
}

impl ExpertStack {
    fn load(w: &Weights, s: &StackSlot) -> Result<Self> {
        let weight = w.weight(&format!("{}.weight", s.name), &[s.experts, s.out, s.inp])?;
        let bias = if s.bias {
            Some(w.tensor(&format!("{}.bias", s.name), &[s.experts, s.out])?)
        } else {
            None
        };
        Ok(Self { weight, bias })
    }

    /// Expert `e` as a linear layer (MXFP4 is dequantised here, on the fly; block-quantized
    /// experts are multiplied in their blocks).
    fn linear(&self, e: usize) -> Result<Linear> {
        let b = self.bias.as_ref().map(|b| b.get(e)).transpose()?;
        Ok(match &self.weight {
            Weight::Dense(t) => Linear::from_parts(t.get(e)?, b),
            Weight::Mxfp4(m) => Linear::from_parts(m.dequantize(e)?, b),
            Weight::QuantStack(q) => Linear::from_quant(q[e].clone()).with_bias(b),
            Weight::Quant(_) => {
                return Err(crate::Error::BadInput(
                    "a 2-D weight where an expert stack belongs".into(),
                ))
            }
        })
    }
}

/// Per-expert counters: tokens routed to it and rows it actually computed.
#[derive(Debug, Default)]
pub struct ExpertStats {
    pub routed: Vec<AtomicU64>,
    pub computed_rows: Vec<AtomicU64>,
}

impl ExpertStats {
    fn new(n: usize) -> Self {
        Self {
            routed: (0..n).map(|_| AtomicU64::new(0)).collect(),
            computed_rows: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }
    pub fn routed_counts(&self) -> Vec<u64> {
        self.routed
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect()
    }
    pub fn computed_counts(&self) -> Vec<u64> {
        self.computed_rows
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect()
    }
    pub fn reset(&self) {
        self.routed
            .iter()
            .chain(&self.computed_rows)
            .for_each(|a| a.store(0, Ordering::Relaxed));
    }
}

/// Auxiliary training losses of one MoE layer.
pub struct MoeLosses {
    /// Switch load-balancing loss.
    pub balance: Tensor,
    /// Router z-loss `mean_n logsumexp(logits_n)^2` (ST-MoE, Zoph et al. 2022).
    pub z: Tensor,
}

#[derive(Debug, Clone)]
pub struct Moe {
    cfg: MoeConfig,
    kind: FfnKind,
    router: Linear,
    correction: Option<Vec<f32>>,
    gate: Option<ExpertStack>,
    up: ExpertStack,
    down: ExpertStack,
    shared: Option<FfnWeights>,
    pub stats: Arc<ExpertStats>,
}

impl Moe {
    pub fn load(m: &MoePlan, w: &Weights) -> Result<Self> {
        let e = m.cfg.n_experts;
        let correction = m
            .correction
            .as_ref()
            .map(|c| -> Result<Vec<f32>> {
                Ok(w.tensor(c, &[e])?.to_dtype(DType::F32)?.to_vec1::<f32>()?)
            })
            .transpose()?;
        let stack = |s: &StackSlot| ExpertStack::load(w, s);
        Ok(Self {
            cfg: m.cfg.clone(),
            kind: m.kind,
            router: Linear::load(w, &m.router)?,
            correction,
            gate: m.gate.as_ref().map(stack).transpose()?,
            up: stack(&m.up)?,
            down: stack(&m.down)?,
            shared: m.shared.as_ref().map(|s| load_dense(w, s)).transpose()?,
            stats: Arc::new(ExpertStats::new(e)),
        })
    }

    /// `x` `[B, T, D]` -> (`[B, T, D]`, auxiliary losses).
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, MoeLosses)> {
        let dims = x.dims().to_vec();
        let d = dims[dims.len() - 1];
        let xs = x.reshape(((), d))?; // [N, D]
        let logits = self.router.forward(&xs)?;
        let r = route(
            &self.cfg.router,
            &logits,
            self.cfg.top_k,
            self.correction.as_deref(),
        )?;
        let mut out = xs.zeros_like()?;
        for (e, (tokens, slots)) in assignments(&r, self.cfg.n_experts).into_iter().enumerate() {
            self.stats.routed[e].fetch_add(tokens.len() as u64, Ordering::Relaxed);
            if tokens.is_empty() {
                continue; // unselected experts do no work
            }
            let idx = Tensor::from_vec(tokens.clone(), tokens.len(), &Device::Cpu)?;
            let rows = xs.index_select(&idx, 0)?;
            // Counted from what the expert FFN is actually given, not from the routing.
            self.stats.computed_rows[e].fetch_add(rows.dim(0)? as u64, Ordering::Relaxed);
            let y = ffn_forward(self.kind, &self.expert(e)?, &rows)?;
            let slot_idx = Tensor::from_vec(slots, tokens.len(), &Device::Cpu)?;
            let wcol = r
                .weights
                .flatten_all()?
                .index_select(&slot_idx, 0)?
                .unsqueeze(1)?;
            out = out.index_add(&idx, &y.broadcast_mul(&wcol)?, 0)?;
        }
        if let Some(s) = &self.shared {
            out = (out + ffn_forward(self.kind, s, &xs)?)?;
        }
        let losses = MoeLosses {
            balance: self.balance_loss(&r)?,
            z: ops::logsumexp_last(&logits)?.sqr()?.mean_all()?,
        };
        Ok((out.reshape(dims)?, losses))
    }

    fn expert(&self, e: usize) -> Result<FfnWeights> {
        Ok(FfnWeights {
            gate: self.gate.as_ref().map(|g| g.linear(e)).transpose()?,
            up: self.up.linear(e)?,
            down: self.down.linear(e)?,
        })
    }

    /// Switch Transformer loss `E * sum_e f_e * P_e`: f_e the fraction of routed slots
    /// that went to expert e, P_e its mean router probability.
    fn balance_loss(&self, r: &Routing) -> Result<Tensor> {
        let n_e = self.cfg.n_experts;
        let mut counts = vec![0f32; n_e];
        r.experts.iter().flatten().for_each(|&e| counts[e] += 1.0);
        let total = counts.iter().sum::<f32>().max(1.0);
        let f: Vec<f32> = counts.iter().map(|c| c / total).collect();
        let f = Tensor::from_vec(f, n_e, &Device::Cpu)?.to_dtype(r.probs.dtype())?;
        let p = r.probs.mean(0)?;
        Ok(((p * f)?.sum_all()? * n_e as f64)?)
    }
}

/// For each expert: the token rows routed to it and their flat `[N*k]` weight slots.
fn assignments(r: &Routing, n_experts: usize) -> Vec<(Vec<u32>, Vec<u32>)> {
    let mut per = vec![(Vec::new(), Vec::new()); n_experts];
    let k = r.experts.first().map_or(0, Vec::len);
    for (n, chosen) in r.experts.iter().enumerate() {
        for (j, &e) in chosen.iter().enumerate() {
            per[e].0.push(n as u32);
            per[e].1.push((n * k + j) as u32);
        }
    }
    per
}
