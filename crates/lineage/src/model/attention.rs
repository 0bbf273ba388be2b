//! Multi-head attention with MHA/GQA/MQA, optional biases, QK-norm (per head or full
//! width), RoPE or ALiBi, sliding window, soft-cap and sinks (Vaswani et al. 2017;
//! Ainslie et al. 2023 for GQA; HF `modeling_llama.py`, `modeling_gpt_oss.py`).

use candle_core::Tensor;

use super::attend::{attend, AttendParams};
use super::fused;
use super::linear::Linear;
use super::norm::Norm;
use super::LayerCtx;
use crate::config::QkNormScope;
use crate::plan::AttentionPlan;
use crate::runtime::kv_cache::LayerCache;
use crate::weights::Weights;
use crate::Result;

#[derive(Debug, Clone)]
pub struct Attention {
    plan: AttentionPlan,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: Option<Norm>,
    k_norm: Option<Norm>,
    sinks: Option<Tensor>,
}

impl Attention {
    pub fn load(a: &AttentionPlan, w: &Weights) -> Result<Self> {
        let (q_norm, k_norm) = match &a.qk_norm {
            None => (None, None),
            Some(qk) => (Some(Norm::load(w, &qk.q)?), Some(Norm::load(w, &qk.k)?)),
        };
        let sinks = a
            .sinks
            .as_ref()
            .map(|s| w.tensor(s, &[a.n_heads]))
            .transpose()?;
        Ok(Self {
            plan: a.clone(),
            q: Linear::load(w, &a.q)?,
            k: Linear::load(w, &a.k)?,
            v: Linear::load(w, &a.v)?,
            o: Linear::load(w, &a.o)?,
            q_norm,
            k_norm,
            sinks,
        })
    }

    /// `x` `[B, T, D]` -> `[B, T, D]`.
    pub fn forward(
        &self,
        x: &Tensor,
        ctx: &LayerCtx,
        cache: Option<&mut LayerCache>,
    ) -> Result<Tensor> {
        let a = &self.plan;
        let (b, t, _) = x.dims3()?;
        let (mut q, mut k) = (self.q.forward(x)?, self.k.forward(x)?);
        let v = self.v.forward(x)?;
        let full_width = a.qk_norm.as_ref().map(|n| n.scope) == Some(QkNormScope::FullWidth);
        if full_width {
            q = self.q_norm.as_ref().expect("loaded").forward(&q)?;
            k = self.k_norm.as_ref().expect("loaded").forward(&k)?;
        }
        // [B, T, heads, hd]
        let split = |x: Tensor, n: usize| x.reshape((b, t, n, a.head_dim));
        let (mut q, mut k, v) = (
            split(q, a.n_heads)?,
            split(k, a.n_kv_heads)?,
            split(v, a.n_kv_heads)?,
        );
        if !full_width {
            if let (Some(qn), Some(kn)) = (&self.q_norm, &self.k_norm) {
                q = qn.forward(&q)?;
                k = kn.forward(&k)?;
            }
        }
        if cache.is_none() && self.fusable(ctx, &q) {
            return self.forward_fused(q, k, v, ctx);
        }
        // [B, T, heads, hd] -> [B, heads, T, hd]
        let (mut q, mut k, v) = (q.transpose(1, 2)?, k.transpose(1, 2)?, v.transpose(1, 2)?);
        if let Some((rope, cs)) = &ctx.rope {
            q = rope.apply(&q, cs)?;
            k = rope.apply(&k, cs)?;
        }
        let (k, v, k0) = match cache {
            Some(c) => c.append(&k, &v)?,
            None => (k, v, ctx.q0),
        };
        let params = AttendParams {
            scale: a.scale,
            softcap: a.softcap,
            window: ctx.window,
            alibi: ctx.alibi,
            sinks: self.sinks.as_ref(),
            q0: ctx.q0,
            k0,
        };
        let y = attend(&q, &k, &v, &params)?; // [B, H, T, hd]
        let y = y
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, t, a.n_heads * a.head_dim))?;
        self.o.forward(&y)
    }

    /// Whether the fused causal kernel computes this layer's scores: no soft-cap, ALiBi
    /// or sinks (those take the reference ops), f32/f64 on the CPU, and a rotation the
    /// RoPE kernel takes.
    fn fusable(&self, ctx: &LayerCtx, q: &Tensor) -> bool {
        let a = &self.plan;
        let rope_fits = ctx
            .rope
            .as_ref()
            .is_none_or(|(r, _)| r.rotary_dim() <= fused::MAX_ROTARY);
        fused::applies(q)
            && a.softcap.is_none()
            && ctx.alibi.is_none()
            && self.sinks.is_none()
            && rope_fits
    }

    /// `q`, `k`, `v` `[B, T, heads, hd]` through fused RoPE and attention, no cache.
    fn forward_fused(&self, q: Tensor, k: Tensor, v: Tensor, ctx: &LayerCtx) -> Result<Tensor> {
        let (b, t, _, _) = q.dims4()?;
        let (q, k) = match &ctx.rope {
            Some((rope, cs)) => (rope.apply_bthd(&q, cs)?, rope.apply_bthd(&k, cs)?),
            None => (q, k),
        };
        let causal = fused::Causal {
            scale: self.plan.scale,
            window: ctx.window,
            q0: ctx.q0,
            k0: ctx.q0,
        };
        let y = fused::causal_attention(&q, &k, &v, causal)?;
        self.o.forward(&y.reshape((b, t, ()))?)
    }
}
