//! MoE routing on the engine's f32 router logits: the same selection and weights as
//! `crate::model::router` (which works on tensors for training), per token.

use crate::config::Router;
use crate::model::router::{grouped_top_k, top_k};

/// Experts and weights of one token: `k` of each, written into `experts` and `weights`.
pub fn route_row(
    router: &Router,
    logits: &[f32],
    correction: Option<&[f32]>,
    k: usize,
    experts: &mut Vec<usize>,
    weights: &mut Vec<f32>,
) {
    weights.clear();
    match router {
        Router::SoftmaxTopK { renormalize } => {
            let p = softmax(logits);
            *experts = top_k(&p, k);
            weights.extend(experts.iter().map(|&e| p[e]));
            if *renormalize {
                let s: f32 = weights.iter().sum();
                weights.iter_mut().for_each(|w| *w /= s);
            }
        }
        Router::TopKSoftmax => {
            *experts = top_k(logits, k);
            let chosen: Vec<f32> = experts.iter().map(|&e| logits[e]).collect();
            weights.extend(softmax(&chosen));
        }
        Router::SigmoidGrouped {
            normalize, scaling, ..
        }
        | Router::SoftmaxGrouped {
            normalize, scaling, ..
        } => {
            let scores = match router {
                Router::SoftmaxGrouped { .. } => softmax(logits),
                _ => logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect(),
            };
            let limit = router.group_limit().expect("a grouped router");
            *experts = grouped_top_k(&scores, correction, limit, k);
            weights.extend(experts.iter().map(|&e| scores[e]));
            if *normalize {
                let s = weights.iter().sum::<f32>() + 1e-20;
                weights.iter_mut().for_each(|w| *w /= s);
            }
            let sc = *scaling as f32;
            weights.iter_mut().for_each(|w| *w *= sc);
        }
    }
}

/// `exp(x - max) / sum`, as `model::ops::softmax_last`.
fn softmax(x: &[f32]) -> Vec<f32> {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = x.iter().map(|&v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GroupScore;

    /// HF DeepSeek-V2 `group_limited_greedy`: the group with the single best expert wins
    /// over the group with the best pair, and the weights are the scaled softmax scores.
    #[test]
    fn route_row_softmax_grouped_max_matches_hf_v2_rule() {
        let scores = [0.9f32, 0.01, 0.01, 0.5, 0.5, 0.4];
        let logits: Vec<f32> = scores.iter().map(|s| s.ln()).collect();
        let router = Router::SoftmaxGrouped {
            n_groups: 2,
            topk_groups: 1,
            normalize: false,
            scaling: 16.0,
            correction_bias: false,
            group_score: GroupScore::Max,
        };
        let (mut experts, mut weights) = (Vec::new(), Vec::new());
        route_row(&router, &logits, None, 2, &mut experts, &mut weights);
        assert_eq!(experts, [0, 1]);
        let total: f32 = scores.iter().sum();
        for (got, &e) in weights.iter().zip(&experts) {
            let want = scores[e] / total * 16.0;
            assert!((got - want).abs() < 1e-5, "expert {e}: {got} vs {want}");
        }
    }
}
