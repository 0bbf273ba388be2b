//! The scheduler: one thread owns the model and runs every active sequence. Between
//! steps it admits queued requests (up to `parallel` at once); each step is one batched
//! forward over every active sequence (`Backend::forward_batch`: each weight is read
//! once for the whole batch), with the decoding sequences' tokens first and prompt
//! chunks after them as the row budget allows, so a long prompt does not stall the
//! other streams. A request whose client went away is cancelled before the next step
//! and its blocks are freed.
//!
//! New sequences start from the prefix cache (`engine::prefix`): the blocks of an
//! earlier prompt that starts the same way (a shared system prompt) are reused.
//!
//! Batch invariance: a sequence's tokens and log-probabilities do not depend on what
//! else is running. The kernels compute each row in one fixed order whatever the batch
//! (kernels/quant/exact.rs), attention reads only the sequence's own blocks, a prompt
//! is always cut into the same chunks, and a prefix-cache hit holds exactly the values
//! a prefill would write (tests/batch_invariance.rs).

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::Instant;

use lineage::engine::kv::BLOCK;
use lineage::engine::prefix::PrefixCache;
use lineage::engine::MAX_BATCH;
use lineage::runtime::backend::{Backend, BatchScratch};
use lineage::runtime::decoder::{Decoder, TokenLogprob};
use lineage::runtime::sampler::StopReason;
use lineage::runtime::session::{Finish, GenerateOptions};
use lineage::text::Tokenizer;
use tokio::sync::mpsc::UnboundedSender;

use crate::metrics::Metrics;

/// Prompt tokens prefilled per step: long prompts yield to the other streams between chunks.
const PREFILL_CHUNK: usize = 128;

/// One generation to run.
pub struct Job {
    pub prompt: Vec<u32>,
    pub opts: GenerateOptions,
    pub events: UnboundedSender<Event>,
}

/// What a job reports back, in order: text pieces (each after its tokens' log-probabilities
/// when asked for), then exactly one `Done` or `Failed`.
#[derive(Debug)]
pub enum Event {
    /// The log-probabilities of a token, sent before the text it completes.
    Logprob(TokenLogprob),
    Text(String),
    Done(Usage),
    Failed(String),
}

#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub finish_reason: &'static str,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

pub struct Scheduler {
    tx: SyncSender<Job>,
    pub metrics: Arc<Metrics>,
    pub queue: usize,
}

impl Scheduler {
    /// Starts the worker thread; at most `queue` jobs wait for one of `parallel` slots.
    /// The prefix cache keeps up to `cache_tokens` positions of earlier prompts.
    pub fn start(
        backend: Backend,
        tok: Arc<Tokenizer>,
        parallel: usize,
        queue: usize,
        cache_tokens: usize,
    ) -> Self {
        let (tx, rx) = sync_channel(queue);
        let metrics = Arc::new(Metrics::default());
        let m = Arc::clone(&metrics);
        let cache = PrefixCache::new(cache_tokens / BLOCK);
        std::thread::Builder::new()
            .name("lineage-scheduler".into())
            .spawn(move || {
                let mut w = Worker {
                    backend: &backend,
                    tok: &tok,
                    m: &m,
                    cache,
                    batch: backend.new_batch(),
                };
                w.run(rx, parallel.max(1))
            })
            .expect("spawn the scheduler thread");
        Self { tx, metrics, queue }
    }

    /// Queues a job; `false` when the queue is full.
    pub fn submit(&self, job: Job) -> bool {
        match self.tx.try_send(job) {
            Ok(()) => {
                Metrics::add(&self.metrics.queued, 1);
                Metrics::add(&self.metrics.requests, 1);
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                Metrics::add(&self.metrics.rejected, 1);
                false
            }
        }
    }
}

struct Active<'a> {
    dec: Decoder<'a>,
    events: UnboundedSender<Event>,
}

/// The scheduler thread's state.
struct Worker<'a> {
    backend: &'a Backend,
    tok: &'a Tokenizer,
    m: &'a Metrics,
    cache: PrefixCache,
    batch: BatchScratch,
}

impl<'a> Worker<'a> {
    fn run(&mut self, rx: Receiver<Job>, parallel: usize) {
        let mut active: Vec<Active<'a>> = Vec::new();
        loop {
            if !self.admit(&rx, parallel, &mut active) {
                return; // the server is gone
            }
            self.drop_disconnected(&mut active);
            self.step(&mut active);
            for a in active.iter().filter(|a| a.dec.finish().is_some()) {
                a.dec.publish_prefix(&mut self.cache);
            }
            let before = active.len();
            active.retain(|a| a.dec.finish().is_none());
            Metrics::sub(&self.m.active, (before - active.len()) as u64);
            self.gauges(&active);
        }
    }

    /// Moves queued jobs into free slots (waiting for one when nothing runs); `false`
    /// once the server has gone.
    fn admit(&mut self, rx: &Receiver<Job>, parallel: usize, active: &mut Vec<Active<'a>>) -> bool {
        while active.len() < parallel {
            let job = if active.is_empty() {
                match rx.recv() {
                    Ok(j) => j,
                    Err(_) => return false,
                }
            } else {
                match rx.try_recv() {
                    Ok(j) => j,
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            };
            Metrics::sub(&self.m.queued, 1);
            match Decoder::new(self.backend, self.tok, &job.prompt, &job.opts) {
                Ok(mut dec) => {
                    dec.attach_prefix(&mut self.cache);
                    Metrics::add(&self.m.cached_tokens, dec.cached_prompt() as u64);
                    Metrics::add(&self.m.active, 1);
                    active.push(Active {
                        dec,
                        events: job.events,
                    });
                }
                Err(e) => {
                    let _ = job.events.send(Event::Failed(e.to_string()));
                }
            }
        }
        true
    }

    /// Cancels the sequences whose client went away (their blocks go when they are
    /// dropped after this step).
    fn drop_disconnected(&self, active: &mut [Active]) {
        for a in active.iter_mut().filter(|a| a.events.is_closed()) {
            if a.dec.finish().is_none() {
                let _ = a.dec.cancel();
                Metrics::add(&self.m.cancelled, 1);
            }
        }
    }

    /// One batched forward: every decoding sequence's token, then whole prompt chunks
    /// while the row budget lasts (a chunk that does not fit waits, so a prompt is cut
    /// the same way whatever else runs).
    fn step(&mut self, active: &mut [Active]) {
        let mut budget = MAX_BATCH;
        let mut picked: Vec<(usize, usize)> = Vec::new();
        let decoding = |a: &Active| a.dec.pending_prompt() == 0;
        for pass_decoding in [true, false] {
            for (i, a) in active.iter().enumerate() {
                if a.dec.finish().is_some() || decoding(a) != pass_decoding {
                    continue;
                }
                let n = if pass_decoding {
                    1
                } else {
                    PREFILL_CHUNK.min(a.dec.pending_prompt())
                };
                if n <= budget {
                    budget -= n;
                    picked.push((i, n));
                }
            }
        }
        if picked.is_empty() {
            return;
        }
        let t = Instant::now();
        let mut items = Vec::with_capacity(picked.len());
        let mut it = picked.iter().peekable();
        for (i, a) in active.iter_mut().enumerate() {
            if it.peek().is_some_and(|(j, _)| *j == i) {
                it.next();
                if let Some(item) = a.dec.input(PREFILL_CHUNK) {
                    items.push(item);
                }
            }
        }
        let result = self.backend.forward_batch(&mut self.batch, &mut items);
        drop(items);
        let us = t.elapsed().as_micros() as u64;
        let logits = match result {
            Ok(l) => l,
            Err(e) => {
                for &(i, _) in &picked {
                    let a = &mut active[i];
                    let _ = a.dec.cancel();
                    let _ = a.events.send(Event::Failed(e.to_string()));
                }
                return;
            }
        };
        let vocab = logits.len() / picked.len();
        let (mut prefilled, mut decoded) = (0, 0);
        for (k, &(i, n)) in picked.iter().enumerate() {
            let a = &mut active[i];
            let row = &logits[k * vocab..(k + 1) * vocab];
            let was_prefill = a.dec.pending_prompt() > 0;
            match a.dec.fed(n, row, t.elapsed()) {
                Ok(s) => {
                    if was_prefill {
                        prefilled += n;
                        if a.dec.pending_prompt() == 0 {
                            a.dec.publish_prefix(&mut self.cache);
                        }
                    } else {
                        decoded += 1;
                    }
                    report(a, s, self.m);
                }
                Err(e) => {
                    let _ = a.dec.cancel();
                    let _ = a.events.send(Event::Failed(e.to_string()));
                }
            }
        }
        // The step's time is split between prefill and decode by their rows.
        let rows = (prefilled + decoded).max(1) as u64;
        Metrics::add(&self.m.prompt_tokens, prefilled as u64);
        Metrics::add(&self.m.prefill_us, us * prefilled as u64 / rows);
        Metrics::add(&self.m.decode_us, us * decoded as u64 / rows);
        Metrics::add(&self.m.batch_rows, (prefilled + decoded) as u64);
        Metrics::add(&self.m.batches, 1);
    }

    fn gauges(&self, active: &[Active]) {
        use std::sync::atomic::Ordering::Relaxed;
        let held: usize = active
            .iter()
            .map(|a| a.dec.prompt_len() + a.dec.generated().len())
            .sum();
        self.m.kv_tokens.store(held as u64, Relaxed);
        self.m
            .kv_blocks
            .store(self.backend.live_blocks() as u64, Relaxed);
        self.m.cache_blocks.store(self.cache.len() as u64, Relaxed);
    }
}

/// Sends one step's results to the sequence's client.
fn report(a: &mut Active, s: lineage::runtime::decoder::Step, m: &Metrics) {
    if s.token.is_some() {
        Metrics::add(&m.generated_tokens, 1);
    }
    if let Some(lp) = s.logprob {
        let _ = a.events.send(Event::Logprob(lp));
    }
    if !s.text.is_empty() {
        let _ = a.events.send(Event::Text(s.text));
    }
    if let Some(f) = a.dec.finish() {
        let _ = a.events.send(Event::Done(Usage {
            finish_reason: finish_reason(f),
            prompt_tokens: a.dec.prompt_len(),
            completion_tokens: a.dec.generated().len(),
        }));
    }
}

/// OpenAI's names: `stop` (EOS or a stop string), `length` (budget or context).
fn finish_reason(f: &Finish) -> &'static str {
    match f {
        Finish::Stop(StopReason::MaxTokens) | Finish::Context => "length",
        Finish::Stop(_) => "stop",
        Finish::Cancelled => "cancelled",
    }
}
