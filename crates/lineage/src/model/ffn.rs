//! The dense feed-forward sublayer: MLP, GLU variants (Shazeer 2020), and gpt-oss's
//! clamped SwiGLU. Experts reuse [`ffn_forward`] with per-expert weights.

use candle_core::Tensor;

use super::fused;
use super::linear::Linear;
use super::ops;
use crate::config::FfnKind;
use crate::plan::DensePlan;
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
    if let Some(h) = fused_in(kind, w, x)? {
        return w.down.forward(&h);
    }
    let up = w.up.forward(x)?;
    let fused = fused::applies(&up);
    let h = match kind {
        FfnKind::Mlp(act) if fused && fused::supports(act) => fused::activation(&up, act)?,
        FfnKind::Glu(act) if fused && fused::supports(act) => {
            fused::glu(&gate(w)?.forward(x)?, &up, act)?
        }
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

/// The FFN's hidden activations from one fused op (input projections and nonlinearity),
/// where the kernels apply: plain dense projections (no bias) and a fused activation.
fn fused_in(kind: FfnKind, w: &FfnWeights, x: &Tensor) -> Result<Option<Tensor>> {
    let Some(up) =
        w.up.plain_weight()
            .filter(|u| fused::applies(x) && u.dtype() == x.dtype())
    else {
        return Ok(None);
    };
    match kind {
        FfnKind::Mlp(act) if fused::supports(act) => Ok(Some(fused::mlp_in(x, up, act)?)),
        FfnKind::Glu(act) if fused::supports(act) => {
            match w.gate.as_ref().and_then(Linear::plain_weight) {
                Some(g) => Ok(Some(fused::glu_in(x, g, up, act)?)),
                None => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

fn gate(w: &FfnWeights) -> Result<&Linear> {
    w.gate.as_ref().ok_or_else(|| crate::Error::MissingTensor {
        name: "ffn_gate".into(),
    })
}

/// A dense FFN or the fused shared experts, as the plan names them.
pub fn load_dense(w: &Weights, f: &DensePlan) -> Result<FfnWeights> {
    Ok(FfnWeights {
        gate: f.gate.as_ref().map(|g| Linear::load(w, g)).transpose()?,
        up: Linear::load(w, &f.up)?,
        down: Linear::load(w, &f.down)?,
    })
}
