//! Matching a variant's size to its reference through the inspect accounting: the FFN
//! width (d_ff, or d_expert for MoE) is solved so non-embedding parameters (all, or the
//! active ones) equal the reference's as closely as a multiple of 8 allows.

use super::variants::{Match, Variant, BASE_EDITS, BASE_MODEL};
use crate::analysis::params::{count, ParamCounts};
use crate::config::ModelConfig;
use crate::train::recipes;
use crate::{Error, Result};

/// Parameters outside the lookup tables and the LM head.
pub fn non_embedding(p: &ParamCounts) -> u64 {
    p.total() - p.embeddings.total() - p.position_embeddings.total() - p.lm_head.total()
}

/// Per-token (active) parameters outside the lookup tables and the LM head.
pub fn active_non_embedding(p: &ParamCounts) -> u64 {
    p.active() - p.embeddings.total() - p.position_embeddings.total() - p.lm_head.total()
}

/// The config of `edits` on the base model at vocabulary `vocab`.
pub fn config(edits: &[String], vocab: usize) -> Result<ModelConfig> {
    let mut all: Vec<String> = BASE_EDITS.iter().map(|s| s.to_string()).collect();
    all.extend(edits.iter().cloned());
    recipes::resolve(BASE_MODEL, &all, Some(vocab))
}

/// `v`'s edits with the width edit that matches `reference` (its own edits), if any.
pub fn matched_edits(v: &Variant, reference: &[String], vocab: usize) -> Result<Vec<String>> {
    let target_cfg = config(reference, vocab)?;
    let target = non_embedding(&count(&target_cfg)?);
    let (key, measure): (&str, fn(&ParamCounts) -> u64) = match v.matching {
        Match::None => return Ok(v.edits.clone()),
        Match::NonEmbedding => ("d_ff", non_embedding),
        Match::Total => ("d_expert", non_embedding),
        Match::Active => ("d_expert", active_non_embedding),
    };
    let at = |w: usize| -> Result<u64> {
        let mut e = v.edits.clone();
        e.push(format!("{key}={w}"));
        Ok(measure(&count(&config(&e, vocab)?)?))
    };
    // Parameters are affine in the FFN width: solve from two points, round to 8.
    let (p8, p16) = (at(8)? as f64, at(16)? as f64);
    let slope = (p16 - p8) / 8.0;
    if slope <= 0.0 {
        return Err(Error::BadInput(format!(
            "{}: {key} does not change the parameter count",
            v.name
        )));
    }
    let exact = 8.0 + (target as f64 - p8) / slope;
    let best = [(exact / 8.0).floor() * 8.0, (exact / 8.0).ceil() * 8.0]
        .into_iter()
        .map(|w| (w.max(8.0)) as usize)
        .min_by_key(|&w| at(w).map_or(u64::MAX, |p| p.abs_diff(target)))
        .unwrap_or(8);
    let mut e = v.edits.clone();
    e.push(format!("{key}={best}"));
    Ok(e)
}
