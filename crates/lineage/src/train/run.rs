//! A training run in a folder: start or resume, step until the budget, evaluate,
//! log, checkpoint, and summarise.
//!
//! ```text
//! RUN/settings.json     the resolved settings (resume reads them back)
//! RUN/metrics.jsonl     one line per step
//! RUN/checkpoint/       weights, optimizer moments, step state (see checkpoint.rs)
//! RUN/summary.json      written at the end
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::checkpoint::{self, TrainState};
use super::metrics::{Metrics, MetricsLog};
use super::run_files::{io, write_atomic};
use super::settings::TrainSettings;
use super::source::TokenSource;
use super::trainer::{StepReport, Trainer};
use crate::config::ModelConfig;
use crate::{Error, Result};

pub const SETTINGS_FILE: &str = "settings.json";
pub const SUMMARY_FILE: &str = "summary.json";
/// The model the run trains, recorded at start; a checkpoint must hold this model.
pub const MODEL_CONFIG_FILE: &str = "model_config.json";

/// Hooks for progress display and plots; every method has a no-op default.
pub trait Observer {
    fn on_start(&mut self, _t: &Trainer, _total_steps: u64) {}
    fn on_step(&mut self, _m: &Metrics) {}
    fn on_eval(&mut self, _run: &Path, _m: &Metrics) {}
}

/// A no-op observer.
pub struct Quiet;
impl Observer for Quiet {}

/// What a finished run reports.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub params: usize,
    pub steps: u64,
    pub tokens: u64,
    pub wall_s: f64,
    pub tok_s: f64,
    pub peak_rss_mib: Option<f64>,
    pub final_val_loss: f64,
    pub final_val_bpb: Option<f64>,
    /// The context-free baseline: validation loss of the training unigram distribution.
    pub unigram_val_loss: Option<f64>,
}

/// Starts a new run in `run` (which must not hold a checkpoint already).
pub fn start(run: &Path, cfg: ModelConfig, settings: TrainSettings) -> Result<Trainer> {
    if checkpoint::latest(run).is_ok() {
        return Err(Error::Train(format!(
            "{} already holds a run; use --resume to continue it or another --out",
            run.display()
        )));
    }
    std::fs::create_dir_all(run).map_err(|e| io(run, e))?;
    let json = serde_json::to_vec_pretty(&settings).expect("settings serialise");
    write_atomic(&run.join(SETTINGS_FILE), &json)?;
    let model = serde_json::to_vec_pretty(&cfg).expect("config serialises");
    write_atomic(&run.join(MODEL_CONFIG_FILE), &model)?;
    Trainer::from_scratch(cfg, settings)
}

/// Reopens `run` at its newest checkpoint, with `steps` as the new total when given.
pub fn resume(run: &Path, steps: Option<u64>) -> Result<Trainer> {
    let path = run.join(SETTINGS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        Error::bad_file(
            run,
            "not a training run: no settings.json (give the --out folder of `lineage train`)",
        )
    })?;
    let mut settings: TrainSettings = serde_json::from_str(&text)
        .map_err(|e| Error::bad_file(&path, format!("unreadable settings: {e}")))?;
    if let Some(n) = steps {
        settings.steps = n;
    }
    settings.validate()?;
    let ck = checkpoint::read(run)?;
    if ck.state.step > settings.total_steps() {
        return Err(Error::Train(format!(
            "the checkpoint is at step {}, beyond the requested total of {}",
            ck.state.step,
            settings.total_steps()
        )));
    }
    let recorded = run.join(MODEL_CONFIG_FILE);
    let text = std::fs::read_to_string(&recorded).map_err(|e| io(&recorded, e))?;
    let cfg: ModelConfig = serde_json::from_str(&text)
        .map_err(|e| Error::bad_file(&recorded, format!("not a model config: {e}")))?;
    if cfg != ck.cfg {
        return Err(Error::Train(format!(
            "{}: the checkpoint holds a different model than this run trains              (model_config.json differs): mismatched checkpoint",
            run.display()
        )));
    }
    if ck.state.seed != settings.seed {
        return Err(Error::Train(format!(
            "checkpoint seed {} differs from the run's seed {}: mismatched checkpoint",
            ck.state.seed, settings.seed
        )));
    }
    let json = serde_json::to_vec_pretty(&settings).expect("settings serialise");
    write_atomic(&path, &json)?;
    Trainer::from_checkpoint(ck, settings)
}

/// Trains until the settings' total, evaluating and checkpointing on schedule.
pub fn train(
    run: &Path,
    t: &mut Trainer,
    data: &dyn TokenSource,
    obs: &mut dyn Observer,
) -> Result<Summary> {
    check_data(t, data)?;
    let total = t.settings.total_steps();
    let mut log = MetricsLog::open(run, t.state.step)?;
    obs.on_start(t, total);
    let (start_elapsed, clock) = (t.state.elapsed_s, Instant::now());
    let mut last = (clock.elapsed().as_secs_f64(), t.state.tokens);
    let mut last_eval = None;
    while t.state.step < total {
        let r = t.step(data)?;
        t.state.elapsed_s = start_elapsed + clock.elapsed().as_secs_f64();
        let now = clock.elapsed().as_secs_f64();
        let tok_s = (t.state.tokens - last.1) as f64 / (now - last.0).max(1e-9);
        last = (now, t.state.tokens);
        let mut m = metrics(t, &r, tok_s);
        if due(r.step, t.settings.eval_every, total) {
            let v = t.evaluate(data)?;
            m.val_loss = Some(v);
            m.val_bpb = data.val_bytes_per_token().map(|b| bits_per_byte(v, b));
            last_eval = Some(m.clone());
        }
        log.append(&m)?;
        obs.on_step(&m);
        if m.val_loss.is_some() {
            obs.on_eval(run, &m);
        }
        if due(r.step, t.settings.checkpoint_every, total) {
            checkpoint::write(run, &t.checkpoint()?)?;
        }
    }
    let last_eval = match last_eval {
        Some(m) => m,
        None => final_eval(t, data)?,
    };
    summarise(run, t, data, &last_eval)
}

/// The run was already complete (resumed at its total): evaluate once for the summary.
fn final_eval(t: &Trainer, data: &dyn TokenSource) -> Result<Metrics> {
    let v = t.evaluate(data)?;
    Ok(Metrics {
        step: t.state.step,
        tokens: t.state.tokens,
        elapsed_s: t.state.elapsed_s,
        train_loss: f64::NAN,
        lr: 0.0,
        grad_norm: 0.0,
        tok_s: 0.0,
        balance_loss: None,
        z_loss: None,
        val_loss: Some(v),
        val_bpb: data.val_bytes_per_token().map(|b| bits_per_byte(v, b)),
    })
}

fn check_data(t: &Trainer, data: &dyn TokenSource) -> Result<()> {
    if data.vocab_size() > t.cfg.vocab_size {
        return Err(Error::Train(format!(
            "the data has token ids up to {} but the model's vocabulary is {}; \
             set --set vocab_size={}",
            data.vocab_size() - 1,
            t.cfg.vocab_size,
            data.vocab_size()
        )));
    }
    Ok(())
}

fn metrics(t: &Trainer, r: &StepReport, tok_s: f64) -> Metrics {
    let moe = t.cfg.ffn.moe.is_some();
    Metrics {
        step: r.step,
        tokens: t.state.tokens,
        elapsed_s: t.state.elapsed_s,
        train_loss: r.ce,
        lr: r.lr,
        grad_norm: r.grad_norm,
        tok_s,
        balance_loss: moe.then_some(r.balance),
        z_loss: moe.then_some(r.z),
        val_loss: None,
        val_bpb: None,
    }
}

/// Whether `step` is an every-`n` step or the last one.
fn due(step: u64, every: u64, total: u64) -> bool {
    step == total || (every > 0 && step % every == 0)
}

/// nats/token -> bits/byte.
pub fn bits_per_byte(nats_per_token: f64, bytes_per_token: f64) -> f64 {
    nats_per_token / std::f64::consts::LN_2 / bytes_per_token
}

fn summarise(run: &Path, t: &Trainer, data: &dyn TokenSource, m: &Metrics) -> Result<Summary> {
    checkpoint::write(run, &t.checkpoint()?)?;
    let s = Summary {
        params: t.n_params(),
        steps: t.state.step,
        tokens: t.state.tokens,
        wall_s: t.state.elapsed_s,
        tok_s: t.state.tokens as f64 / t.state.elapsed_s.max(1e-9),
        peak_rss_mib: peak_rss_mib(),
        final_val_loss: m.val_loss.unwrap_or(f64::NAN),
        final_val_bpb: m.val_bpb,
        unigram_val_loss: data.unigram_loss(),
    };
    let json = serde_json::to_vec_pretty(&s).expect("summary serialises");
    write_atomic(&run.join(SUMMARY_FILE), &json)?;
    Ok(s)
}

/// Peak resident set of this process (VmHWM), where /proc has it.
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The checkpoint folder `export` and `--resume` read.
pub fn checkpoint_dir(run: &Path) -> PathBuf {
    run.join(super::run_files::CHECKPOINT_DIR)
}

impl TrainState {
    pub fn is_fresh(&self) -> bool {
        self.step == 0
    }
}
