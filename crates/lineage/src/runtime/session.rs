//! Text generation: prefill the prompt, then sample token by token with the KV cache
//! (the steps are `decoder::Decoder`'s),
//! streaming complete UTF-8 text and stopping on EOS, a stop string, the token budget,
//! the context end or a cancel flag (Ctrl-C in `lineage chat`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::backend::Backend;
use super::constraint::ConstraintFactory;
use super::decoder::Decoder;
use super::sampler::{SamplerConfig, StopReason};
use crate::text::Tokenizer;
use crate::Result;

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    pub sampler: SamplerConfig,
    /// Strings that end generation (not included in the text).
    pub stop: Vec<String>,
    /// Report each sampled token's log-probability and this many most likely
    /// alternatives (`None`: no log-probabilities are computed).
    pub logprobs: Option<usize>,
    /// Constrained decoding (a JSON schema): each sequence starts its own constraint from
    /// it, and only the tokens it allows are sampled (`None`: unconstrained).
    pub constraint: Option<Arc<dyn ConstraintFactory>>,
    /// Keep control tokens (`<|channel|>`, ...) in the text, for parsers that read them
    /// (harmony tool calls); by default they are left out.
    pub keep_special: bool,
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
    let mut d = Decoder::new(model, tok, prompt_ids, opts)?;
    let mut text = String::new();
    while d.finish().is_none() {
        // The prompt is prefilled in one forward; cancelling applies between tokens.
        if d.pending_prompt() == 0 && cancel.load(Ordering::Relaxed) {
            emit(&mut text, &d.cancel()?, on_text);
            break;
        }
        let step = d.step(usize::MAX)?;
        emit(&mut text, &step.text, on_text);
    }
    let (prefill_tok_s, decode_tok_s) = d.speeds();
    Ok(Generation {
        prompt_ids: d.prompt_ids().to_vec(),
        generated_ids: d.generated().to_vec(),
        text,
        finish: d.finish().cloned().unwrap_or(Finish::Cancelled),
        prefill_tok_s,
        decode_tok_s,
    })
}

fn emit(text: &mut String, piece: &str, on_text: &mut dyn FnMut(&str)) {
    if !piece.is_empty() {
        text.push_str(piece);
        on_text(piece);
    }
}
