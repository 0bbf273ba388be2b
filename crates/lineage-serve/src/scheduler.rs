//! The scheduler: one thread owns the model and runs every active sequence. Between
//! steps it admits queued requests (up to `parallel` at once), and it interleaves
//! chunked prefill with decoding, so a long prompt does not stall the other streams.
//! A request whose client went away is cancelled at its next step and its cache freed.
//!
//! Each sequence is computed on its own (`Decoder`), so its tokens do not depend on what
//! else is running: batch invariance holds by construction. The cost is that every
//! sequence reads the weights once per step; one batched forward across sequences is
//! the next step (issue 15).

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::Instant;

use lineage::runtime::backend::Backend;
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
    pub fn start(backend: Backend, tok: Arc<Tokenizer>, parallel: usize, queue: usize) -> Self {
        let (tx, rx) = sync_channel(queue);
        let metrics = Arc::new(Metrics::default());
        let m = Arc::clone(&metrics);
        std::thread::Builder::new()
            .name("lineage-scheduler".into())
            .spawn(move || run(&backend, &tok, rx, parallel.max(1), &m))
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

fn run(backend: &Backend, tok: &Tokenizer, rx: Receiver<Job>, parallel: usize, m: &Metrics) {
    let mut active: Vec<Active> = Vec::new();
    loop {
        while active.len() < parallel {
            let job = if active.is_empty() {
                match rx.recv() {
                    Ok(j) => j,
                    Err(_) => return, // the server is gone
                }
            } else {
                match rx.try_recv() {
                    Ok(j) => j,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => break,
                }
            };
            Metrics::sub(&m.queued, 1);
            if let Some(a) = admit(backend, tok, job) {
                Metrics::add(&m.active, 1);
                active.push(a);
            }
        }
        for a in active.iter_mut() {
            step(a, m);
        }
        let before = active.len();
        active.retain(|a| a.dec.finish().is_none());
        Metrics::sub(&m.active, (before - active.len()) as u64);
        let held: usize = active
            .iter()
            .map(|a| a.dec.prompt_len() + a.dec.generated().len())
            .sum();
        m.kv_tokens
            .store(held as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

fn admit<'a>(backend: &'a Backend, tok: &'a Tokenizer, job: Job) -> Option<Active<'a>> {
    match Decoder::new(backend, tok, &job.prompt, &job.opts) {
        Ok(dec) => Some(Active {
            dec,
            events: job.events,
        }),
        Err(e) => {
            let _ = job.events.send(Event::Failed(e.to_string()));
            None
        }
    }
}

/// One step of one sequence, its text sent to its client.
fn step(a: &mut Active, m: &Metrics) {
    if a.events.is_closed() {
        let _ = a.dec.cancel();
        Metrics::add(&m.cancelled, 1);
        return;
    }
    let t = Instant::now();
    let result = a.dec.step(PREFILL_CHUNK);
    let us = t.elapsed().as_micros() as u64;
    match result {
        Ok(s) => {
            if s.prefilled > 0 {
                Metrics::add(&m.prompt_tokens, s.prefilled as u64);
                Metrics::add(&m.prefill_us, us);
            }
            if s.token.is_some() {
                Metrics::add(&m.generated_tokens, 1);
                Metrics::add(&m.decode_us, us);
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
        Err(e) => {
            let _ = a.dec.cancel();
            let _ = a.events.send(Event::Failed(e.to_string()));
        }
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
