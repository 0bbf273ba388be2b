//! Measurements on the trained models after the grid: extrapolation, decode speed and
//! KV bytes, norm timing, quantization, expert load; then the claims' verdicts. A
//! section whose variants were not run (`--only`) is left empty.

use std::path::{Path, PathBuf};

use super::grid::StudySettings;
use super::quantize::QuantFormat;
use super::results::StudyResults;
use super::{claims, experts, extrapolate, inference, quantize, TrainedRun};
use crate::Result;

/// Evaluation lengths of the extrapolation study (trained at 128).
const LENGTHS: [usize; 4] = [128, 256, 512, 1024];

/// Fills the post-hoc sections of `r` from the runs under `study`.
pub fn measure(
    r: &mut StudyResults,
    study: &Path,
    s: &StudySettings,
    log: &mut dyn FnMut(&str),
) -> Result<()> {
    let corpus = PathBuf::from(&s.corpus);
    let quick = s.eval_windows < 16;
    let runs = |names: &[&str], all_seeds: bool| -> Vec<TrainedRun> {
        r.variants
            .iter()
            .filter(|v| names.contains(&v.name.as_str()))
            .flat_map(|v| {
                let ok = v.runs.iter().filter(|x| !x.diverged);
                let take = if all_seeds { usize::MAX } else { 1 };
                ok.take(take)
                    .map(|x| TrainedRun::new(v.name.clone(), x.seed, study.join(&x.dir)))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let ext = runs(&["gpt2", "rope", "alibi"], true);
    if !ext.is_empty() {
        log("post-hoc: extrapolation");
        r.extrapolation = extrapolate::curves(&ext, &corpus, s.seq_len, &LENGTHS, s.eval_windows)?;
    }
    let dec = runs(&["gpt2", "gqa", "mqa", "mla"], false);
    if !dec.is_empty() {
        log("post-hoc: decode speed and KV bytes");
        let (ctx, new) = if quick { (256, 16) } else { (960, 64) };
        r.decode = inference::decode(&dec, ctx, new)?;
    }
    log("post-hoc: norm timing");
    r.norm_timing = inference::norm_timing(128, 2048, if quick { 20 } else { 200 })?;
    let modern = runs(&["modern"], true);
    if !modern.is_empty() {
        log("post-hoc: quantization");
        r.quantization = quantize::losses_over_runs(
            &modern,
            &corpus,
            s.seq_len,
            s.eval_windows,
            &QuantFormat::ALL,
        )?;
    }
    let moe = runs(
        &["moe_top2_active", "moe_top2_total", "moe_top1_active"],
        true,
    );
    if !moe.is_empty() {
        log("post-hoc: expert load");
        r.expert_load = experts::load(&moe, &corpus, s.seq_len, s.eval_windows)?;
    }
    r.claims = claims::judge(r);
    Ok(())
}
