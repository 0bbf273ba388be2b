//! A trained run as the post-hoc measurements take it (variant, seed, run folder), and
//! what those measurements share: the validation windows of one length, per-window
//! losses through the candle model, and grouping runs by variant. Statistics over seeds
//! or windows are `ablate::stats::stat`.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

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

/// [`val_windows`], where no window is an error naming the data folder.
pub(crate) fn some_val_windows(
    data_dir: &Path,
    len: usize,
    max_windows: usize,
) -> Result<Vec<Vec<u32>>> {
    let windows = val_windows(data_dir, len, max_windows)?;
    if windows.is_empty() {
        return Err(crate::Error::bad_file(
            data_dir,
            format!("the validation split holds no window of {} tokens", len + 1),
        ));
    }
    Ok(windows)
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
