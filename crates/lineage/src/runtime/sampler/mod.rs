//! Token sampling: penalties, then greedy or top-k -> top-p -> min-p -> temperature ->
//! a seeded draw; plus `StopChecker` for EOS, stop strings and max tokens.
//!
//! Order follows llama.cpp's default sampler chain (`common/sampling.cpp`: penalties,
//! top_k, top_p, min_p, temperature, dist), so top-p and min-p see the temperature-1
//! distribution. Repetition penalty as HF `RepetitionPenaltyLogitsProcessor` and llama.cpp
//! `llama_sampler_penalties` (divide positive logits, multiply negative ones); presence and
//! frequency penalties as the OpenAI API (`logit -= count * freq + (count > 0) * presence`).

mod config;
pub(crate) mod rng;
mod stop;

use std::collections::HashMap;

pub use config::SamplerConfig;
pub use stop::{StopChecker, StopReason, StopStep};

use crate::{Error, Result};
use rng::SplitMix64;

/// A sampler with its own seeded random stream: the same config, logits and history
/// give the same tokens.
#[derive(Debug, Clone)]
pub struct Sampler {
    config: SamplerConfig,
    rng: SplitMix64,
}

impl Sampler {
    pub fn new(config: SamplerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            rng: SplitMix64::new(config.seed),
            config,
        })
    }

    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// Picks the next token. `logits` ([vocab_size]) are modified in place by the
    /// penalties; `history` holds the ids so far (prompt and generated).
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> Result<u32> {
        if logits.is_empty() {
            return Err(Error::BadInput("sampler: empty logits".into()));
        }
        let window = match self.config.penalty_last_n {
            Some(n) => &history[history.len().saturating_sub(n)..],
            None => history,
        };
        apply_penalties(logits, window, &self.config);
        if self.config.temperature == 0.0 {
            return argmax(logits);
        }
        let candidates = self.filter(logits)?;
        Ok(self.draw(&candidates))
    }

    /// The candidates left after top-k, top-p and min-p, as (id, logit), never empty.
    /// Only top-p needs them sorted; otherwise the vocabulary is never sorted.
    fn filter(&self, logits: &[f32]) -> Result<Vec<(u32, f32)>> {
        let mut c = candidates(logits, self.config.top_k)?;
        if self.config.top_p < 1.0 {
            c.sort_unstable_by(by_logit_desc);
            let keep = top_p_len(&softmax(&c), self.config.top_p);
            c.truncate(keep.max(1));
        }
        if self.config.min_p > 0.0 {
            // p_i >= min_p * p_max  <=>  exp(l_i - l_max) >= min_p; keeps the top token.
            let max = max_logit(&c);
            c.retain(|&(_, l)| ((l - max) as f64).exp() >= self.config.min_p as f64);
        }
        if c.is_empty() {
            return Err(Error::BadInput(
                "sampler: no candidate token is left".into(),
            ));
        }
        Ok(c)
    }

    fn draw(&mut self, candidates: &[(u32, f32)]) -> u32 {
        let probs = softmax_at(candidates, self.config.temperature as f64);
        let u = self.rng.next_f64();
        let mut acc = 0.0;
        for (p, &(id, _)) in probs.iter().zip(candidates) {
            acc += p;
            if u < acc {
                return id;
            }
        }
        // Rounding left `acc` just under 1: the last candidate takes the remainder.
        candidates[candidates.len() - 1].0
    }
}

/// Applies repetition, presence and frequency penalties for the tokens in `history`.
/// Ids outside the logits are ignored.
pub fn apply_penalties(logits: &mut [f32], history: &[u32], config: &SamplerConfig) {
    if config.repetition_penalty == 1.0
        && config.presence_penalty == 0.0
        && config.frequency_penalty == 0.0
    {
        return;
    }
    let mut counts: HashMap<u32, u32> = HashMap::new();
    for &id in history {
        *counts.entry(id).or_default() += 1;
    }
    for (id, count) in counts {
        let Some(l) = logits.get_mut(id as usize) else {
            continue;
        };
        let r = config.repetition_penalty;
        *l = if *l > 0.0 { *l / r } else { *l * r };
        *l -= count as f32 * config.frequency_penalty + config.presence_penalty;
    }
}

/// Index of the largest logit; ties go to the lowest id, NaN never wins.
pub fn argmax(logits: &[f32]) -> Result<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &l) in logits.iter().enumerate() {
        if !l.is_nan() && best.is_none_or(|(_, b)| l > b) {
            best = Some((i, l));
        }
    }
    best.map(|(i, _)| i as u32)
        .ok_or_else(|| Error::BadInput("sampler: all logits are NaN".into()))
}

fn by_logit_desc(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

fn max_logit(c: &[(u32, f32)]) -> f32 {
    c.iter().map(|x| x.1).fold(f32::NEG_INFINITY, f32::max)
}

/// Non-NaN (id, logit) pairs, only the `top_k` largest when non-zero (unsorted).
fn candidates(logits: &[f32], top_k: usize) -> Result<Vec<(u32, f32)>> {
    let mut c: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.is_nan())
        .map(|(i, &l)| (i as u32, l))
        .collect();
    if top_k > 0 && top_k < c.len() {
        c.select_nth_unstable_by(top_k - 1, by_logit_desc);
        c.truncate(top_k);
    }
    if max_logit(&c) == f32::NEG_INFINITY {
        return Err(Error::BadInput(
            "sampler: no finite logit to sample from".into(),
        ));
    }
    // +inf logits hold all the probability, shared equally: keep only them, as equals
    // (their differences would be inf - inf = NaN).
    if max_logit(&c) == f32::INFINITY {
        c.retain(|&(_, l)| l == f32::INFINITY);
        c.iter_mut().for_each(|x| x.1 = 0.0);
    }
    Ok(c)
}

/// Probabilities of candidates in their order, computed in f64.
fn softmax(candidates: &[(u32, f32)]) -> Vec<f64> {
    softmax_at(candidates, 1.0)
}

/// Softmax of logit / temperature, in f64 so that neither step overflows.
fn softmax_at(candidates: &[(u32, f32)], temperature: f64) -> Vec<f64> {
    let max = max_logit(candidates) as f64;
    let exps: Vec<f64> = candidates
        .iter()
        .map(|&(_, l)| ((l as f64 - max) / temperature).exp())
        .collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// Smallest prefix of sorted probabilities whose mass reaches `top_p` (all when `top_p >= 1`).
fn top_p_len(probs: &[f64], top_p: f32) -> usize {
    if top_p >= 1.0 {
        return probs.len();
    }
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if acc >= top_p as f64 {
            return i + 1;
        }
    }
    probs.len()
}

#[cfg(test)]
mod tests;
