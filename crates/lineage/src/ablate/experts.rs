//! Expert load of trained MoE models: the validation windows go through the model and
//! each MoE layer's router counters (`model::moe::ExpertStats::routed`, one count per
//! routed slot, k per token) give the fraction of slots per expert. Perfect balance is
//! `1 / n_experts` everywhere (std 0); the Switch Transformer's balance loss (Fedus et
//! al. 2021) is what pushes towards it.

use std::path::Path;

use super::results::ExpertLoad;
use super::trained::{mean, some_val_windows, window_losses, TrainedRun};
use crate::model::{FfnLayer, Model};
use crate::Result;

/// Expert load of every run in `runs` (one [`ExpertLoad`] per run, dense runs skipped)
/// on up to `max_windows` validation windows of `seq_len + 1` tokens of `data_dir`.
/// `load_std` is the population standard deviation of a layer's fractions over its
/// experts, averaged over the MoE layers.
pub fn load(
    runs: &[TrainedRun],
    data_dir: &Path,
    seq_len: usize,
    max_windows: usize,
) -> Result<Vec<ExpertLoad>> {
    let windows = some_val_windows(data_dir, seq_len, max_windows)?;
    let mut out = Vec::new();
    for run in runs {
        let m = run.open()?;
        let model = Model::new(&m.cfg, &m.weights)?;
        let Some(per_layer) = fractions(&model, &windows)? else {
            continue;
        };
        let stds: Vec<f64> = per_layer.iter().map(|f| population_std(f)).collect();
        out.push(ExpertLoad {
            variant: run.variant.clone(),
            seed: run.seed,
            load_std: mean(&stds),
            per_layer,
        });
    }
    Ok(out)
}

/// Per MoE layer, the fraction of routed slots each expert received over `windows`;
/// None for a model without MoE layers.
fn fractions(model: &Model, windows: &[Vec<u32>]) -> Result<Option<Vec<Vec<f64>>>> {
    let moes: Vec<_> = model
        .blocks
        .iter()
        .filter_map(|b| match &b.ffn {
            FfnLayer::Moe(m) => Some(m),
            FfnLayer::Dense(..) => None,
        })
        .collect();
    if moes.is_empty() {
        return Ok(None);
    }
    moes.iter().for_each(|m| m.stats.reset());
    window_losses(model, windows)?;
    let per_layer = moes
        .iter()
        .map(|m| {
            let counts = m.stats.routed_counts();
            let total = counts.iter().sum::<u64>().max(1) as f64;
            counts.iter().map(|&c| c as f64 / total).collect()
        })
        .collect();
    Ok(Some(per_layer))
}

fn population_std(xs: &[f64]) -> f64 {
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len().max(1) as f64).sqrt()
}
