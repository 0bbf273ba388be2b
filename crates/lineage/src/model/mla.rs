//! Multi-head latent attention (DeepSeek-V2, arXiv:2405.04434; HF
//! `modeling_deepseek_v3.py`). Queries go through a LoRA bottleneck; keys and values are
//! expanded from a cached latent `c_kv` (kv_lora_rank wide) plus one RoPE key shared by
//! all heads. The cache holds only those two, not per-head K and V.

use candle_core::{Tensor, D};

use super::attend::{attend, AttendParams};
use super::fused;
use super::linear::Linear;
use super::norm::Norm;
use super::LayerCtx;
use crate::config::MlaConfig;
use crate::plan::{LatentPlan, LatentQuery};
use crate::runtime::kv_cache::LayerCache;
use crate::weights::Weights;
use crate::Result;

#[derive(Debug, Clone)]
enum QueryPath {
    Direct(Linear),
    LoRa {
        down: Linear,
        norm: Norm,
        up: Linear,
    },
}

#[derive(Debug, Clone)]
pub struct Mla {
    m: MlaConfig,
    n_heads: usize,
    scale: f64,
    q: QueryPath,
    kv_a: Linear,
    kv_norm: Norm,
    kv_b: Linear,
    o: Linear,
}

impl Mla {
    pub fn load(l: &LatentPlan, w: &Weights) -> Result<Self> {
        let q = match &l.query {
            LatentQuery::Direct(q) => QueryPath::Direct(Linear::load(w, q)?),
            LatentQuery::LoRa { down, norm, up } => QueryPath::LoRa {
                down: Linear::load(w, down)?,
                norm: Norm::load(w, norm)?,
                up: Linear::load(w, up)?,
            },
        };
        Ok(Self {
            m: l.m.clone(),
            n_heads: l.n_heads,
            scale: l.scale,
            q,
            kv_a: Linear::load(w, &l.kv_a)?,
            kv_norm: Norm::load(w, &l.kv_norm)?,
            kv_b: Linear::load(w, &l.kv_b)?,
            o: Linear::load(w, &l.o)?,
        })
    }

    pub fn forward(
        &self,
        x: &Tensor,
        ctx: &LayerCtx,
        cache: Option<&mut LayerCache>,
    ) -> Result<Tensor> {
        let (m, h) = (&self.m, self.n_heads);
        let (b, t, _) = x.dims3()?;
        let (nope, rope_d) = (m.qk_nope_head_dim, m.qk_rope_head_dim);
        let q = match &self.q {
            QueryPath::Direct(l) => l.forward(x)?,
            QueryPath::LoRa { down, norm, up } => up.forward(&norm.forward(&down.forward(x)?)?)?,
        };
        let q = q.reshape((b, t, h, nope + rope_d))?.transpose(1, 2)?; // [B, H, T, qk]
        let (q_nope, mut q_pe) = (
            q.narrow(D::Minus1, 0, nope)?,
            q.narrow(D::Minus1, nope, rope_d)?,
        );
        let kv = self.kv_a.forward(x)?; // [B, T, r + rope]
        let c_kv = self
            .kv_norm
            .forward(&kv.narrow(D::Minus1, 0, m.kv_lora_rank)?)?
            .unsqueeze(1)?; // [B, 1, T, r]
        let mut k_pe = kv.narrow(D::Minus1, m.kv_lora_rank, rope_d)?.unsqueeze(1)?; // [B, 1, T, rope]
        if let Some((rope, cs)) = &ctx.rope {
            q_pe = rope.apply(&q_pe, cs)?;
            k_pe = rope.apply(&k_pe, cs)?;
        }
        let (c_kv, k_pe, k0) = match cache {
            Some(c) => c.append(&c_kv, &k_pe)?,
            None => (c_kv, k_pe, ctx.q0),
        };
        let s = c_kv.dim(2)?;
        let kv = self.kv_b.forward(&c_kv.squeeze(1)?)?; // [B, S, H*(nope+v)]
        let kv = kv
            .reshape((b, s, h, nope + m.v_head_dim))?
            .transpose(1, 2)?; // [B, H, S, nope+v]
        let k_nope = kv.narrow(D::Minus1, 0, nope)?;
        let v = kv.narrow(D::Minus1, nope, m.v_head_dim)?.contiguous()?;
        let k = Tensor::cat(&[k_nope, k_pe.broadcast_as((b, h, s, rope_d))?], D::Minus1)?;
        let q = Tensor::cat(&[q_nope, q_pe], D::Minus1)?;
        let params = AttendParams {
            scale: self.scale,
            softcap: None,
            window: ctx.window,
            alibi: None,
            sinks: None,
            q0: ctx.q0,
            k0,
        };
        // [B, H, T, dv] -> [B, T, H, dv]
        let y = if k0 == ctx.q0 && fused::applies(&q) {
            let bthd = |x: &Tensor| x.transpose(1, 2);
            let causal = fused::Causal {
                scale: self.scale,
                window: ctx.window,
                q0: ctx.q0,
                k0,
            };
            fused::causal_attention(&bthd(&q)?, &bthd(&k)?, &bthd(&v)?, causal)?
        } else {
            attend(&q, &k, &v, &params)?.transpose(1, 2)?
        };
        self.o
            .forward(&y.contiguous()?.reshape((b, t, h * m.v_head_dim))?)
    }
}
