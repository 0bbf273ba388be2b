//! The dense feed-forward sublayer: MLP, GLU variants (Shazeer 2020), and gpt-oss's
//! clamped SwiGLU. Experts reuse [`ffn_forward`] with per-expert weights.

use candle_core::Tensor;

use super::linear::Linear;
use super::ops;
use crate::config::{FfnKind, ModelConfig};
use crate::weights::Weights;
use crate::Result;

/// Projections of one FFN (gate absent for plain MLPs).
#[derive(Debug, Clone)]
pub struct FfnWeights {
    pub gate: Option<Linear>,
    pub up: Linear,
    pub down: Linear,
}

/// Applies an FFN of `kind`: `x` `[..., D]` -> `[..., D]`.
pub fn ffn_forward(kind: FfnKind, w: &FfnWeights, x: &Tensor) -> Result<Tensor> {
    let up = w.up.forward(x)?;
    let h = match kind {
        FfnKind::Mlp(act) => ops::activation(&up, act)?,
        FfnKind::Glu(act) => (ops::activation(&gate(w)?.forward(x)?, act)? * up)?,
        FfnKind::ClampedSwiGlu { alpha, limit } => {
            let g = gate(w)?.forward(x)?.clamp(f64::NEG_INFINITY, limit)?;
            let u = up.clamp(-limit, limit)?;
            let glu = (&g * ops::sigmoid(&(&g * alpha)?)?)?;
            ((u + 1.0)? * glu)?
        }
    };
    w.down.forward(&h)
}

fn gate(w: &FfnWeights) -> Result<&Linear> {
    w.gate.as_ref().ok_or_else(|| crate::Error::MissingTensor {
        name: "ffn_gate".into(),
    })
}

/// Whether `kind` has a gate projection.
pub fn is_gated(kind: FfnKind) -> bool {
    !matches!(kind, FfnKind::Mlp(_))
}

/// The dense FFN of layer `i` (`blk.{i}.ffn_{gate,up,down}`), or a shared expert
/// (`suffix` = "_shexp") of width `d_ff`.
pub fn load_dense(
    c: &ModelConfig,
    w: &Weights,
    i: usize,
    suffix: &str,
    d_ff: usize,
) -> Result<FfnWeights> {
    let (d, bias) = (c.d_model, c.ffn.bias);
    let p = format!("blk.{i}");
    let gate = if is_gated(c.ffn.kind) {
        Some(Linear::load(
            w,
            &format!("{p}.ffn_gate{suffix}"),
            d_ff,
            d,
            bias,
        )?)
    } else {
        None
    };
    Ok(FfnWeights {
        gate,
        up: Linear::load(w, &format!("{p}.ffn_up{suffix}"), d_ff, d, bias)?,
        down: Linear::load(w, &format!("{p}.ffn_down{suffix}"), d, d_ff, bias)?,
    })
}
