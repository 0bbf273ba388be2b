//! A trained run as the post-hoc measurements take it (variant, seed, run folder), and
//! what those measurements share: the validation windows of one length, per-window
//! losses through the candle model, grouping runs by variant, and the statistic over
//! seeds (mean, sample std, two-sided 95% Student-t half-width).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use super::results::Stat;
use crate::model::Model;
use crate::train::data::{Batcher, Dataset};
use crate::train::loss::cross_entropy;
use crate::train::{open_run, RunModel};
use crate::Result;

/// One finished `lineage train` run of one variant and seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainedRun {
    pub variant: String,
    pub seed: u64,
    /// The run folder (`RUN/checkpoint/{model.safetensors, model_config.json}`).
    pub dir: PathBuf,
}

impl TrainedRun {
    pub fn new(variant: impl Into<String>, seed: u64, dir: impl Into<PathBuf>) -> Self {
        Self {
            variant: variant.into(),
            seed,
            dir: dir.into(),
        }
    }

    /// The trained config and f32 weights of the run's checkpoint.
    pub fn open(&self) -> Result<RunModel> {
        open_run(&self.dir)
    }
}

/// Runs grouped by variant, variants in the order they first appear.
pub(crate) fn by_variant(runs: &[TrainedRun]) -> Vec<(&str, Vec<&TrainedRun>)> {
    let mut out: Vec<(&str, Vec<&TrainedRun>)> = Vec::new();
    for r in runs {
        match out.iter_mut().find(|(v, _)| *v == r.variant) {
            Some((_, group)) => group.push(r),
            None => out.push((&r.variant, vec![r])),
        }
    }
    out
}

/// The first `max_windows` validation windows of `len + 1` tokens of the data folder,
/// in file order (the trainer's evaluation walk at `seq_len = len`). A validation file
/// shorter than one window gives none.
pub(crate) fn val_windows(
    data_dir: &Path,
    len: usize,
    max_windows: usize,
) -> Result<Vec<Vec<u32>>> {
    let ds = Dataset::open(data_dir)?;
    if len == 0 || ds.val.len() < len as u64 + 1 {
        return Ok(Vec::new());
    }
    Ok(Batcher::new(&ds.val, len, 1, 0)?
        .eval_windows(max_windows)
        .collect())
}

/// Mean next-token cross-entropy (nats/token) of each window, one forward per window
/// through the training loss (`train::loss::cross_entropy`).
pub(crate) fn window_losses(model: &Model, windows: &[Vec<u32>]) -> Result<Vec<f64>> {
    windows
        .iter()
        .map(|w| {
            let ids = Tensor::new(w.as_slice(), &Device::Cpu)?.unsqueeze(0)?; // [1, T + 1]
            let t = w.len() - 1;
            let logits = model.forward(&ids.narrow(1, 0, t)?, None)?; // [1, T, V]
            let ce = cross_entropy(&logits, &ids.narrow(1, 1, t)?)?;
            Ok(ce.to_dtype(DType::F64)?.to_scalar::<f64>()?)
        })
        .collect()
}

pub(crate) fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Mean, sample standard deviation (0 for one sample) and the half-width of the
/// two-sided 95% Student-t interval (NaN for fewer than two samples). A local helper
/// until `ablate::stats` lands; the definitions are the same.
pub(crate) fn stat(xs: &[f64]) -> Stat {
    let n = xs.len();
    if n == 0 {
        return Stat {
            n,
            mean: f64::NAN,
            std: f64::NAN,
            ci95: f64::NAN,
        };
    }
    let m = mean(xs);
    let std = if n > 1 {
        (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let ci95 = if n > 1 {
        t95(n - 1) * std / (n as f64).sqrt()
    } else {
        f64::NAN
    };
    Stat {
        n,
        mean: m,
        std,
        ci95,
    }
}

/// Two-sided 95% quantile of Student's t with `df` degrees of freedom: the table for
/// df <= 30, beyond it the Cornish-Fisher expansion around z = 1.959964 (error < 1e-3).
fn t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    if (1..=30).contains(&df) {
        return T[df - 1];
    }
    let (z, v) = (1.959964f64, df.max(1) as f64);
    z + (z.powi(3) + z) / (4.0 * v)
        + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * v * v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_two_samples_uses_t_with_one_df() {
        let s = stat(&[1.0, 3.0]);
        assert_eq!((s.n, s.mean), (2, 2.0));
        assert!((s.std - 2f64.sqrt()).abs() < 1e-12);
        assert!((s.ci95 - 12.706 * 2f64.sqrt() / 2f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn stat_one_sample_has_no_interval() {
        let s = stat(&[5.0]);
        assert_eq!((s.n, s.mean, s.std), (1, 5.0, 0.0));
        assert!(s.ci95.is_nan());
    }

    #[test]
    fn t95_large_df_approaches_normal_quantile() {
        assert!((t95(40) - 2.021).abs() < 1e-3, "{}", t95(40));
        assert!((t95(120) - 1.980).abs() < 1e-3, "{}", t95(120));
    }
}
