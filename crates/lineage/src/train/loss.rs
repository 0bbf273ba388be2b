//! The training objective: mean next-token cross-entropy, plus the MoE auxiliary losses
//! weighted by their coefficients.

use candle_core::{DType, Tensor};

use crate::model::{fused, ops, Dropout, Model};
use crate::Result;

/// Losses of one micro-batch; `total` is what is differentiated.
pub struct Losses {
    pub total: Tensor,
    /// Mean cross-entropy in nats per token.
    pub ce: f64,
    /// Sum over MoE layers of the balance loss (0 for dense models).
    pub balance: f64,
    /// Sum over MoE layers of the router z-loss (0 for dense models).
    pub z: f64,
}

/// `windows` `[B, T+1]` (u32): inputs are the first T tokens, targets the last T.
pub fn losses(
    model: &Model,
    windows: &Tensor,
    dropout: Option<&Dropout>,
    coefs: (f64, f64),
) -> Result<Losses> {
    let t = windows.dim(1)? - 1;
    let input = windows.narrow(1, 0, t)?.contiguous()?;
    let target = windows.narrow(1, 1, t)?;
    let (ce, balance_loss, router_z_loss) = match model.plain_head() {
        Some(w) if fused::applies(w) => {
            let out = model.forward_train_hidden(&input, dropout)?;
            let h = out.h.reshape(((), w.dim(1)?))?;
            let idx = target.to_dtype(DType::U32)?.flatten_all()?;
            let ce = super::head_ce_kernel::head_cross_entropy(&h, w, &idx)?;
            (ce, out.balance_loss, out.router_z_loss)
        }
        _ => {
            let out = model.forward_train(&input, dropout)?;
            let ce = cross_entropy(&out.logits, &target)?;
            (ce, out.balance_loss, out.router_z_loss)
        }
    };
    let mut total = ce.clone();
    let scalar = |x: &Tensor| -> Result<f64> { Ok(x.to_dtype(DType::F64)?.to_scalar::<f64>()?) };
    let (mut balance, mut z) = (0.0, 0.0);
    if let Some(b) = &balance_loss {
        balance = scalar(b)?;
        total = (total + (b * coefs.0)?)?;
    }
    if let Some(zl) = &router_z_loss {
        z = scalar(zl)?;
        total = (total + (zl * coefs.1)?)?;
    }
    Ok(Losses {
        ce: scalar(&ce)?,
        total,
        balance,
        z,
    })
}

/// Mean cross-entropy of `logits` `[B, T, V]` against `target` `[B, T]`, fused
/// (`ce_kernel`).
pub fn cross_entropy(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    let v = logits.dim(candle_core::D::Minus1)?;
    let idx = target.to_dtype(DType::U32)?.flatten_all()?;
    super::ce_kernel::cross_entropy(&logits.reshape(((), v))?, &idx)
}

/// [`cross_entropy`] in candle ops: log-softmax, gather, mean (the fused kernel's oracle).
pub fn cross_entropy_reference(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    let logp = ops::log_softmax_last(logits)?;
    let idx = target.to_dtype(DType::U32)?.contiguous()?.unsqueeze(2)?;
    Ok(logp.gather(&idx, 2)?.mean_all()?.neg()?)
}
