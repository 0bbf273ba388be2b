//! Greedy generation with the KV cache: one prefill forward, then one token at a time.

use candle_core::{DType, Device, Tensor};

use super::kv_cache::KvCache;
use crate::model::{ops, Model};
use crate::Result;

/// Appends `n` greedy tokens to every row of `ids` `[B, T]`; returns `[B, T + n]` ids.
pub fn greedy(model: &Model, ids: &Tensor, n: usize) -> Result<Vec<Vec<u32>>> {
    let (b, t) = ids.dims2()?;
    let ctx = model.config().context_len;
    if t + n > ctx {
        return Err(crate::Error::ContextOverflow {
            len: t + n,
            context_len: ctx,
        });
    }
    let mut out: Vec<Vec<u32>> = ids.to_dtype(DType::U32)?.to_vec2::<u32>()?;
    let mut cache = KvCache::new(model.config());
    let mut logits = model.forward(ids, Some(&mut cache))?;
    for step in 0..n {
        let last = logits
            .narrow(1, logits.dim(1)? - 1, 1)?
            .squeeze(1)?
            .to_dtype(DType::F32)?;
        let rows = last.to_vec2::<f32>()?;
        let next: Vec<u32> = rows.iter().map(|r| ops::argmax(r) as u32).collect();
        for (row, &t) in out.iter_mut().zip(&next) {
            row.push(t);
        }
        if step + 1 == n {
            break;
        }
        let input = Tensor::from_vec(next, (b, 1), &Device::Cpu)?;
        logits = model.forward(&input, Some(&mut cache))?;
    }
    Ok(out)
}
