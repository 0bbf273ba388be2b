//! The whole study: settings for the default and `--quick` budgets, the data, the grid,
//! and the results. Post-hoc measurements and verdicts run on the trained models.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::collect;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use super::grid::{execute, plan, Outcome, PlannedRun, PlannedVariant, StudySettings};
use super::results::StudyResults;
use crate::train::data::{write_synthetic, SyntheticConfig, SyntheticTask};
use crate::train::data_source::default_data_with;
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
/// The study's BPE: a small vocabulary keeps the LM head (a matmul as large as the
/// 4 x 128 body at 4096 tokens) from dominating the compute of such a small model.
pub const STUDY_VOCAB: usize = 1024;

/// The budget: default (>= 3 seeds, under an hour on 2 cores) or quick (minutes).
pub fn settings(o: &StudyOptions, corpus: String) -> StudySettings {
    let quick = o.quick;
    StudySettings {
        seeds: o.seeds.unwrap_or(if quick { 2 } else { 3 }),
        tokens_per_run: o
            .tokens
            .unwrap_or(if quick { 4 * 8 * 128 } else { 96 * 16 * 128 }),
        batch: if quick { 8 } else { 16 },
        seq_len: 128,
        lr: 3e-3,
        evals: if quick { 2 } else { 6 },
        eval_windows: if quick { 4 } else { 16 },
        checkpoint_every: if quick { 0 } else { 24 },
        corpus,
        recall: o.out.join("data/recall"),
        vocab: STUDY_VOCAB,
        recall_vocab: RECALL_VOCAB,
    }
}

/// Runs (or resumes) the grid with the `lineage` binary `exe` and reads it back.
pub fn run(o: &StudyOptions, exe: &Path, log: &mut dyn FnMut(&str)) -> Result<StudyResults> {
    let clock = Instant::now();
    std::fs::create_dir_all(&o.out).map_err(|e| crate::train::run_files::io(&o.out, e))?;
    let corpus = default_data_with(STUDY_VOCAB)?;
    let s = settings(o, corpus.display().to_string());
    recall_data(&s)?;
    let planned = plan(&s, &o.only)?;
    if planned.is_empty() {
        return Err(Error::BadInput(format!(
            "--only {:?} names no variant",
            o.only
        )));
    }
    run_all(&planned, exe, &o.out, log)?;
    let variants = planned
        .iter()
        .map(|p| {
            collect::variant(
                &o.out,
                p,
                if p.variant.data == super::variants::Data::Recall {
                    s.recall_vocab
                } else {
                    s.vocab
                },
            )
        })
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

/// Runs every planned run, one process per core at a time (each with one thread: these
/// small matmuls do not scale past one core, so two runs at once double the throughput).
fn run_all(
    planned: &[PlannedVariant],
    exe: &Path,
    out: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<()> {
    let runs: Vec<&PlannedRun> = planned.iter().flat_map(|p| &p.runs).collect();
    let jobs = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Result<String>>();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let (tx, next, runs) = (tx.clone(), &next, &runs);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(r) = runs.get(i) else { break };
                let t = Instant::now();
                let line = execute(exe, out, r).map(|o| {
                    let what = match o {
                        Outcome::Finished => "ok",
                        Outcome::Cached => "cached",
                        Outcome::Diverged(_) => "diverged",
                    };
                    format!(
                        "{} seed {}: {what} ({:.1} s)",
                        r.variant,
                        r.seed,
                        t.elapsed().as_secs_f64()
                    )
                });
                let failed = line.is_err();
                if tx.send(line).is_err() || failed {
                    next.store(runs.len(), Ordering::SeqCst);
                    break;
                }
            });
        }
        drop(tx);
        let mut first_err = None;
        for (k, line) in rx.iter().enumerate() {
            match line {
                Ok(l) => log(&format!("[{}/{}] {l}", k + 1, runs.len())),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    })
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
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
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
