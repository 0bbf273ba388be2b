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
            n_groups,
            topk_groups,
            normalize,
            scaling,
        }
        | Router::SoftmaxGrouped {
            n_groups,
            topk_groups,
            normalize,
            scaling,
            ..
        } => {
            let scores = match router {
                Router::SoftmaxGrouped { .. } => softmax(logits),
                _ => logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect(),
            };
            *experts = grouped_top_k(&scores, correction, *n_groups, *topk_groups, k);
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
