//! One sequence's generation as resumable steps: feed the model a chunk of the prompt or
//! the last sampled token, then (once the prompt is in) sample from the logits that
//! came back. `session::generate` runs the steps to the end for one caller
//! ([`Decoder::step`]); the server's scheduler feeds many decoders in one batched
//! forward ([`Decoder::input`], then [`Decoder::fed`]). Both share this code, so a
//! request served over HTTP gives the tokens `lineage run` gives.

use std::time::{Duration, Instant};

use super::backend::{Backend, Sequence};
use super::constraint::Constraint;
use super::sampler::{Sampler, StopChecker, StopReason};
use super::session::{Finish, GenerateOptions};
use crate::engine::prefix::PrefixCache;
use crate::text::{TokenStream, Tokenizer};
use crate::{Error, Result};

/// What one step produced.
#[derive(Debug, Default)]
pub struct Step {
    /// Prompt tokens prefilled by this step.
    pub prefilled: usize,
    /// The token sampled by this step.
    pub token: Option<u32>,
    /// Text completed by this step (may be empty while a stop string or UTF-8 is held).
    pub text: String,
    /// The sampled token's log-probability and the top alternatives, when asked for.
    pub logprob: Option<TokenLogprob>,
}

/// Log-probabilities under the model's distribution (log-softmax of the raw logits,
/// before penalties, temperature and filters), as OpenAI reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub id: u32,
    pub logprob: f32,
    /// The most likely tokens, most likely first (ties: lower id first).
    pub top: Vec<(u32, f32)>,
}

impl TokenLogprob {
    fn of(logits: &[f32], id: u32, top_n: usize) -> Self {
        let finite = || logits.iter().copied().filter(|l| !l.is_nan());
        let max = finite().fold(f32::NEG_INFINITY, f32::max) as f64;
        let lse = max + finite().map(|l| (l as f64 - max).exp()).sum::<f64>().ln();
        let lp = |l: f32| (l as f64 - lse) as f32;
        let by_logit = |a: &u32, b: &u32| {
            logits[*b as usize]
                .total_cmp(&logits[*a as usize])
                .then(a.cmp(b))
        };
        let mut idx: Vec<u32> = (0..logits.len() as u32)
            .filter(|&i| !logits[i as usize].is_nan())
            .collect();
        let top_n = top_n.min(idx.len());
        if top_n > 0 && top_n < idx.len() {
            idx.select_nth_unstable_by(top_n - 1, by_logit);
        }
        idx.truncate(top_n);
        idx.sort_by(by_logit);
        Self {
            id,
            logprob: lp(logits[id as usize]),
            top: idx
                .into_iter()
                .map(|i| (i, lp(logits[i as usize])))
                .collect(),
        }
    }
}

pub struct Decoder<'a> {
    seq: Sequence<'a>,
    sampler: Sampler,
    stop: StopChecker,
    stream: TokenStream<'a>,
    context_len: usize,
    max_tokens: usize,
    logprobs: Option<usize>,
    /// Constrained decoding: masks the logits before each sample.
    constraint: Option<Box<dyn Constraint>>,
    prompt_len: usize,
    /// Prompt ids not yet fed to the model.
    pending: Vec<u32>,
    /// The sampled token the model has not seen yet.
    feed: Option<u32>,
    /// Prompt positions taken from a prefix cache.
    cached: usize,
    history: Vec<u32>,
    generated: Vec<u32>,
    logits: Vec<f32>,
    finish: Option<Finish>,
    prefill_time: Duration,
    decode_start: Option<Instant>,
    decode_time: Duration,
}

impl<'a> Decoder<'a> {
    /// Checks the prompt against the context and the sampler settings.
    pub fn new(
        model: &'a Backend,
        tok: &'a Tokenizer,
        prompt_ids: &[u32],
        opts: &GenerateOptions,
    ) -> Result<Self> {
        let context_len = model.config().context_len;
        if prompt_ids.is_empty() {
            return Err(Error::BadInput("empty prompt".into()));
        }
        if prompt_ids.len() >= context_len {
            return Err(Error::ContextOverflow {
                len: prompt_ids.len(),
                context_len,
            });
        }
        Ok(Self {
            seq: model.start(),
            sampler: Sampler::new(opts.sampler.clone())?,
            stop: StopChecker::new(
                opts.stop.clone(),
                tok.eos_ids().to_vec(),
                Some(opts.max_tokens),
            ),
            stream: TokenStream::new(tok, !opts.keep_special),
            context_len,
            max_tokens: opts.max_tokens,
            logprobs: opts.logprobs,
            constraint: opts.constraint.as_ref().map(|c| c.start()).transpose()?,
            prompt_len: prompt_ids.len(),
            pending: prompt_ids.to_vec(),
            feed: None,
            cached: 0,
            history: prompt_ids.to_vec(),
            generated: Vec::new(),
            logits: Vec::new(),
            finish: None,
            prefill_time: Duration::ZERO,
            decode_start: None,
            decode_time: Duration::ZERO,
        })
    }

    /// Why generation ended, once it has.
    pub fn finish(&self) -> Option<&Finish> {
        self.finish.as_ref()
    }
    pub fn prompt_len(&self) -> usize {
        self.prompt_len
    }
    pub fn generated(&self) -> &[u32] {
        &self.generated
    }
    /// Prompt tokens not yet prefilled.
    pub fn pending_prompt(&self) -> usize {
        self.pending.len()
    }

    /// Prompt positions reused from a prefix cache.
    pub fn cached_prompt(&self) -> usize {
        self.cached
    }

    /// Takes the longest cached prefix of the prompt from `cache` (before any step).
    pub fn attach_prefix(&mut self, cache: &mut PrefixCache) {
        if self.pending.len() == self.prompt_len && self.cached == 0 {
            let n = self.seq.attach_prefix(cache, &self.pending);
            self.pending.drain(..n);
            self.cached = n;
        }
    }

    /// Offers the sequence's computed full blocks to `cache` (for later requests that
    /// share this prompt, or this conversation so far).
    pub fn publish_prefix(&self, cache: &mut PrefixCache) {
        let fed = self.history.len() - self.pending.len() - self.feed.is_some() as usize;
        self.seq.publish_prefix(cache, &self.history[..fed]);
    }

    /// What the model must see next: up to `chunk` prompt ids, or the sampled token;
    /// `None` once generation has ended. Feed them, then call [`Decoder::fed`].
    pub fn input(&mut self, chunk: usize) -> Option<(&mut Sequence<'a>, &[u32])> {
        if self.finish.is_some() {
            return None;
        }
        if !self.pending.is_empty() {
            let n = chunk.max(1).min(self.pending.len());
            return Some((&mut self.seq, &self.pending[..n]));
        }
        match &self.feed {
            Some(id) => Some((&mut self.seq, std::slice::from_ref(id))),
            None => None,
        }
    }

    /// Prefills one chunk of up to `chunk` prompt tokens or feeds the last sampled token,
    /// then samples the next token once the prompt is in.
    pub fn step(&mut self, chunk: usize) -> Result<Step> {
        if self.finish.is_some() {
            return Ok(Step::default());
        }
        let ids: &[u32] = match (&self.feed, self.pending.is_empty()) {
            (_, false) => &self.pending[..chunk.max(1).min(self.pending.len())],
            (Some(id), true) => std::slice::from_ref(id),
            // Nothing to feed and not finished: `new` refuses empty prompts.
            (None, true) => return Err(Error::BadInput("decoder: nothing to feed".into())),
        };
        let (t, n) = (Instant::now(), ids.len());
        let logits = self.seq.forward(ids)?;
        self.logits.clear();
        self.logits.extend_from_slice(logits);
        self.after_forward(n, t.elapsed())
    }

    /// The model has seen the `n` ids [`Decoder::input`] gave, and `logits` are those of
    /// the last one (`elapsed`: the forward's time, for the speed report).
    pub fn fed(&mut self, n: usize, logits: &[f32], elapsed: Duration) -> Result<Step> {
        self.logits.clear();
        self.logits.extend_from_slice(logits);
        self.after_forward(n, elapsed)
    }

    fn after_forward(&mut self, n: usize, elapsed: Duration) -> Result<Step> {
        if !self.pending.is_empty() {
            self.pending.drain(..n.min(self.pending.len()));
            self.prefill_time += elapsed;
            if !self.pending.is_empty() {
                return Ok(Step {
                    prefilled: n,
                    ..Step::default()
                });
            }
            let mut step = self.sample()?;
            step.prefilled = n;
            return Ok(step);
        }
        self.feed = None;
        self.decode_time += elapsed;
        self.sample()
    }

    /// Samples the next token from `self.logits` (the prompt is in).
    fn sample(&mut self) -> Result<Step> {
        let t = Instant::now();
        self.decode_start.get_or_insert(t);
        if self.max_tokens == 0 {
            self.finish = Some(Finish::Stop(StopReason::MaxTokens));
            return Ok(Step::default());
        }
        // Before sampling: penalties change the logits in place.
        let raw = self.logprobs.map(|_| self.logits.clone());
        if let Some(c) = &mut self.constraint {
            c.mask(&mut self.logits)?;
        }
        let id = self.sampler.sample(&mut self.logits, &self.history)?;
        if let Some(c) = &mut self.constraint {
            c.commit(id)?;
        }
        let logprob = raw.map(|l| TokenLogprob::of(&l, id, self.logprobs.unwrap_or(0)));
        self.history.push(id);
        self.generated.push(id);
        let piece = self.stream.push(id)?;
        let s = self.stop.push(id, &piece);
        let mut step = Step {
            token: Some(id),
            text: s.text,
            logprob,
            ..Step::default()
        };
        if let Some(reason) = s.stop {
            self.finish = Some(Finish::Stop(reason));
        } else if self.constraint.as_ref().is_some_and(|c| c.done()) {
            step.text += &self.end(Finish::Stop(StopReason::Complete))?;
        } else if self.history.len() >= self.context_len {
            step.text += &self.end(Finish::Context)?;
        } else {
            self.feed = Some(id);
        }
        self.decode_time += t.elapsed();
        Ok(step)
    }

    /// Ends generation for a reason outside the stop checker; returns the held text.
    fn end(&mut self, finish: Finish) -> Result<String> {
        self.finish = Some(finish);
        Ok(self.stream.finish()? + &self.stop.finish())
    }

    /// Stops now (the caller cancelled); returns the text still held back.
    pub fn cancel(&mut self) -> Result<String> {
        if self.finish.is_some() {
            return Ok(String::new());
        }
        self.end(Finish::Cancelled)
    }

    /// Prefill and decode speeds so far (tokens per second).
    pub fn speeds(&self) -> (f64, f64) {
        let n_decoded = self.generated.len().saturating_sub(1).max(1);
        let decode_s = self.decode_time.as_secs_f64();
        (
            self.prompt_len as f64 / self.prefill_time.as_secs_f64().max(1e-9),
            n_decoded as f64 / decode_s.max(1e-9),
        )
    }

    pub fn prompt_ids(&self) -> &[u32] {
        &self.history[..self.prompt_len]
    }
}
