//! The whole study: settings for the default and `--quick` budgets, the data, the grid,
//! and the results. Post-hoc measurements and verdicts run on the trained models.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::collect;
use super::grid::{execute, plan, Outcome, StudySettings};
use super::results::StudyResults;
use crate::train::data::{write_synthetic, SyntheticConfig, SyntheticTask};
use crate::train::data_source::{default_data, DEFAULT_VOCAB};
use crate::{Error, Result};

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct StudyOptions {
    pub quick: bool,
    pub seeds: Option<usize>,
    pub tokens: Option<u64>,
    pub out: PathBuf,
    /// Run only these variants (empty: all).
    pub only: Vec<String>,
    /// The command line, for the report.
    pub command: String,
}

/// Vocabulary of the recall task.
const RECALL_VOCAB: usize = 64;

/// The budget: default (>= 3 seeds, under an hour on 2 cores) or quick (minutes).
pub fn settings(o: &StudyOptions, corpus: String) -> StudySettings {
    let quick = o.quick;
    StudySettings {
        seeds: o.seeds.unwrap_or(if quick { 2 } else { 3 }),
        tokens_per_run: o.tokens.unwrap_or(if quick { 4 * 8 * 128 } else { 48 * 16 * 128 }),
        batch: if quick { 8 } else { 16 },
        seq_len: 128,
        lr: 3e-3,
        evals: if quick { 2 } else { 8 },
        eval_windows: if quick { 4 } else { 32 },
        checkpoint_every: if quick { 0 } else { 12 },
        corpus,
        recall: o.out.join("data/recall"),
        vocab: DEFAULT_VOCAB,
        recall_vocab: RECALL_VOCAB,
    }
}

/// Runs (or resumes) the grid with the `lineage` binary `exe` and reads it back.
pub fn run(o: &StudyOptions, exe: &Path, log: &mut dyn FnMut(&str)) -> Result<StudyResults> {
    let clock = Instant::now();
    std::fs::create_dir_all(&o.out).map_err(|e| crate::train::run_files::io(&o.out, e))?;
    let corpus = default_data()?;
    let s = settings(o, corpus.display().to_string());
    recall_data(&s)?;
    let planned = plan(&s, &o.only)?;
    if planned.is_empty() {
        return Err(Error::BadInput(format!("--only {:?} names no variant", o.only)));
    }
    let total: usize = planned.iter().map(|p| p.runs.len()).sum();
    let mut k = 0;
    for p in &planned {
        for r in &p.runs {
            k += 1;
            let t = Instant::now();
            let outcome = execute(exe, &o.out, r)?;
            let what = match outcome {
                Outcome::Finished => "ok",
                Outcome::Diverged(_) => "diverged",
            };
            log(&format!("[{k}/{total}] {} seed {}: {what} ({:.1} s)", r.variant, r.seed, t.elapsed().as_secs_f64()));
        }
    }
    let variants = planned
        .iter()
        .map(|p| collect::variant(&o.out, p, if p.variant.data == super::variants::Data::Recall { s.recall_vocab } else { s.vocab }))
        .collect::<Result<Vec<_>>>()?;
    let mut r = StudyResults {
        command: o.command.clone(),
        machine: machine(),
        date: date(),
        wall_s: 0.0,
        budget: budget(&s),
        seeds: s.seeds,
        tokens_per_run: s.steps() * (s.batch * s.seq_len) as u64,
        variants,
        extrapolation: Vec::new(),
        decode: Vec::new(),
        norm_timing: Vec::new(),
        quantization: Vec::new(),
        expert_load: Vec::new(),
        claims: Vec::new(),
    };
    super::posthoc::measure(&mut r, &o.out, &s, log)?;
    r.wall_s = clock.elapsed().as_secs_f64();
    Ok(r)
}

fn recall_data(s: &StudySettings) -> Result<()> {
    if s.recall.join("meta.json").is_file() {
        return Ok(());
    }
    write_synthetic(&SyntheticConfig {
        task: SyntheticTask::Recall,
        vocab_size: s.recall_vocab,
        seq_len: s.seq_len,
        train_tokens: s.tokens_per_run.max(s.seq_len as u64 * 64),
        val_tokens: Some(s.seq_len as u64 * 64),
        seed: 1234,
        out: s.recall.clone(),
    })?;
    Ok(())
}

fn budget(s: &StudySettings) -> String {
    format!(
        "{} seeds per variant; {} steps of {} x {} tokens = {} training tokens per run; lr {} \
         (cosine to lr/10, 10% warmup unless the variant says otherwise); base model GPT-2 \
         4 x 128 (8 heads of 16, d_ff 512, vocab {}), ~0.8M non-embedding parameters",
        s.seeds,
        s.steps(),
        s.batch,
        s.seq_len,
        s.steps() * (s.batch * s.seq_len) as u64,
        s.lr,
        s.vocab
    )
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

fn date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
