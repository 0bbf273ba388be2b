//! LayerNorm (Ba et al. 2016) and RMSNorm (Zhang & Sennrich 2019, Gemma's `1+w` form),
//! over the last dim.

use candle_core::{Tensor, D};

use crate::config::{NormConfig, NormKind};
use crate::plan::NormSlot;
use crate::weights::Weights;
use crate::Result;

#[derive(Debug, Clone)]
pub struct Norm {
    cfg: NormConfig,
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Norm {
    /// Loads the slot's `.weight` (and `.bias` for LayerNorm with bias).
    pub fn load(w: &Weights, s: &NormSlot) -> Result<Self> {
        let weight = w.tensor(&format!("{}.weight", s.name), &[s.dim])?;
        let bias = if s.has_bias() {
            Some(w.tensor(&format!("{}.bias", s.name), &[s.dim])?)
        } else {
            None
        };
        Ok(Self {
            cfg: s.cfg,
            weight,
            bias,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let eps = self.cfg.eps;
        let y = match self.cfg.kind {
            NormKind::LayerNorm { .. } => {
                let xc = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
                let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
                xc.broadcast_div(&(var + eps)?.sqrt()?)?
            }
            NormKind::RmsNorm { .. } => {
                let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
                x.broadcast_div(&(ms + eps)?.sqrt()?)?
            }
        };
        let gain = match self.cfg.kind {
            NormKind::RmsNorm { offset_one: true } => (&self.weight + 1.0)?,
            _ => self.weight.clone(),
        };
        let y = y.broadcast_mul(&gain)?;
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}
