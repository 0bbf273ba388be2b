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
        if !super::fused::applies(x) {
            return self.forward_reference(x);
        }
        let g = self.gain()?;
        let y = match self.cfg.kind {
            NormKind::LayerNorm { .. } => super::fused::layer_norm(x, &g, self.cfg.eps)?,
            NormKind::RmsNorm { .. } => super::fused::rms_norm(x, &g, self.cfg.eps)?,
        };
        self.add_bias(y)
    }

    /// [`Norm::forward`] in primitive candle ops (the fused kernels' oracle).
    pub fn forward_reference(&self, x: &Tensor) -> Result<Tensor> {
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
        let y = y.broadcast_mul(&self.gain()?)?;
        self.add_bias(y)
    }

    fn gain(&self) -> Result<Tensor> {
        Ok(match self.cfg.kind {
            NormKind::RmsNorm { offset_one: true } => (&self.weight + 1.0)?,
            _ => self.weight.clone(),
        })
    }

    fn add_bias(&self, y: Tensor) -> Result<Tensor> {
        Ok(match &self.bias {
            Some(b) if super::fused::applies(&y) => super::fused::add_bias(&y, b)?,
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}
