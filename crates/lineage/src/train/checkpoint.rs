//! Training checkpoints: weights, optimizer moments and the step state, written as one
//! folder swapped in by renames. A kill at any instant leaves either the previous
//! complete checkpoint or the new one, never a mixture:
//!
//! ```text
//! RUN/checkpoint.next/  written and fsynced first
//! RUN/checkpoint  -> RUN/checkpoint.prev   (rename)
//! RUN/checkpoint.next -> RUN/checkpoint    (rename)
//! RUN/checkpoint.prev removed
//! ```
//! `state.json` is written last inside a folder, so a folder without it is incomplete.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::run_files::{self, io, write_atomic, write_tensors, CHECKPOINT_DIR};
use crate::config::ModelConfig;
use crate::weights::Weights;
use crate::{Error, Result};

pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const STATE_FILE: &str = "state.json";

/// Where a run stands after a completed optimizer step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimizer steps completed.
    pub step: u64,
    /// Training tokens consumed.
    pub tokens: u64,
    /// Wall time spent training so far (all sessions of the run).
    pub elapsed_s: f64,
    /// The run's seed. Data order, dropout masks and init are pure functions of
    /// (seed, step), so this and `step` are the whole RNG state.
    pub seed: u64,
}

/// Everything a checkpoint holds.
pub struct Checkpoint {
    pub cfg: ModelConfig,
    pub weights: Weights,
    pub optimizer: HashMap<String, Tensor>,
    pub state: TrainState,
}

/// Writes a checkpoint of `run` (see the module docs for the swap).
pub fn write(run: &Path, ck: &Checkpoint) -> Result<()> {
    let next = run.join("checkpoint.next");
    let (cur, prev) = (run.join(CHECKPOINT_DIR), run.join("checkpoint.prev"));
    if next.exists() {
        std::fs::remove_dir_all(&next).map_err(|e| io(&next, e))?;
    }
    run_files::save_model(&next, &ck.cfg, &ck.weights)?;
    let opt: HashMap<String, Tensor> = ck
        .optimizer
        .iter()
        .map(|(k, t)| Ok((k.clone(), t.to_dtype(DType::F32)?)))
        .collect::<Result<_>>()?;
    write_tensors(&next.join(OPTIMIZER_FILE), &opt)?;
    let json = serde_json::to_vec_pretty(&ck.state).expect("state serialises");
    write_atomic(&next.join(STATE_FILE), &json)?;
    if cur.exists() {
        if prev.exists() {
            std::fs::remove_dir_all(&prev).map_err(|e| io(&prev, e))?;
        }
        std::fs::rename(&cur, &prev).map_err(|e| io(&cur, e))?;
    }
    std::fs::rename(&next, &cur).map_err(|e| io(&next, e))?;
    if prev.exists() {
        std::fs::remove_dir_all(&prev).map_err(|e| io(&prev, e))?;
    }
    Ok(())
}

/// The newest complete checkpoint folder of `run`.
pub fn latest(run: &Path) -> Result<PathBuf> {
    for name in [CHECKPOINT_DIR, "checkpoint.prev"] {
        let dir = run.join(name);
        if dir.join(STATE_FILE).is_file() {
            return Ok(dir);
        }
    }
    Err(Error::bad_file(
        run,
        "no complete checkpoint to resume from (RUN/checkpoint/state.json is missing); \
         was the run started with --out, and did it reach its first checkpoint?",
    ))
}

/// Reads the newest complete checkpoint of `run`.
pub fn read(run: &Path) -> Result<Checkpoint> {
    let dir = latest(run)?;
    let model = run_files::open_run_dir(&dir)?;
    let opt_path = dir.join(OPTIMIZER_FILE);
    let optimizer = candle_core::safetensors::load(&opt_path, &Device::Cpu)
        .map_err(|e| Error::bad_file(&opt_path, format!("unreadable optimizer state: {e}")))?;
    let state_path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&state_path).map_err(|e| io(&state_path, e))?;
    let state: TrainState = serde_json::from_str(&text)
        .map_err(|e| Error::bad_file(&state_path, format!("not a training state: {e}")))?;
    Ok(Checkpoint {
        cfg: model.cfg,
        weights: model.weights,
        optimizer,
        state,
    })
}
