//! Layouts of fused q/k/v projections, undone once at load.

use candle_core::Tensor;

use super::tensor_map::TensorMap;
use crate::Result;

/// How the rows of a fused `query_key_value` weight are ordered.
#[derive(Debug, Clone, Copy)]
pub enum QkvLayout {
    /// `[q; k; v]` blocks (Phi-3, GPT-2 after transpose, Falcon multi-query).
    Blocks,
    /// Per head `[q_h, k_h, v_h]` (GPT-NeoX, BLOOM): view `[heads, 3, hd]`.
    PerHead,
    /// Per KV group `[q heads of g, k_g, v_g]` (Falcon `new_decoder_architecture`).
    Grouped,
}

/// Splits a fused weight `[rows, in]` or bias `[rows]` into q, k, v.
pub fn split_qkv(
    t: &Tensor,
    layout: QkvLayout,
    n_heads: usize,
    n_kv: usize,
    hd: usize,
) -> Result<[Tensor; 3]> {
    let tail: Vec<usize> = t.dims()[1..].to_vec();
    let (q, k, v) = match layout {
        QkvLayout::Blocks => {
            let p = TensorMap::split_rows(t, &[n_heads * hd, n_kv * hd, n_kv * hd])?;
            (p[0].clone(), p[1].clone(), p[2].clone())
        }
        QkvLayout::PerHead => group_split(t, n_heads, 1, hd, &tail)?,
        QkvLayout::Grouped => group_split(t, n_kv, n_heads / n_kv, hd, &tail)?,
    };
    Ok([q, k, v])
}

/// Rows viewed as `[groups, q_per + 2, hd, ...]`: the first `q_per` slots are queries.
fn group_split(
    t: &Tensor,
    groups: usize,
    q_per: usize,
    hd: usize,
    tail: &[usize],
) -> Result<(Tensor, Tensor, Tensor)> {
    let mut shape = vec![groups, q_per + 2, hd];
    shape.extend_from_slice(tail);
    let v = t.reshape(shape)?;
    let flat = |x: Tensor, rows: usize| -> Result<Tensor> {
        let mut s = vec![rows];
        s.extend_from_slice(tail);
        Ok(x.contiguous()?.reshape(s)?)
    };
    let q = flat(v.narrow(1, 0, q_per)?, groups * q_per * hd)?;
    let k = flat(v.narrow(1, q_per, 1)?, groups * hd)?;
    let vv = flat(v.narrow(1, q_per + 1, 1)?, groups * hd)?;
    Ok((q, k, vv))
}

/// Takes `{hf}.weight` (and `{hf}.bias` when present) and stores `blk.{i}.attn_{q,k,v}`.
pub fn take_fused_qkv(
    m: &mut TensorMap,
    hf: &str,
    i: usize,
    layout: QkvLayout,
    dims: (usize, usize, usize),
) -> Result<()> {
    let (h, kv, hd) = dims;
    for suffix in ["weight", "bias"] {
        let name = format!("{hf}.{suffix}");
        if !m.has(&name) {
            continue;
        }
        let t = m.take(&name)?;
        let parts = split_qkv(&t, layout, h, kv, hd)?;
        for (p, n) in parts.into_iter().zip(["attn_q", "attn_k", "attn_v"]) {
            m.put(format!("blk.{i}.{n}.{suffix}"), p);
        }
    }
    Ok(())
}
