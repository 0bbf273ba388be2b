//! `RUN/metrics.jsonl`: one JSON object per optimizer step, flushed as it is written.
//! On resume the lines past the checkpoint's step are dropped first, so a resumed run's
//! file equals an uninterrupted run's (up to the timing fields).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::run_files::io;
use crate::Result;

pub const METRICS_FILE: &str = "metrics.jsonl";

/// One logged step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub step: u64,
    pub tokens: u64,
    pub elapsed_s: f64,
    /// Mean cross-entropy of the step's training batch (nats/token).
    pub train_loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    /// Training throughput since the previous line.
    pub tok_s: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub balance_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub z_loss: Option<f64>,
    /// Validation cross-entropy (nats/token) on evaluation steps.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub val_loss: Option<f64>,
    /// Validation bits per UTF-8 byte, when the data knows its bytes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub val_bpb: Option<f64>,
}

/// Appends metrics lines to a run's file.
pub struct MetricsLog {
    path: PathBuf,
    file: std::fs::File,
}

impl MetricsLog {
    /// Opens `run/metrics.jsonl`, keeping only lines with `step <= keep_through`.
    pub fn open(run: &Path, keep_through: u64) -> Result<Self> {
        let path = run.join(METRICS_FILE);
        let kept: Vec<Metrics> = read(&path)?
            .into_iter()
            .filter(|m| m.step <= keep_through)
            .collect();
        let mut text = String::new();
        for m in &kept {
            text.push_str(&serde_json::to_string(m).expect("metrics serialise"));
            text.push('\n');
        }
        super::run_files::write_atomic(&path, text.as_bytes())?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        Ok(Self { path, file })
    }

    pub fn append(&mut self, m: &Metrics) -> Result<()> {
        let mut line = serde_json::to_string(m).expect("metrics serialise");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|e| io(&self.path, e))
    }
}

/// Every line of a metrics file (a missing file is empty; a torn last line is dropped).
pub fn read(path: &Path) -> Result<Vec<Metrics>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Metrics>(l).ok())
        .collect())
}
