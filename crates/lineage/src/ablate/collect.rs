//! Reading a finished grid back: every number of a variant's result comes from its runs'
//! `metrics.jsonl` and `summary.json` and from the inspect accounting of its config.

use std::path::Path;

use super::grid::{PlannedRun, PlannedVariant};
use super::matching::{active_non_embedding, config, non_embedding};
use super::results::{RunResult, VariantResult};
use super::stats::stat;
use super::variants::Data;
use crate::analysis::kv_cache::{size, KvDtype};
use crate::analysis::params::count;
use crate::train::metrics;
use crate::{Error, Result};

/// The result of one variant from its run folders under `study`.
pub fn variant(study: &Path, p: &PlannedVariant, vocab: usize) -> Result<VariantResult> {
    let v = &p.variant;
    let vocab = if v.data == Data::Recall {
        p.runs.first().map_or(vocab, |_| vocab)
    } else {
        vocab
    };
    let cfg = config(&p.edits, vocab)?;
    let params = count(&cfg)?;
    let runs: Vec<RunResult> = p
        .runs
        .iter()
        .map(|r| run(study, r))
        .collect::<Result<_>>()?;
    let ok: Vec<&RunResult> = runs.iter().filter(|r| !r.diverged).collect();
    let pick = |f: fn(&RunResult) -> f64| stat(&ok.iter().map(|r| f(r)).collect::<Vec<_>>());
    let bpb: Vec<f64> = ok.iter().filter_map(|r| r.val_bpb).collect();
    Ok(VariantResult {
        name: v.name.to_string(),
        section: v.section.to_string(),
        description: v.description.to_string(),
        edits: p.edits.clone(),
        overrides: v.overrides.clone(),
        params_total: params.total(),
        params_active: params.active(),
        params_non_embedding: non_embedding(&params),
        params_active_non_embedding: active_non_embedding(&params),
        kv_bytes_per_token: size(&cfg, KvDtype::F32, 1)?.bytes_per_token,
        val_loss: pick(|r| r.val_loss),
        val_bpb: (!bpb.is_empty()).then(|| stat(&bpb)),
        tok_s: pick(|r| r.tok_s),
        grad_norm_var: pick(|r| r.grad_norm_var),
        diverged_runs: runs.len() - ok.len(),
        runs,
    })
}

fn run(study: &Path, r: &PlannedRun) -> Result<RunResult> {
    let dir = study.join(&r.dir);
    let m = metrics::read(&dir.join(metrics::METRICS_FILE))?;
    let diverged = !dir.join("summary.json").is_file();
    if diverged && !dir.join("diverged.txt").is_file() {
        return Err(Error::Train(format!(
            "{}: the run has not finished",
            dir.display()
        )));
    }
    let summary: serde_json::Value = if diverged {
        serde_json::Value::Null
    } else {
        let text = std::fs::read_to_string(dir.join("summary.json"))
            .map_err(|e| crate::train::run_files::io(&dir, e))?;
        serde_json::from_str(&text).map_err(|e| Error::bad_file(&dir, e.to_string()))?
    };
    let f = |k: &str| summary[k].as_f64();
    let norms: Vec<f64> = m.iter().map(|x| x.grad_norm).collect();
    Ok(RunResult {
        seed: r.seed,
        dir: r.dir.clone(),
        val_loss: f("final_val_loss").unwrap_or(f64::NAN),
        val_bpb: f("final_val_bpb"),
        tok_s: f("tok_s").unwrap_or(f64::NAN),
        wall_s: f("wall_s").unwrap_or(f64::NAN),
        peak_rss_mib: f("peak_rss_mib"),
        diverged,
        val_curve: m
            .iter()
            .filter_map(|x| x.val_loss.map(|v| (x.tokens as f64, v)))
            .collect(),
        train_curve: m.iter().map(|x| (x.tokens as f64, x.train_loss)).collect(),
        grad_norm_var: variance(&norms[norms.len() / 2..]),
        steps_to_target: None,
    })
}

/// Sample variance (NaN for fewer than two values).
fn variance(xs: &[f64]) -> f64 {
    let xs: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if xs.len() < 2 {
        return f64::NAN;
    }
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64
}
