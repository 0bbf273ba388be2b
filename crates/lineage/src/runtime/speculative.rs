//! Speculative greedy decoding: a drafter proposes the next few tokens, the target model
//! checks them all in one batched forward, and every proposal that equals the target's
//! own greedy choice is kept, plus the target's token after the last kept one. The
//! engine's kernels are batch-invariant (a row's logits do not depend on the other rows
//! of its forward), so each checked position's logits are bit for bit those of plain
//! one-token decoding, and the output equals plain greedy decoding token for token.
//!
//! Drafters: prompt lookup (the tokens that followed the latest earlier occurrence of
//! the text's last n-gram; Saxena 2023, llama.cpp's `lookup`) and a draft model with the
//! same vocabulary (Leviathan et al. 2023, greedy acceptance).

use crate::engine::{Engine, State};
use crate::model::ops::argmax;
use crate::{Error, Result};

/// Most tokens a draft may hold: a rejected draft is taken back with `Engine::rewind`,
/// which goes back at most one cache block.
pub const MAX_DRAFT: usize = 15;

/// Proposes up to `k` tokens to follow `history` (prompt + generated so far).
pub trait Drafter {
    fn draft(&mut self, history: &[u32], k: usize) -> Result<Vec<u32>>;
}

/// Prompt lookup: the longest trailing n-gram (`max_n` down to `min_n` tokens) that
/// occurred earlier; propose what followed its latest earlier occurrence.
pub struct PromptLookup {
    pub min_n: usize,
    pub max_n: usize,
}

impl Default for PromptLookup {
    fn default() -> Self {
        Self { min_n: 1, max_n: 4 }
    }
}

impl Drafter for PromptLookup {
    fn draft(&mut self, h: &[u32], k: usize) -> Result<Vec<u32>> {
        for n in (self.min_n.max(1)..=self.max_n).rev() {
            if h.len() <= n {
                continue;
            }
            let tail = &h[h.len() - n..];
            // Latest earlier start i with h[i..i+n] == tail and something after it.
            if let Some(i) = (0..h.len() - n).rev().find(|&i| &h[i..i + n] == tail) {
                let from = i + n;
                return Ok(h[from..(from + k).min(h.len())].to_vec());
            }
        }
        Ok(Vec::new())
    }
}

/// A smaller model of the same vocabulary drafting greedily; its cache follows the
/// accepted text (what it drafted beyond that is taken back).
pub struct DraftModel<'e> {
    engine: &'e Engine,
    st: State,
}

impl<'e> DraftModel<'e> {
    pub fn new(engine: &'e Engine, target_vocab: usize) -> Result<Self> {
        if engine.vocab_size() != target_vocab {
            return Err(Error::BadInput(format!(
                "draft model: vocabulary of {} tokens, the target has {target_vocab}",
                engine.vocab_size()
            )));
        }
        Ok(Self {
            engine,
            st: engine.new_state(),
        })
    }
}

impl Drafter for DraftModel<'_> {
    fn draft(&mut self, h: &[u32], k: usize) -> Result<Vec<u32>> {
        let e = self.engine;
        if h.len() + k > e.max_context() || k == 0 {
            return Ok(Vec::new());
        }
        // Positions past the accepted text (last round's unaccepted drafts) go back.
        let pos = self.st.pos().min(h.len() - 1);
        if self.st.pos() > pos {
            e.rewind(&mut self.st, pos)?;
        }
        let mut next = argmax(e.forward(&mut self.st, &h[pos..])?) as u32;
        let mut out = vec![next];
        while out.len() < k {
            next = argmax(e.forward(&mut self.st, &[next])?) as u32;
            out.push(next);
        }
        // The cache holds h plus all drafts but the last; keep only h.
        e.rewind(&mut self.st, h.len())?;
        Ok(out)
    }
}

/// What a speculative run did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpecStats {
    /// Target forwards after the prompt (plain decoding makes one per token).
    pub forwards: usize,
    pub drafted: usize,
    pub accepted: usize,
}

impl SpecStats {
    /// Accepted share of the drafted tokens.
    pub fn acceptance(&self) -> f64 {
        self.accepted as f64 / self.drafted.max(1) as f64
    }
}

/// `n` greedy tokens after `prompt`, one target forward per token.
pub fn greedy(e: &Engine, prompt: &[u32], n: usize) -> Result<Vec<u32>> {
    let mut st = e.new_state();
    let mut next = argmax(e.forward(&mut st, prompt)?) as u32;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.push(next);
        if out.len() < n {
            next = argmax(e.forward(&mut st, &[next])?) as u32;
        }
    }
    Ok(out)
}

/// `n` greedy tokens after `prompt`, drafting up to `k` (at most [`MAX_DRAFT`]) at a time:
/// the same tokens as [`greedy`].
pub fn greedy_speculative(
    e: &Engine,
    prompt: &[u32],
    n: usize,
    k: usize,
    drafter: &mut dyn Drafter,
) -> Result<(Vec<u32>, SpecStats)> {
    let k = k.clamp(1, MAX_DRAFT);
    let mut st = e.new_state();
    let mut stats = SpecStats::default();
    let mut next = argmax(e.forward(&mut st, prompt)?) as u32;
    let mut hist: Vec<u32> = prompt.to_vec();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.push(next);
        hist.push(next);
        if out.len() == n {
            break;
        }
        let room = (n - out.len()).min(e.max_context().saturating_sub(hist.len()));
        let mut d = drafter.draft(&hist, k.min(room))?;
        d.truncate(k.min(room));
        let base = st.pos();
        let mut feed = vec![next];
        feed.extend_from_slice(&d);
        let logits = e.forward_all(&mut st, &feed)?;
        stats.forwards += 1;
        stats.drafted += d.len();
        let v = e.vocab_size();
        let choice = |i: usize| argmax(&logits[i * v..(i + 1) * v]) as u32;
        let a = d
            .iter()
            .enumerate()
            .take_while(|&(i, &t)| choice(i) == t)
            .count();
        stats.accepted += a;
        e.rewind(&mut st, base + 1 + a)?;
        for &t in &d[..a] {
            if out.len() < n {
                out.push(t);
                hist.push(t);
            }
        }
        next = choice(a);
    }
    Ok((out, stats))
}
