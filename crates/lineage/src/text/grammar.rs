//! Constrained decoding over the tokenizer's vocabulary with llguidance (Microsoft's
//! structured-output engine, as llama.cpp and vLLM use it): a JSON schema is compiled
//! into an Earley parser with a lazy lexer, and at each step the tokens whose bytes can
//! continue a valid document are allowed (`runtime::constraint` is the hook).
//!
//! [`Grammars`] is built once per tokenizer (the token trie and llguidance's slices of the
//! vocabulary: tens of milliseconds); [`Grammars::compile`] runs per request and every
//! sequence then clones the compiled parser. Resource limits (`ParserLimits`) bound what a
//! hostile schema may cost: compiling and each mask fail with an error past them.
//! Reference: llguidance `Matcher`, `ParserFactory`, `TopLevelGrammar::from_json_schema`;
//! `docs/json_schema.md` there for the supported keywords.

use std::sync::{Arc, Mutex};

use llguidance::api::{ParserLimits, TopLevelGrammar};
use llguidance::toktrie::{TokEnv, TokRxInfo, TokTrie, TokenId, TokenizerEnv};
use llguidance::{Matcher, ParserFactory};
use serde_json::{json, Value};

use super::Tokenizer;
use crate::runtime::constraint::{Constraint, ConstraintFactory};
use crate::{Error, Result};

/// What the output must be.
#[derive(Debug, Clone, PartialEq)]
pub enum Structure {
    /// Any JSON object (OpenAI's `json_object`).
    JsonObject,
    /// A document valid under this JSON schema (`json_schema`).
    JsonSchema(Value),
    /// A document of this grammar in llguidance's Lark syntax (JSON schemas inline with
    /// `%json {...}`): a forced tool call in a model's own call format.
    Lark(String),
}

/// llguidance's view of our tokenizer: the trie of token bytes, and our own encoder.
struct Env {
    trie: TokTrie,
    tok: Arc<Tokenizer>,
}

impl TokenizerEnv for Env {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<TokenId> {
        match std::str::from_utf8(s).map(|t| self.tok.encode(t, false)) {
            Ok(Ok(ids)) => ids,
            _ => self.trie.greedy_tokenize(s),
        }
    }
}

/// Compiles output structures for one tokenizer.
pub struct Grammars {
    factory: ParserFactory,
    eos_ids: Arc<[u32]>,
}

impl Grammars {
    pub fn new(tok: Arc<Tokenizer>) -> Result<Self> {
        let eos = tok
            .eos_id()
            .or_else(|| tok.eos_ids().first().copied())
            .ok_or_else(|| Error::BadInput("constrained decoding needs an EOS token".into()))?;
        let words: Vec<Vec<u8>> = tok
            .token_pieces()?
            .into_iter()
            .map(|p| match p.special {
                true => [&[TokTrie::SPECIAL_TOKEN_MARKER], &p.bytes[..]].concat(),
                false => p.bytes,
            })
            .collect();
        let info = TokRxInfo::new(words.len() as u32, eos);
        let eos_ids = tok.eos_ids().into();
        let env: TokEnv = Arc::new(Env {
            trie: TokTrie::from(&info, &words),
            tok,
        });
        let mut factory = ParserFactory::new_simple(&env).map_err(llg_error)?;
        factory.quiet();
        *factory.limits_mut() = limits();
        Ok(Self { factory, eos_ids })
    }

    /// The compiled constraint, or an error with llguidance's message (an unsupported
    /// keyword, a schema past the limits).
    pub fn compile(&self, s: &Structure) -> Result<Arc<dyn ConstraintFactory>> {
        let grammar = match s {
            Structure::Lark(g) => TopLevelGrammar::from_lark(g.clone()),
            Structure::JsonObject | Structure::JsonSchema(_) => {
                let mut schema = match s {
                    Structure::JsonSchema(v) => v.clone(),
                    _ => json!({"type": "object"}),
                };
                if let Value::Object(m) = &mut schema {
                    // Compact JSON with one space after `:` and `,`, and no other
                    // whitespace: a small model cannot wander into runs of newlines.
                    m.insert(
                        "x-guidance".into(),
                        json!({"whitespace_flexible": false, "item_separator": ", ", "key_separator": ": "}),
                    );
                }
                TopLevelGrammar::from_json_schema(schema)
            }
        };
        let parser = self.factory.create_parser(grammar).map_err(llg_error)?;
        let mut matcher = Matcher::new(Ok(parser));
        // The first mask builds the lexer and the first Earley rows: a schema past the
        // limits fails here, before it reaches a running sequence.
        matcher.compute_mask().map_err(llg_error)?;
        Ok(Arc::new(Compiled {
            matcher: Mutex::new(matcher),
            eos_ids: Arc::clone(&self.eos_ids),
        }))
    }

    /// Tokens in the vocabulary (the trie's).
    pub fn vocab_size(&self) -> usize {
        self.factory.tok_env().tok_trie().vocab_size()
    }
}

/// Far below llguidance's defaults where they bound memory (a lexer state costs 1-2 kB):
/// every running sequence holds its own parser.
fn limits() -> ParserLimits {
    ParserLimits {
        max_items_in_row: 2000,
        initial_lexer_fuel: 1_000_000,
        step_lexer_fuel: 200_000,
        step_max_items: 50_000,
        max_lexer_states: 20_000,
        max_grammar_size: 100_000,
        precompute_large_lexemes: true,
        verbose_errors: false,
    }
}

const ERROR: &str = "constrained decoding: ";

fn llg_error(e: impl std::fmt::Display) -> Error {
    Error::BadInput(format!("{ERROR}{e}"))
}

/// Whether an error's text is the constraint's (a schema past the parser's limits found
/// while decoding): the request's fault, not the server's.
pub fn is_constraint_error(message: &str) -> bool {
    message.contains(ERROR)
}

struct Compiled {
    matcher: Mutex<Matcher>,
    eos_ids: Arc<[u32]>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("llguidance constraint")
    }
}

impl ConstraintFactory for Compiled {
    fn start(&self) -> Result<Box<dyn Constraint>> {
        let matcher = self
            .matcher
            .lock()
            .map_err(|_| Error::BadInput("constrained decoding: a parser panicked".into()))?
            .clone();
        Ok(Box::new(Llg {
            matcher,
            eos_ids: Arc::clone(&self.eos_ids),
            ended: false,
        }))
    }
}

/// One sequence's parser.
struct Llg {
    matcher: Matcher,
    eos_ids: Arc<[u32]>,
    /// An EOS token was committed (allowed only where the document may end).
    ended: bool,
}

impl Constraint for Llg {
    fn mask(&mut self, logits: &mut [f32]) -> Result<()> {
        let allowed = self.matcher.compute_mask().map_err(llg_error)?;
        let eos = self
            .matcher
            .tok_env()
            .map_err(llg_error)?
            .tok_trie()
            .eos_token();
        if allowed.is_zero() {
            return Err(llg_error("the grammar allows no token here"));
        }
        let eos_ok = allowed.is_allowed(eos);
        let raw_eos: Vec<(usize, f32)> = self
            .eos_ids
            .iter()
            .filter_map(|&id| Some((id as usize, *logits.get(id as usize)?)))
            .collect();
        // Logits past the trie's vocabulary (padding rows) stay masked.
        let words = allowed.as_slice();
        for (w, chunk) in logits.chunks_mut(32).enumerate() {
            let bits = words.get(w).copied().unwrap_or(0);
            if bits == u32::MAX {
                continue;
            }
            for (b, l) in chunk.iter_mut().enumerate() {
                if bits & (1 << b) == 0 {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        // The trie knows one EOS; every end-of-generation token ends the document alike.
        for (id, raw) in raw_eos {
            logits[id] = if eos_ok { raw } else { f32::NEG_INFINITY };
        }
        Ok(())
    }

    fn commit(&mut self, id: u32) -> Result<()> {
        if self.eos_ids.contains(&id) {
            self.ended = true;
            return Ok(());
        }
        self.matcher.consume_token(id).map_err(llg_error)
    }

    fn done(&self) -> bool {
        self.ended || self.matcher.is_stopped()
    }
}
