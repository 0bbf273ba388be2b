//! The one forward pass. It composes the components a [`ModelConfig`] names; no family
//! has code here. Built from canonical weights, usable for inference (with a KV cache)
//! and for training (every op is a differentiable candle op).

mod alibi;
pub(crate) mod attend;
mod attention;
mod block;
pub mod dropout;
mod embedding;
mod ffn;
pub mod fused;
mod linear;
mod mask;
mod mla;
pub mod moe;
mod norm;
pub mod ops;
pub(crate) mod rope;
pub(crate) mod router;

use candle_core::{DType, Tensor};

pub use block::{Block, FfnLayer};
pub use dropout::Dropout;
use embedding::Embedding;
use linear::Linear;
use norm::Norm;
use rope::{CosSin, RopeTable};

use crate::config::ModelConfig;
use crate::plan::{ModelPlan, Visibility};
use crate::runtime::kv_cache::KvCache;
use crate::weights::Weights;
use crate::{Error, Result};

/// What one layer needs besides its input.
pub struct LayerCtx<'a> {
    pub rope: Option<(&'a RopeTable, CosSin)>,
    pub alibi: Option<&'a [f64]>,
    pub window: Option<usize>,
    /// Absolute position of the first query token.
    pub q0: usize,
    /// Training only: dropout on the sublayer outputs.
    pub dropout: Option<&'a Dropout>,
}

/// Outputs of one forward.
pub struct ForwardOutput {
    /// `[B, T, V]`
    pub logits: Tensor,
    /// HF convention: `[0]` embeddings, `[i]` output of layer i-1, `[L]` final-norm output.
    pub hidden_states: Vec<Tensor>,
    /// Output of the last layer before the final norm.
    pub last_layer_output: Option<Tensor>,
    /// Sum of the MoE layers' load-balancing losses (None for dense models).
    pub balance_loss: Option<Tensor>,
    /// Sum of the MoE layers' router z-losses (ST-MoE, Zoph et al. 2022).
    pub router_z_loss: Option<Tensor>,
}

/// The forward up to the final norm: [`ForwardOutput`] before the head.
pub struct Trunk {
    /// Final-norm output `[B, T, D]`.
    pub h: Tensor,
    /// `[0]` embeddings, `[i]` output of layer i-1 (when asked for).
    pub hidden_states: Vec<Tensor>,
    pub last_layer_output: Option<Tensor>,
    pub balance_loss: Option<Tensor>,
    pub router_z_loss: Option<Tensor>,
}

#[derive(Debug, Clone)]
pub struct Model {
    cfg: ModelConfig,
    token_embd: Embedding,
    position_embd: Option<Tensor>,
    embd_norm: Option<Norm>,
    pub blocks: Vec<Block>,
    output_norm: Norm,
    lm_head: Linear,
    /// Per layer: its RoPE table (layer override or the model's), and what its queries
    /// see (window, ALiBi slopes) as the plan says.
    ropes: Vec<Option<RopeTable>>,
    sees: Vec<Visibility>,
}

impl Model {
    pub fn new(cfg: &ModelConfig, w: &Weights) -> Result<Self> {
        let plan = ModelPlan::new(cfg)?;
        let (v, d, e) = (plan.vocab, plan.d_model, &plan.embedding);
        let token_embd = Embedding::load(w, &e.token, v, d)?;
        let position_embd = e
            .position
            .as_ref()
            .map(|p| w.tensor(p, &[plan.context_len, d]))
            .transpose()?;
        let embd_norm = e.norm.as_ref().map(|n| Norm::load(w, n)).transpose()?;
        let blocks = plan
            .layers
            .iter()
            .map(|l| Block::load(l, w))
            .collect::<Result<Vec<_>>>()?;
        let lm_head = match &plan.head {
            None => token_embd.as_linear(),
            Some(h) => Linear::load(w, h)?,
        };
        let sees: Vec<Visibility> = plan.layers.iter().map(|l| l.mixer.sees().clone()).collect();
        let ropes = sees.iter().map(|s| s.rope().map(RopeTable::new)).collect();
        Ok(Self {
            cfg: cfg.clone(),
            token_embd,
            position_embd,
            embd_norm,
            blocks,
            output_norm: Norm::load(w, &plan.final_norm)?,
            lm_head,
            ropes,
            sees,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Logits `[B, T, V]` for `ids` `[B, T]`, continuing from `cache` when given.
    pub fn forward(&self, ids: &Tensor, cache: Option<&mut KvCache>) -> Result<Tensor> {
        Ok(self.forward_full(ids, cache, false)?.logits)
    }

    /// Forward with optional per-layer hidden states.
    pub fn forward_full(
        &self,
        ids: &Tensor,
        cache: Option<&mut KvCache>,
        hidden: bool,
    ) -> Result<ForwardOutput> {
        self.run(ids, cache, hidden, None)
    }

    /// Training forward: no cache, dropout (when given) on the embeddings and on each
    /// sublayer's output before it joins the residual stream (GPT-2's embd/resid dropout).
    pub fn forward_train(&self, ids: &Tensor, dropout: Option<&Dropout>) -> Result<ForwardOutput> {
        self.run(ids, None, false, dropout)
    }

    /// The training forward up to the final norm. With [`Model::plain_head`] its `h` is
    /// what a fused head + loss kernel takes.
    pub fn forward_train_hidden(&self, ids: &Tensor, dropout: Option<&Dropout>) -> Result<Trunk> {
        self.trunk(ids, None, false, dropout)
    }

    /// The head's weight `[V, D]` when the logits are exactly `h Wᵀ`: dense, without a
    /// bias or a soft-cap.
    pub fn plain_head(&self) -> Option<&Tensor> {
        match self.cfg.final_logit_softcap {
            None => self.lm_head.plain_weight(),
            Some(_) => None,
        }
    }

    fn run(
        &self,
        ids: &Tensor,
        cache: Option<&mut KvCache>,
        hidden: bool,
        dropout: Option<&Dropout>,
    ) -> Result<ForwardOutput> {
        let t = self.trunk(ids, cache, hidden, dropout)?;
        let mut logits = self.lm_head.forward(&t.h)?;
        if let Some(cap) = self.cfg.final_logit_softcap {
            logits = ops::softcap(&logits, cap)?;
        }
        let mut hidden_states = t.hidden_states;
        if hidden {
            hidden_states.push(t.h);
        }
        Ok(ForwardOutput {
            logits,
            hidden_states,
            last_layer_output: t.last_layer_output,
            balance_loss: t.balance_loss,
            router_z_loss: t.router_z_loss,
        })
    }

    /// Every layer and the final norm.
    fn trunk(
        &self,
        ids: &Tensor,
        mut cache: Option<&mut KvCache>,
        hidden: bool,
        dropout: Option<&Dropout>,
    ) -> Result<Trunk> {
        let q0 = cache.as_ref().map_or(0, |c| c.pos);
        let (_, t) = ids.dims2()?;
        let ids = self.check_ids(ids, q0)?;
        let mut x = self.embed(&ids, q0)?;
        if let Some(d) = dropout {
            x = d.apply(&x)?;
        }
        let mut hs = Vec::new();
        let (mut aux, mut z): (Option<Tensor>, Option<Tensor>) = (None, None);
        for (i, block) in self.blocks.iter().enumerate() {
            if hidden {
                hs.push(x.clone());
            }
            let mut ctx = self.layer_ctx(i, q0, t, x.dtype())?;
            ctx.dropout = dropout;
            let layer_cache = cache.as_mut().map(|c| &mut c.layers[i]);
            let (y, a) = block.forward(&x, &ctx, layer_cache)?;
            x = y;
            if let Some(a) = a {
                aux = Some(add_opt(aux, a.balance)?);
                z = Some(add_opt(z, a.z)?);
            }
        }
        if let Some(c) = cache {
            c.pos += t;
        }
        let last = hidden.then(|| x.clone());
        Ok(Trunk {
            h: self.output_norm.forward(&x)?,
            hidden_states: hs,
            last_layer_output: last,
            balance_loss: aux,
            router_z_loss: z,
        })
    }

    /// Validates ids against the vocabulary and context; returns them as u32.
    fn check_ids(&self, ids: &Tensor, q0: usize) -> Result<Tensor> {
        let t = ids.dim(1)?;
        if q0 + t > self.cfg.context_len {
            return Err(Error::ContextOverflow {
                len: q0 + t,
                context_len: self.cfg.context_len,
            });
        }
        let flat = ids.flatten_all()?.to_dtype(DType::I64)?.to_vec1::<i64>()?;
        if let Some(&bad) = flat
            .iter()
            .find(|&&i| i < 0 || i as usize >= self.cfg.vocab_size)
        {
            return Err(Error::TokenOutOfVocab {
                id: bad,
                vocab_size: self.cfg.vocab_size,
            });
        }
        Ok(ids.to_dtype(DType::U32)?)
    }

    fn embed(&self, ids: &Tensor, q0: usize) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let d = self.cfg.d_model;
        let mut x = self
            .token_embd
            .lookup(&ids.flatten_all()?)?
            .reshape((b, t, d))?;
        if let Some(s) = self.cfg.embedding.scale {
            x = (x * s)?;
        }
        if let Some(p) = &self.position_embd {
            let p = p.narrow(0, q0, t)?;
            x = if fused::applies(&x) {
                fused::add_bias(&x, &p)?
            } else {
                x.broadcast_add(&p)?
            };
        }
        if let Some(n) = &self.embd_norm {
            x = n.forward(&x)?;
        }
        Ok(x)
    }

    fn layer_ctx(&self, i: usize, q0: usize, t: usize, dtype: DType) -> Result<LayerCtx<'_>> {
        let rope = match &self.ropes[i] {
            Some(r) => Some((r, r.cos_sin(q0..q0 + t, dtype)?)),
            None => None,
        };
        Ok(LayerCtx {
            rope,
            alibi: self.sees[i].alibi(),
            window: self.sees[i].window,
            q0,
            dropout: None,
        })
    }
}

fn add_opt(acc: Option<Tensor>, x: Tensor) -> Result<Tensor> {
    Ok(match acc {
        Some(s) => (s + x)?,
        None => x,
    })
}
