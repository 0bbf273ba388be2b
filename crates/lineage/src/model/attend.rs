//! The attention core shared by standard attention and MLA: scaled scores, soft-cap,
//! ALiBi, causal/window mask, sinks, softmax, weighted values. Eager, like HF's
//! `eager_attention_forward`, so every step is differentiable.

use candle_core::{Tensor, D};

use super::{alibi, mask, ops};
use crate::Result;

/// Everything besides q, k, v that shapes the scores.
pub struct AttendParams<'a> {
    pub scale: f64,
    pub softcap: Option<f64>,
    pub window: Option<usize>,
    /// ALiBi slopes per query head.
    pub alibi: Option<&'a [f64]>,
    /// Sink logit per query head `[H]`.
    pub sinks: Option<&'a Tensor>,
    /// Absolute position of the first query and of the first key.
    pub q0: usize,
    pub k0: usize,
}

/// `q` `[B, H, T, dk]`, `k` `[B, Hkv, S, dk]`, `v` `[B, Hkv, S, dv]` -> `[B, H, T, dv]`.
pub fn attend(q: &Tensor, k: &Tensor, v: &Tensor, p: &AttendParams) -> Result<Tensor> {
    let (b, h, t, _) = q.dims4()?;
    let s = k.dim(2)?;
    let k = repeat_kv(k, h)?;
    let v = repeat_kv(v, h)?;
    let mut scores = (q.contiguous()?.matmul(&k.t()?.contiguous()?)? * p.scale)?;
    if let Some(cap) = p.softcap {
        scores = ops::softcap(&scores, cap)?;
    }
    if let Some(slopes) = p.alibi {
        scores = scores.broadcast_add(&alibi::bias(slopes, p.k0, s, q.dtype())?)?;
    }
    if let Some(m) = mask::additive(p.q0, t, p.k0, s, p.window, q.dtype())? {
        scores = scores.broadcast_add(&m)?;
    }
    let probs = match p.sinks {
        Some(sinks) => {
            let col = sinks.reshape((1, h, 1, 1))?.broadcast_as((b, h, t, 1))?;
            let all = ops::softmax_last(&Tensor::cat(&[&scores, &col], D::Minus1)?)?;
            all.narrow(D::Minus1, 0, s)?
        }
        None => ops::softmax_last(&scores)?,
    };
    Ok(probs.matmul(&v)?)
}

/// `[B, Hkv, S, d]` -> `[B, H, S, d]`: query head h reads KV head h / (H / Hkv).
fn repeat_kv(x: &Tensor, h: usize) -> Result<Tensor> {
    let (b, hkv, s, d) = x.dims4()?;
    if hkv == h {
        return Ok(x.contiguous()?);
    }
    let rep = h / hkv;
    Ok(x.unsqueeze(2)?
        .broadcast_as((b, hkv, rep, s, d))?
        .contiguous()?
        .reshape((b, h, s, d))?)
}
