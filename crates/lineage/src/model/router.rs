//! MoE routers: which experts each token uses and with what weight. Selection is
//! discrete (computed on host values); the weights stay differentiable tensors.
//! Softmax-top-k (Mixtral/Qwen3-MoE), top-k-softmax (gpt-oss), sigmoid with correction
//! bias and group-limited selection (DeepSeek-V3, HF `DeepseekV3TopkRouter`).

use candle_core::{DType, Device, Tensor, D};

use super::ops;
use crate::config::Router;
use crate::Result;

/// Chosen experts `[N][k]` and their weights `[N, k]`.
pub struct Routing {
    pub experts: Vec<Vec<usize>>,
    pub weights: Tensor,
    /// Router probabilities `[N, E]` (for the load-balancing loss).
    pub probs: Tensor,
}

/// Indices of the k largest values; ties go to the lowest index.
pub fn top_k(v: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| {
        v[b].partial_cmp(&v[a])
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    });
    idx.truncate(k);
    idx
}

/// `logits` `[N, E]` -> routing.
pub fn route(
    router: &Router,
    logits: &Tensor,
    k: usize,
    correction: Option<&[f32]>,
) -> Result<Routing> {
    match router {
        Router::SoftmaxTopK { renormalize } => {
            let probs = ops::softmax_last(logits)?;
            let experts = rows(&probs)?
                .iter()
                .map(|r| top_k(r, k))
                .collect::<Vec<_>>();
            let mut w = gather(&probs, &experts)?;
            if *renormalize {
                w = w.broadcast_div(&w.sum_keepdim(D::Minus1)?)?;
            }
            Ok(Routing {
                experts,
                weights: w,
                probs,
            })
        }
        Router::TopKSoftmax => {
            let experts = rows(logits)?
                .iter()
                .map(|r| top_k(r, k))
                .collect::<Vec<_>>();
            let w = ops::softmax_last(&gather(logits, &experts)?)?;
            Ok(Routing {
                experts,
                weights: w,
                probs: ops::softmax_last(logits)?,
            })
        }
        Router::SoftmaxGrouped {
            n_groups,
            topk_groups,
            normalize,
            scaling,
            ..
        }
        | Router::SigmoidGrouped {
            n_groups,
            topk_groups,
            normalize,
            scaling,
        } => {
            let softmax = matches!(router, Router::SoftmaxGrouped { .. });
            let scores = if softmax {
                ops::softmax_last(logits)?
            } else {
                ops::sigmoid(logits)?
            };
            let experts = rows(&scores)?
                .iter()
                .map(|r| grouped_top_k(r, correction, *n_groups, *topk_groups, k))
                .collect::<Vec<_>>();
            let mut w = gather(&scores, &experts)?;
            if *normalize {
                w = w.broadcast_div(&(w.sum_keepdim(D::Minus1)? + 1e-20)?)?;
            }
            // The balancing loss wants a distribution: sigmoid scores are normalised.
            let probs = if softmax {
                scores
            } else {
                scores.broadcast_div(&scores.sum_keepdim(D::Minus1)?)?
            };
            Ok(Routing {
                experts,
                weights: (w * *scaling)?,
                probs,
            })
        }
    }
}

/// DeepSeek-V3: score each group by the sum of its top-2 biased scores, keep the best
/// `topk_groups` groups, then take the top-k biased scores among their experts (the
/// others are set to 0, as HF does).
pub(crate) fn grouped_top_k(
    scores: &[f32],
    bias: Option<&[f32]>,
    groups: usize,
    keep: usize,
    k: usize,
) -> Vec<usize> {
    let biased: Vec<f32> = match bias {
        Some(b) => scores.iter().zip(b).map(|(s, b)| s + b).collect(),
        None => scores.to_vec(),
    };
    let per = biased.len() / groups;
    let group_score: Vec<f32> = biased
        .chunks(per)
        .map(|g| top_k(g, 2.min(per)).iter().map(|&i| g[i]).sum())
        .collect();
    let kept = top_k(&group_score, keep);
    let masked: Vec<f32> = biased
        .iter()
        .enumerate()
        .map(|(e, &s)| if kept.contains(&(e / per)) { s } else { 0.0 })
        .collect();
    top_k(&masked, k)
}

fn rows(t: &Tensor) -> Result<Vec<Vec<f32>>> {
    Ok(t.to_dtype(DType::F32)?.to_vec2::<f32>()?)
}

/// `t[n, experts[n][j]]` as a differentiable `[N, k]` tensor.
fn gather(t: &Tensor, experts: &[Vec<usize>]) -> Result<Tensor> {
    let k = experts.first().map_or(0, Vec::len);
    let idx: Vec<u32> = experts.iter().flatten().map(|&e| e as u32).collect();
    let idx = Tensor::from_vec(idx, (experts.len(), k), &Device::Cpu)?;
    Ok(t.gather(&idx, D::Minus1)?)
}
