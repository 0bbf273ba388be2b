//! LayerNorm (Ba et al. 2016) and RMSNorm (Zhang & Sennrich 2019, Gemma's `1+w` form),
//! over the last dim.

use candle_core::{Tensor, D};

use crate::config::{NormConfig, NormKind};
use crate::weights::Weights;
use crate::Result;

#[derive(Debug, Clone)]
pub struct Norm {
    cfg: NormConfig,
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Norm {
    /// Loads `{name}.weight` (and `{name}.bias` for LayerNorm with bias) of width `dim`.
    pub fn load(w: &Weights, name: &str, cfg: NormConfig, dim: usize) -> Result<Self> {
        let weight = w.tensor(&format!("{name}.weight"), &[dim])?;
        let bias = match cfg.kind {
            NormKind::LayerNorm { bias: true } => Some(w.tensor(&format!("{name}.bias"), &[dim])?),
            _ => None,
        };
        Ok(Self { cfg, weight, bias })
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
