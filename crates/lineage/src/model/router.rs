//! MoE routers: which experts each token uses and with what weight. Selection is
//! discrete (computed on host values); the weights stay differentiable tensors.
//! Softmax-top-k (Mixtral/Qwen3-MoE), top-k-softmax (gpt-oss), sigmoid with correction
//! bias and group-limited selection (DeepSeek-V3, HF `DeepseekV3TopkRouter`), softmax
//! with group-limited selection (DeepSeek-V2, HF `DeepseekV2TopkRouter`).

use candle_core::{DType, Device, Tensor, D};

use super::ops;
use crate::config::{GroupLimit, GroupScore, Router};
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
            normalize, scaling, ..
        }
        | Router::SigmoidGrouped {
            normalize, scaling, ..
        } => {
            let softmax = matches!(router, Router::SoftmaxGrouped { .. });
            let scores = if softmax {
                ops::softmax_last(logits)?
            } else {
                ops::sigmoid(logits)?
            };
            let limit = router.group_limit().expect("a grouped router");
            let experts = rows(&scores)?
                .iter()
                .map(|r| grouped_top_k(r, correction, limit, k))
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

/// DeepSeek: rank the groups by `limit.score` of their biased scores, keep the best
/// `limit.keep` groups, then take the top-k biased scores among their experts (the
/// others are set to 0, as HF does).
pub(crate) fn grouped_top_k(
    scores: &[f32],
    bias: Option<&[f32]>,
    limit: GroupLimit,
    k: usize,
) -> Vec<usize> {
    let biased: Vec<f32> = match bias {
        Some(b) => scores.iter().zip(b).map(|(s, b)| s + b).collect(),
        None => scores.to_vec(),
    };
    let per = biased.len() / limit.n_groups;
    let group_score: Vec<f32> = biased
        .chunks(per)
        .map(|g| group_score(limit.score, g))
        .collect();
    let kept = top_k(&group_score, limit.keep);
    let masked: Vec<f32> = biased
        .iter()
        .enumerate()
        .map(|(e, &s)| if kept.contains(&(e / per)) { s } else { 0.0 })
        .collect();
    top_k(&masked, k)
}

/// One group's rank: V3 sums its best two (so one lucky expert cannot carry a group),
/// V2 takes its best one.
fn group_score(score: GroupScore, g: &[f32]) -> f32 {
    match score {
        GroupScore::Top2Sum => top_k(g, 2.min(g.len())).iter().map(|&i| g[i]).sum(),
        GroupScore::Max => g.iter().copied().fold(f32::NEG_INFINITY, f32::max),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Group 0 has the single best expert, group 1 the best pair: the two rules disagree.
    const SCORES: [f32; 6] = [0.9, 0.01, 0.01, 0.5, 0.5, 0.4];

    fn limit(score: GroupScore) -> GroupLimit {
        GroupLimit {
            n_groups: 2,
            keep: 1,
            score,
        }
    }

    #[test]
    fn grouped_top_k_max_keeps_the_group_of_the_best_expert() {
        // HF DeepseekV2TopkRouter: group 0 (max 0.9 > 0.5); the masked tie goes low.
        assert_eq!(
            grouped_top_k(&SCORES, None, limit(GroupScore::Max), 2),
            [0, 1]
        );
    }

    #[test]
    fn grouped_top_k_top2_sum_keeps_the_group_of_the_best_pair() {
        // HF DeepseekV3TopkRouter: group 1 (0.5 + 0.5 > 0.9 + 0.01).
        assert_eq!(
            grouped_top_k(&SCORES, None, limit(GroupScore::Top2Sum), 2),
            [3, 4]
        );
    }

    #[test]
    fn route_softmax_grouped_max_unnormalised_weights_are_scaled_scores() {
        let logits: Vec<f32> = SCORES.iter().map(|s| s.ln()).collect();
        let t = Tensor::from_vec(logits, (1, 6), &Device::Cpu).unwrap();
        let router = Router::SoftmaxGrouped {
            n_groups: 2,
            topk_groups: 1,
            normalize: false,
            scaling: 16.0,
            correction_bias: false,
            group_score: GroupScore::Max,
        };
        let r = route(&router, &t, 2, None).unwrap();
        assert_eq!(r.experts, [[0, 1]]);
        let total: f32 = SCORES.iter().sum();
        let w = r.weights.to_vec2::<f32>().unwrap();
        for (got, e) in w[0].iter().zip([0, 1]) {
            let want = SCORES[e] / total * 16.0;
            assert!((got - want).abs() < 1e-5, "expert {e}: {got} vs {want}");
        }
    }
}
