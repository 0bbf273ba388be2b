//! One decoder block: the attention and FFN sublayers with their norms, joined to the
//! residual stream sequentially or in parallel, per the config's placement.

use candle_core::Tensor;

use super::attention::Attention;
use super::ffn::{ffn_forward, load_dense, FfnWeights};
use super::mla::Mla;
use super::moe::{Moe, MoeLosses};
use super::norm::Norm;
use super::LayerCtx;
use crate::config::{FfnKind, NormPlacement, Residual};
use crate::plan::{self, LayerPlan, NormSlot};
use crate::runtime::kv_cache::LayerCache;
use crate::weights::Weights;
use crate::Result;

#[derive(Debug, Clone)]
pub enum Mixer {
    Attention(Attention),
    Latent(Mla),
}

#[derive(Debug, Clone)]
pub enum FfnLayer {
    Dense(FfnKind, FfnWeights),
    Moe(Moe),
}

#[derive(Debug, Clone)]
pub struct Block {
    placement: NormPlacement,
    residual: Residual,
    attn_norm: Option<Norm>,
    attn_post_norm: Option<Norm>,
    ffn_norm: Option<Norm>,
    ffn_post_norm: Option<Norm>,
    pub mixer: Mixer,
    pub ffn: FfnLayer,
}

impl Block {
    pub fn load(l: &LayerPlan, w: &Weights) -> Result<Self> {
        let norm = |s: &Option<NormSlot>| s.as_ref().map(|s| Norm::load(w, s)).transpose();
        let mixer = match &l.mixer {
            plan::Mixer::Attention(a) => Mixer::Attention(Attention::load(a, w)?),
            plan::Mixer::Latent(m) => Mixer::Latent(Mla::load(m, w)?),
        };
        let ffn = match &l.ffn {
            plan::Ffn::Dense(f) => FfnLayer::Dense(f.kind, load_dense(w, f)?),
            plan::Ffn::Moe(m) => FfnLayer::Moe(Moe::load(m, w)?),
        };
        Ok(Self {
            placement: l.placement,
            residual: l.residual,
            attn_norm: norm(&l.norms.attn)?,
            attn_post_norm: norm(&l.norms.attn_post)?,
            ffn_norm: norm(&l.norms.ffn)?,
            ffn_post_norm: norm(&l.norms.ffn_post)?,
            mixer,
            ffn,
        })
    }

    /// `x` `[B, T, D]` -> (`[B, T, D]`, MoE auxiliary losses if any).
    pub fn forward(
        &self,
        x: &Tensor,
        ctx: &LayerCtx,
        cache: Option<&mut LayerCache>,
    ) -> Result<(Tensor, Option<MoeLosses>)> {
        match self.residual {
            Residual::Sequential => {
                let a = self.sublayer_in(x, &self.attn_norm)?;
                let a = dropout_out(ctx, self.mix(&a, ctx, cache)?)?;
                let x = self.join(x, a, &self.attn_post_norm, &self.attn_norm)?;
                let f = self.sublayer_in(&x, &self.ffn_norm)?;
                let (f, aux) = self.feed(&f)?;
                let f = dropout_out(ctx, f)?;
                Ok((self.join(&x, f, &self.ffn_post_norm, &self.ffn_norm)?, aux))
            }
            Residual::Parallel { .. } => {
                let a_in = self.sublayer_in(x, &self.attn_norm)?;
                let f_in = match &self.ffn_norm {
                    Some(n) => n.forward(x)?,
                    None => a_in.clone(),
                };
                let a = dropout_out(ctx, self.mix(&a_in, ctx, cache)?)?;
                let (f, aux) = self.feed(&f_in)?;
                let f = dropout_out(ctx, f)?;
                Ok(((x + a)?.add(&f)?, aux))
            }
        }
    }

    /// Input of a sublayer: normalised under pre-norm placements.
    fn sublayer_in(&self, x: &Tensor, norm: &Option<Norm>) -> Result<Tensor> {
        match (self.placement.has_pre(), norm) {
            (true, Some(n)) => n.forward(x),
            _ => Ok(x.clone()),
        }
    }

    /// Residual join: `x + post(f)` (sandwich / post-sublayer), `norm(x + f)` (post),
    /// `x + f` (pre).
    fn join(
        &self,
        x: &Tensor,
        f: Tensor,
        post: &Option<Norm>,
        pre: &Option<Norm>,
    ) -> Result<Tensor> {
        match self.placement {
            NormPlacement::Post => pre.as_ref().expect("loaded").forward(&(x + f)?),
            _ => {
                let f = match post {
                    Some(n) => n.forward(&f)?,
                    None => f,
                };
                Ok((x + f)?)
            }
        }
    }

    fn mix(&self, x: &Tensor, ctx: &LayerCtx, cache: Option<&mut LayerCache>) -> Result<Tensor> {
        match &self.mixer {
            Mixer::Attention(a) => a.forward(x, ctx, cache),
            Mixer::Latent(m) => m.forward(x, ctx, cache),
        }
    }

    fn feed(&self, x: &Tensor) -> Result<(Tensor, Option<MoeLosses>)> {
        match &self.ffn {
            FfnLayer::Dense(kind, w) => Ok((ffn_forward(*kind, w, x)?, None)),
            FfnLayer::Moe(m) => m.forward(x).map(|(y, aux)| (y, Some(aux))),
        }
    }
}

/// Training dropout on a sublayer output (identity at inference).
fn dropout_out(ctx: &LayerCtx, x: Tensor) -> Result<Tensor> {
    match ctx.dropout {
        Some(d) => d.apply(&x),
        None => Ok(x),
    }
}
