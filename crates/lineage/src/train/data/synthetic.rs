//! Synthetic tasks for ablations, written as an ordinary data folder (`train.bin`,
//! `val.bin`, `meta.json`) so the trainer reads them like text.
//!
//! Every sequence is exactly `seq_len` tokens starting with BOS (id 0); the files are the
//! sequences back to back plus one final BOS, so a `Batcher` with the same `seq_len`
//! sees whole sequences as windows (inputs = one sequence, last target = the next BOS).
//! Id 1 is the separator. Layouts (positions within a sequence, 0-based):
//!
//! - recall: `BOS k1 v1 .. kn vn SEP q1 a1 .. qm am [SEP]`, keys distinct within a
//!   sequence, each query one of the n keys (uniform) and its answer that key's value.
//!   Keys come from `2..2+K`, values from `2+K..vocab` (K = (vocab-2)/2). This is
//!   multi-query associative recall (Arora et al. 2023, "Zoology", MQAR).
//! - copy: `BOS s1 .. sL SEP s1 .. sL [SEP]` with `s` uniform over `2..vocab`
//!   (the copying task of Graves et al. 2014, "Neural Turing Machines").
//!
//! `meta.json` lists the answer positions (the `ai`, or the second copy); the model's
//! prediction for position p is its output at p - 1.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::meta::{DataMeta, TokenDtype, FORMAT_VERSION, TRAIN_FILE, VAL_FILE};
use super::token_file::TokenWriter;
use crate::runtime::sampler::rng::{mix2, SplitMix64};
use crate::{Error, Result};

pub const BOS_ID: u32 = 0;
pub const SEP_ID: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyntheticTask {
    Recall,
    Copy,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct SyntheticConfig {
    pub task: SyntheticTask,
    /// Ids are in `0..vocab_size`.
    pub vocab_size: usize,
    /// Tokens per sequence (train with the same `--seq-len`).
    pub seq_len: usize,
    /// At least this many train tokens (rounded up to whole sequences).
    pub train_tokens: u64,
    /// At least this many validation tokens; default `max(train_tokens / 20, seq_len)`.
    pub val_tokens: Option<u64>,
    pub seed: u64,
    pub out: PathBuf,
}

/// The task layout recorded in `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticMeta {
    pub task: SyntheticTask,
    pub seq_len: usize,
    pub seed: u64,
    pub bos_id: u32,
    pub sep_id: u32,
    /// recall: key-value pairs per sequence; copy: segment length.
    pub items: usize,
    /// recall: queries per sequence; copy: 0.
    pub queries: usize,
    /// recall: key ids `[start, end)`; copy: symbol ids.
    pub key_range: [u32; 2],
    /// recall: value ids `[start, end)`; copy: same as `key_range`.
    pub value_range: [u32; 2],
    /// Positions (within a sequence) whose token is determined by the ones before it.
    pub answer_positions: Vec<usize>,
}

impl SyntheticMeta {
    /// The layout for `task` at `vocab_size` and `seq_len`, or an error saying what is
    /// too small.
    pub fn layout(
        task: SyntheticTask,
        vocab_size: usize,
        seq_len: usize,
        seed: u64,
    ) -> Result<Self> {
        let base = Self {
            task,
            seq_len,
            seed,
            bos_id: BOS_ID,
            sep_id: SEP_ID,
            items: 0,
            queries: 0,
            key_range: [2, vocab_size as u32],
            value_range: [2, vocab_size as u32],
            answer_positions: Vec::new(),
        };
        match task {
            SyntheticTask::Recall => base.recall(vocab_size),
            SyntheticTask::Copy => base.copy(vocab_size),
        }
    }

    /// n = (T - 2) / 4 pairs, then as many queries as fill the rest.
    fn recall(self, vocab_size: usize) -> Result<Self> {
        let t = self.seq_len;
        if t < 6 || vocab_size < 4 {
            return Err(Error::invalid(
                "synthetic",
                "recall needs --seq-len >= 6 and --vocab >= 4",
            ));
        }
        let n = (t - 2) / 4;
        let m = (t - 2 - 2 * n) / 2;
        let keys = (vocab_size - 2) / 2;
        if keys < n {
            return Err(Error::invalid(
                "synthetic",
                format!(
                    "recall with --seq-len {t} has {n} distinct keys per sequence but \
                     --vocab {vocab_size} gives only {keys}; use --vocab >= {}",
                    2 * n + 2
                ),
            ));
        }
        let k_end = 2 + keys as u32;
        Ok(Self {
            items: n,
            queries: m,
            key_range: [2, k_end],
            value_range: [k_end, vocab_size as u32],
            answer_positions: (0..m).map(|j| 2 * n + 3 + 2 * j).collect(),
            ..self
        })
    }

    /// A segment of L = (T - 2) / 2 symbols, SEP, the segment again.
    fn copy(self, vocab_size: usize) -> Result<Self> {
        if self.seq_len < 4 || vocab_size < 3 {
            return Err(Error::invalid(
                "synthetic",
                "copy needs --seq-len >= 4 and --vocab >= 3",
            ));
        }
        let l = (self.seq_len - 2) / 2;
        Ok(Self {
            items: l,
            answer_positions: (l + 2..2 * l + 2).collect(),
            ..self
        })
    }

    /// One sequence of `seq_len` tokens drawn from `rng`.
    pub(crate) fn sequence(&self, rng: &mut SplitMix64) -> Vec<u32> {
        let mut s = Vec::with_capacity(self.seq_len);
        s.push(self.bos_id);
        let draw = |rng: &mut SplitMix64, [a, b]: [u32; 2]| a + rng.below((b - a) as u64) as u32;
        match self.task {
            SyntheticTask::Recall => {
                let keys = distinct(rng, self.key_range, self.items);
                let values: Vec<u32> = keys.iter().map(|_| draw(rng, self.value_range)).collect();
                for (k, v) in keys.iter().zip(&values) {
                    s.extend([*k, *v]);
                }
                s.push(self.sep_id);
                for _ in 0..self.queries {
                    let j = rng.below(self.items as u64) as usize;
                    s.extend([keys[j], values[j]]);
                }
            }
            SyntheticTask::Copy => {
                let seg: Vec<u32> = (0..self.items).map(|_| draw(rng, self.key_range)).collect();
                s.extend(&seg);
                s.push(self.sep_id);
                s.extend(&seg);
            }
        }
        s.resize(self.seq_len, self.sep_id);
        s
    }
}

/// `n` distinct ids from `[a, b)` (`n <= b - a`), by rejection (n is at most half the
/// range here, so under two draws per id on average).
fn distinct(rng: &mut SplitMix64, [a, b]: [u32; 2], n: usize) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::with_capacity(n);
    let mut seen = std::collections::HashSet::with_capacity(n);
    while out.len() < n {
        let k = a + rng.below((b - a) as u64) as u32;
        if seen.insert(k) {
            out.push(k);
        }
    }
    out
}

/// Generates the task and writes the data folder; returns its meta.
pub fn write_synthetic(cfg: &SyntheticConfig) -> Result<DataMeta> {
    let layout = SyntheticMeta::layout(cfg.task, cfg.vocab_size, cfg.seq_len, cfg.seed)?;
    let t = cfg.seq_len as u64;
    let val_tokens = cfg.val_tokens.unwrap_or((cfg.train_tokens / 20).max(t));
    let n_train = cfg.train_tokens.div_ceil(t).max(1);
    let n_val = val_tokens.div_ceil(t).max(1);
    std::fs::create_dir_all(&cfg.out).map_err(|source| Error::Io {
        path: cfg.out.clone(),
        source,
    })?;
    let dtype = TokenDtype::for_vocab(cfg.vocab_size);
    // Independent streams per split: the validation sequences are not train sequences.
    let train_tokens = write_split(
        &cfg.out.join(TRAIN_FILE),
        dtype,
        &layout,
        n_train,
        mix2(cfg.seed, 0),
    )?;
    let val_tokens = write_split(
        &cfg.out.join(VAL_FILE),
        dtype,
        &layout,
        n_val,
        mix2(cfg.seed, 1),
    )?;
    let task = serde_json::to_value(cfg.task).ok();
    let name = task.as_ref().and_then(|v| v.as_str()).unwrap_or("?");
    let meta = DataMeta {
        format_version: FORMAT_VERSION,
        vocab_size: cfg.vocab_size,
        dtype,
        train_tokens,
        val_tokens,
        train_bytes: None,
        val_bytes: None,
        train_documents: n_train,
        val_documents: n_val,
        tokenizer: None,
        sources: vec![format!("synthetic:{name} seed={}", cfg.seed)],
        val_fraction: val_tokens as f64 / (train_tokens + val_tokens) as f64,
        docs: None,
        split: "independent draws: train and validation sequences come from separate \
                seeded streams; each file is whole sequences plus one final BOS"
            .into(),
        bos_id: Some(BOS_ID),
        synthetic: Some(layout),
    };
    meta.write(&cfg.out)?;
    Ok(meta)
}

fn write_split(
    path: &std::path::Path,
    dtype: TokenDtype,
    layout: &SyntheticMeta,
    sequences: u64,
    seed: u64,
) -> Result<u64> {
    let mut rng = SplitMix64::new(seed);
    let mut w = TokenWriter::create(path, dtype)?;
    for _ in 0..sequences {
        w.push(&layout.sequence(&mut rng))?;
    }
    w.push(&[BOS_ID])?;
    let n = w.written();
    w.finish()?;
    Ok(n)
}
