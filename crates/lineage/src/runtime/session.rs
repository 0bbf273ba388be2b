//! Text generation: prefill the prompt, then sample token by token with the KV cache,
//! streaming complete UTF-8 text and stopping on EOS, a stop string, the token budget,
//! the context end or a cancel flag (Ctrl-C in `lineage chat`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::backend::Backend;
use super::sampler::{Sampler, SamplerConfig, StopChecker, StopReason};
use crate::text::{TokenStream, Tokenizer};
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    pub sampler: SamplerConfig,
    /// Strings that end generation (not included in the text).
    pub stop: Vec<String>,
}

/// Why generation ended, beyond the stop checker's reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    Stop(StopReason),
    /// The model's context is full.
    Context,
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct Generation {
    pub prompt_ids: Vec<u32>,
    pub generated_ids: Vec<u32>,
    pub text: String,
    pub finish: Finish,
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
}

/// Generates from `prompt_ids` with `model` (the fast engine or the candle model),
/// calling `on_text` with each newly completed piece.
pub fn generate(
    model: &Backend,
    tok: &Tokenizer,
    prompt_ids: &[u32],
    opts: &GenerateOptions,
    cancel: &AtomicBool,
    on_text: &mut dyn FnMut(&str),
) -> Result<Generation> {
    let ctx = model.config().context_len;
    if prompt_ids.is_empty() {
        return Err(Error::BadInput("empty prompt".into()));
    }
    if prompt_ids.len() >= ctx {
        return Err(Error::ContextOverflow {
            len: prompt_ids.len(),
            context_len: ctx,
        });
    }
    let mut sampler = Sampler::new(opts.sampler.clone())?;
    let mut stop = StopChecker::new(
        opts.stop.clone(),
        tok.eos_ids().to_vec(),
        Some(opts.max_tokens),
    );
    let mut stream = TokenStream::new(tok, true);
    let mut seq = model.start();
    let mut history = prompt_ids.to_vec();
    let (mut text, mut generated) = (String::new(), Vec::new());

    let t0 = Instant::now();
    let mut logits = seq.forward(prompt_ids)?.to_vec();
    let prefill_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let finish = loop {
        if opts.max_tokens == 0 {
            break Finish::Stop(StopReason::MaxTokens);
        }
        if cancel.load(Ordering::Relaxed) {
            break Finish::Cancelled;
        }
        let id = sampler.sample(&mut logits, &history)?;
        history.push(id);
        generated.push(id);
        let piece = stream.push(id)?;
        let step = stop.push(id, &piece);
        emit(&mut text, &step.text, on_text);
        if let Some(reason) = step.stop {
            break Finish::Stop(reason);
        }
        if history.len() >= ctx {
            break Finish::Context;
        }
        logits.copy_from_slice(seq.forward(&[id])?);
    };
    if !matches!(finish, Finish::Stop(_)) {
        let rest = stream.finish()? + &stop.finish();
        emit(&mut text, &rest, on_text);
    }
    let decode_s = t1.elapsed().as_secs_f64();
    let n_decoded = generated.len().saturating_sub(1).max(1);
    Ok(Generation {
        prompt_ids: prompt_ids.to_vec(),
        generated_ids: generated,
        text,
        finish,
        prefill_tok_s: prompt_ids.len() as f64 / prefill_s.max(1e-9),
        decode_tok_s: n_decoded as f64 / decode_s.max(1e-9),
    })
}

fn emit(text: &mut String, piece: &str, on_text: &mut dyn FnMut(&str)) {
    if !piece.is_empty() {
        text.push_str(piece);
        on_text(piece);
    }
}
