//! The grid: every (variant, seed) becomes one `lineage train` run in its own process
//! (so each run's peak memory is its own), cached by a hash of everything that defines
//! it. An interrupted grid resumes: finished runs are read back, checkpointed ones are
//! continued with `--resume`, and the rest start fresh.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::matching::{config, matched_edits};
use super::variants::{self, Data, Variant};
use crate::{Error, Result};

/// The study's training settings, shared by every run.
#[derive(Debug, Clone)]
pub struct StudySettings {
    pub seeds: usize,
    pub tokens_per_run: u64,
    pub batch: usize,
    pub seq_len: usize,
    pub lr: f64,
    /// Evaluations per run (spread evenly).
    pub evals: u64,
    pub eval_windows: usize,
    /// Checkpoint every N steps (resume granularity of an interrupted grid); 0 = at the end.
    pub checkpoint_every: u64,
    /// Corpus data folder (or `default`).
    pub corpus: String,
    /// Recall-task data folder (made by the study).
    pub recall: PathBuf,
    pub vocab: usize,
    pub recall_vocab: usize,
}

impl StudySettings {
    pub fn steps(&self) -> u64 {
        self.tokens_per_run
            .div_ceil((self.batch * self.seq_len) as u64)
            .max(1)
    }
}

/// One run of the grid, fully specified.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    pub variant: String,
    pub seed: u64,
    /// Relative to the study folder.
    pub dir: String,
    pub args: Vec<String>,
}

/// A variant with its final (matched) edits.
#[derive(Debug, Clone)]
pub struct PlannedVariant {
    pub variant: Variant,
    pub edits: Vec<String>,
    pub runs: Vec<PlannedRun>,
}

/// Resolves matching for every variant and lays out its runs.
pub fn plan(s: &StudySettings, only: &[String]) -> Result<Vec<PlannedVariant>> {
    let all = variants::all();
    let mut out = Vec::new();
    for v in all
        .iter()
        .filter(|v| only.is_empty() || only.iter().any(|o| o == v.name))
    {
        let reference = all
            .iter()
            .find(|r| r.name == v.reference)
            .map(|r| r.edits.clone())
            .unwrap_or_default();
        let vocab = if v.data == Data::Recall {
            s.recall_vocab
        } else {
            s.vocab
        };
        let edits = matched_edits(v, &reference, vocab)?;
        config(&edits, vocab)?; // every variant must be a valid model before anything runs
        let runs = (0..s.seeds as u64)
            .map(|seed| planned_run(s, v, &edits, seed))
            .collect();
        out.push(PlannedVariant {
            variant: v.clone(),
            edits,
            runs,
        });
    }
    Ok(out)
}

fn planned_run(s: &StudySettings, v: &Variant, edits: &[String], seed: u64) -> PlannedRun {
    let steps = s.steps();
    let mut lr = s.lr;
    let mut warmup = (steps as f64 * 0.1).round() as u64;
    for o in &v.overrides {
        match o.split_once('=') {
            Some(("lr", x)) => lr = x.parse().unwrap_or(lr),
            Some(("warmup_fraction", x)) => {
                warmup = (steps as f64 * x.parse::<f64>().unwrap_or(0.1)).round() as u64
            }
            _ => {}
        }
    }
    let data = match v.data {
        Data::Corpus => s.corpus.clone(),
        Data::Recall => s.recall.display().to_string(),
    };
    let mut args: Vec<String> = vec![
        "train".into(),
        "--model".into(),
        variants::BASE_MODEL.into(),
    ];
    for e in variants::BASE_EDITS
        .iter()
        .map(|e| e.to_string())
        .chain(edits.iter().cloned())
    {
        args.push("--set".into());
        args.push(e);
    }
    let every = (steps / s.evals.max(1)).max(1);
    for (k, val) in [
        ("--data", data),
        ("--steps", steps.to_string()),
        ("--batch", s.batch.to_string()),
        ("--seq-len", s.seq_len.to_string()),
        ("--seed", seed.to_string()),
        ("--lr", lr.to_string()),
        ("--min-lr", (lr / 10.0).to_string()),
        ("--warmup", warmup.to_string()),
        ("--eval-every", every.to_string()),
        ("--eval-windows", s.eval_windows.to_string()),
        ("--checkpoint-every", s.checkpoint_every.to_string()),
    ] {
        args.push(k.into());
        args.push(val);
    }
    args.push("--quiet".into());
    let dir = format!("runs/{}-s{seed}-{:016x}", v.name, fnv(&args.join(" ")));
    PlannedRun {
        variant: v.name.to_string(),
        seed,
        dir,
        args,
    }
}

/// What happened to one run.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Finished,
    /// Finished in an earlier invocation: nothing was trained.
    Cached,
    /// Stopped on a non-finite loss or gradient (the message names the step).
    Diverged(String),
}

/// Runs (or reuses) `r` under `study` with the `lineage` binary `exe`.
pub fn execute(exe: &Path, study: &Path, r: &PlannedRun) -> Result<Outcome> {
    let dir = study.join(&r.dir);
    if dir.join("summary.json").is_file() {
        return Ok(Outcome::Cached);
    }
    if let Some(msg) = read_divergence(&dir) {
        return Ok(Outcome::Diverged(msg));
    }
    let mut cmd = Command::new(exe);
    // One thread per run; the grid runs one process per core.
    cmd.env("RAYON_NUM_THREADS", "1")
        .env("CANDLE_NUM_THREADS", "1");
    if dir.join("checkpoint/state.json").is_file() {
        let steps = arg_value(&r.args, "--steps").unwrap_or("1");
        cmd.arg("train")
            .arg("--resume")
            .arg(&dir)
            .args(["--steps", steps, "--quiet"]);
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        cmd.args(&r.args).arg("--out").arg(&dir);
    }
    let out = cmd
        .output()
        .map_err(|e| Error::Train(format!("cannot run {}: {e}", exe.display())))?;
    if out.status.success() {
        return Ok(Outcome::Finished);
    }
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    if err.contains("became") && (err.contains("NaN") || err.contains("inf")) {
        std::fs::create_dir_all(&dir).map_err(|e| crate::train::run_files::io(&dir, e))?;
        let _ = std::fs::write(dir.join("diverged.txt"), &err);
        return Ok(Outcome::Diverged(err.trim().to_string()));
    }
    Err(Error::Train(format!(
        "run {} failed: {}",
        r.dir,
        err.trim()
    )))
}

fn read_divergence(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("diverged.txt")).ok()
}

fn arg_value<'a>(args: &'a [String], key: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == key)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// FNV-1a 64: the cache key of a run's full argument list.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}
