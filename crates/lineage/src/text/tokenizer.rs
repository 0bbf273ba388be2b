//! `Tokenizer`: text <-> token ids from either a HF `tokenizer.json` (+ optional
//! `tokenizer_config.json`) or GGUF vocabulary metadata (`VocabSpec`).
//!
//! Reference: HF `tokenizers` (`Tokenizer::encode/decode`), transformers'
//! `PreTrainedTokenizerBase` for the tokenizer_config.json keys, llama.cpp
//! `llama_vocab` for the GGUF path and its end-of-generation token set.

use std::path::Path;

use super::gguf::GgufVocab;
use super::hf_config::HfTokenizerConfig;
use super::pieces::{self, TokenPiece};
use super::vocab::{keep_harmony_turn_going, TokenKind, VocabSpec, EOG_TEXTS};
use crate::{Error, Result};

enum Backend {
    Hf(Box<tokenizers::Tokenizer>),
    Gguf(Box<GgufVocab>),
}

/// A loaded tokenizer with its special-token facts.
pub struct Tokenizer {
    backend: Backend,
    bos_id: Option<u32>,
    eos_id: Option<u32>,
    eos_ids: Vec<u32>,
    add_bos: bool,
    add_eos: bool,
    chat_template: Option<String>,
}

impl Tokenizer {
    /// Builds the tokenizer of a GGUF file from its `tokenizer.ggml.*` metadata.
    pub fn from_vocab(spec: &VocabSpec) -> Result<Self> {
        let vocab = GgufVocab::new(spec)?;
        let n = vocab.vocab_size();
        for (key, id) in [
            ("bos_token_id", spec.bos_id),
            ("eos_token_id", spec.eos_id),
            ("eot_token_id", spec.eot_id),
        ] {
            if let Some(id) = id.filter(|&id| id as usize >= n) {
                return Err(Error::invalid(
                    &format!("tokenizer.ggml.{key}"),
                    format!("{id} >= vocab size {n}"),
                ));
            }
        }
        let mut eos_ids: Vec<u32> = [spec.eos_id, spec.eot_id].into_iter().flatten().collect();
        for text in EOG_TEXTS {
            if let Some(id) = vocab
                .token_to_id(text)
                .filter(|&id| vocab.kind_of(id) == Some(TokenKind::Control))
            {
                eos_ids.push(id);
            }
        }
        keep_harmony_turn_going(&mut eos_ids, |t| vocab.token_to_id(t));
        eos_ids.sort_unstable();
        eos_ids.dedup();
        Ok(Self {
            bos_id: spec.bos_id,
            eos_id: spec.eos_id,
            eos_ids,
            add_bos: spec.add_bos.unwrap_or_else(|| spec.default_add_bos())
                && spec.bos_id.is_some(),
            add_eos: spec.add_eos.unwrap_or(false) && spec.eos_id.is_some(),
            chat_template: spec.chat_template.clone(),
            backend: Backend::Gguf(Box::new(vocab)),
        })
    }

    /// Loads `tokenizer.json`, and `tokenizer_config.json` when given, for BOS/EOS and
    /// the chat template. Whether BOS/EOS are added follows the tokenizer's post-processor.
    pub fn from_files(tokenizer_json: &Path, config_json: Option<&Path>) -> Result<Self> {
        let text = crate::limits::read_json_text(tokenizer_json)?;
        let config = match config_json {
            Some(p) => HfTokenizerConfig::load(p)?,
            None => HfTokenizerConfig::default(),
        };
        Self::from_json(tokenizer_json, &text, config)
    }

    /// A `tokenizer.json` already read (`path` labels errors), with its config.
    pub fn from_json(path: &Path, tokenizer_json: &str, config: HfTokenizerConfig) -> Result<Self> {
        let tok = parse_tokenizer_json(path, tokenizer_json)?;
        let lookup = |t: &Option<String>| t.as_deref().and_then(|t| tok.token_to_id(t));
        let bos_id = lookup(&config.bos_token);
        let eos_id = lookup(&config.eos_token);
        let mut eos_ids: Vec<u32> = eos_id.into_iter().collect();
        let added = tok.get_added_tokens_decoder();
        eos_ids.extend(
            added
                .iter()
                .filter(|(_, t)| t.special && EOG_TEXTS.contains(&t.content.as_str()))
                .map(|(&id, _)| id),
        );
        keep_harmony_turn_going(&mut eos_ids, |t| tok.token_to_id(t));
        eos_ids.sort_unstable();
        eos_ids.dedup();
        let probe_with = tok
            .encode("a", true)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let ids = probe_with.get_ids();
        let add_bos = bos_id.is_some() && ids.first() == bos_id.as_ref() && ids.len() > 1;
        let add_eos = ids.len() > 1 && ids.last().is_some_and(|l| eos_ids.contains(l));
        let backend = Backend::Hf(Box::new(tok));
        Ok(Self {
            backend,
            bos_id,
            eos_id,
            eos_ids,
            add_bos,
            add_eos,
            chat_template: config.chat_template,
        })
    }

    /// Token ids of `text`. Special tokens written in the text (`<|im_start|>`) are always
    /// matched whole; `add_special` adds BOS/EOS when the tokenizer is configured to.
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>> {
        match &self.backend {
            Backend::Hf(tok) => {
                let enc = tok
                    .encode(text, add_special)
                    .map_err(|e| Error::Tokenizer(e.to_string()))?;
                Ok(enc.get_ids().to_vec())
            }
            Backend::Gguf(vocab) => {
                let mut ids = Vec::new();
                if add_special && self.add_bos {
                    ids.extend(self.bos_id);
                }
                ids.extend(vocab.encode(text)?);
                if add_special && self.add_eos {
                    ids.extend(self.eos_id);
                }
                Ok(ids)
            }
        }
    }

    /// Text of `ids`, special tokens included as their text.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.decode_with(ids, false)
    }

    /// Text of `ids` with control tokens (BOS, `<|im_end|>`, ...) left out.
    pub fn decode_skip_special(&self, ids: &[u32]) -> Result<String> {
        self.decode_with(ids, true)
    }

    fn decode_with(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        match &self.backend {
            Backend::Hf(tok) => {
                self.check_ids(ids)?;
                tok.decode(ids, skip_special)
                    .map_err(|e| Error::Tokenizer(e.to_string()))
            }
            Backend::Gguf(vocab) => {
                let mut bytes = Vec::new();
                for (i, &id) in ids.iter().enumerate() {
                    let piece = vocab.token_bytes(id, skip_special)?;
                    let strip =
                        i == 0 && vocab.strips_leading_space() && piece.first() == Some(&b' ');
                    bytes.extend_from_slice(if strip { &piece[1..] } else { &piece });
                }
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }
        }
    }

    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        let n = self.vocab_size();
        match ids.iter().find(|&&id| id as usize >= n) {
            Some(&id) => Err(Error::TokenOutOfVocab {
                id: id as i64,
                vocab_size: n,
            }),
            None => Ok(()),
        }
    }

    /// Number of token ids, added tokens included.
    pub fn vocab_size(&self) -> usize {
        match &self.backend {
            Backend::Hf(tok) => tok.get_vocab_size(true),
            Backend::Gguf(vocab) => vocab.vocab_size(),
        }
    }

    /// Id of a token given its exact text (`"<|im_end|>"`).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        match &self.backend {
            Backend::Hf(tok) => tok.token_to_id(token),
            Backend::Gguf(vocab) => vocab.token_to_id(token),
        }
    }

    /// Text of a token as stored in the vocabulary (`"Ġthe"`, `"▁the"`, `"<|im_end|>"`).
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        match &self.backend {
            Backend::Hf(tok) => tok.id_to_token(id),
            Backend::Gguf(vocab) => vocab.token_text(id).map(str::to_string),
        }
    }

    /// Every token's bytes, id by id (`vocab_size` of them), for constrained decoding.
    pub fn token_pieces(&self) -> Result<Vec<TokenPiece>> {
        match &self.backend {
            Backend::Hf(tok) => Ok(pieces::of_hf(tok)),
            Backend::Gguf(vocab) => pieces::of_gguf(vocab),
        }
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos_id
    }

    /// The EOS token (`tokenizer.ggml.eos_token_id` / `eos_token`).
    pub fn eos_id(&self) -> Option<u32> {
        self.eos_id
    }

    /// Tokens that end generation: EOS, EOT and known end-of-turn control tokens.
    pub fn eos_ids(&self) -> &[u32] {
        &self.eos_ids
    }

    /// Whether `encode(.., true)` prepends BOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether `encode(.., true)` appends EOS.
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    /// The chat template shipped with the tokenizer, if any.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// Text of BOS, for chat templates' `bos_token` (empty when there is none).
    pub fn bos_text(&self) -> String {
        self.bos_id
            .and_then(|id| self.id_to_token(id))
            .unwrap_or_default()
    }

    /// Text of EOS, for chat templates' `eos_token` (empty when there is none).
    pub fn eos_text(&self) -> String {
        self.eos_id
            .and_then(|id| self.id_to_token(id))
            .unwrap_or_default()
    }
}

/// `tokenizers` parses tokenizer.json, and on some malformed input it panics (an
/// `expect` in its decoder deserializer, found by the tokenizer_json fuzz target): the
/// panic is caught and reported as a bad file like any other parse error.
fn parse_tokenizer_json(path: &Path, json: &str) -> Result<tokenizers::Tokenizer> {
    let parsed = std::panic::catch_unwind(|| json.parse::<tokenizers::Tokenizer>());
    match parsed {
        Ok(Ok(tok)) => Ok(tok),
        Ok(Err(e)) => Err(Error::bad_file(path, e.to_string())),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            Err(Error::bad_file(
                path,
                format!("malformed tokenizer.json (the tokenizers crate failed: {why})"),
            ))
        }
    }
}
