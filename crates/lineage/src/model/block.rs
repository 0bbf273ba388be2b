//! One decoder block: the attention and FFN sublayers with their norms, joined to the
//! residual stream sequentially or in parallel, per the config's placement.

use candle_core::Tensor;

use super::attention::Attention;
use super::ffn::{ffn_forward, load_dense, FfnWeights};
use super::mla::Mla;
use super::moe::{Moe, MoeLosses};
use super::norm::Norm;
use super::LayerCtx;
use crate::config::{AttentionKind, FfnKind, ModelConfig, NormPlacement, Residual};
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
    pub fn load(c: &ModelConfig, w: &Weights, i: usize) -> Result<Self> {
        let (n, d, p) = (c.block.norm, c.d_model, format!("blk.{i}"));
        let pl = c.block.placement;
        let pre = pl.has_pre() || pl == NormPlacement::Post;
        let two_norms = !matches!(c.block.residual, Residual::Parallel { shared_norm: true });
        let load = |name: &str, on: bool| -> Result<Option<Norm>> {
            if on {
                Norm::load(w, &format!("{p}.{name}"), n, d).map(Some)
            } else {
                Ok(None)
            }
        };
        let mixer = match &c.attention.kind {
            AttentionKind::Standard => Mixer::Attention(Attention::load(c, w, i)?),
            AttentionKind::Latent(m) => Mixer::Latent(Mla::load(c, w, i, m)?),
        };
        let ffn = match (&c.ffn.moe, c.layers[i].moe) {
            (Some(m), true) => FfnLayer::Moe(Moe::load(c, w, i, m)?),
            _ => FfnLayer::Dense(c.ffn.kind, load_dense(c, w, i, "", c.ffn.d_ff)?),
        };
        Ok(Self {
            placement: pl,
            residual: c.block.residual,
            attn_norm: load("attn_norm", pre)?,
            attn_post_norm: load("attn_post_norm", pl.has_post_sublayer())?,
            ffn_norm: load("ffn_norm", pre && two_norms)?,
            ffn_post_norm: load("ffn_post_norm", pl.has_post_sublayer())?,
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
