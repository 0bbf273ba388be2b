//! `VocabSpec`: a GGUF tokenizer description as plain data (the `tokenizer.ggml.*` keys),
//! and the per-variant pre-tokenizer regexes.
//!
//! Reference: llama.cpp `src/llama-vocab.cpp` (`llama_vocab::impl::load`, the
//! `llm_tokenizer_bpe` regex table) and the GGUF spec's `tokenizer.ggml.*` keys.

use crate::{Error, Result};

/// The tokenizer of a GGUF file, one field per `tokenizer.ggml.*` key.
#[derive(Debug, Clone, Default)]
pub struct VocabSpec {
    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE) or "llama" (SentencePiece, also Gemma).
    pub model: String,
    /// `tokenizer.ggml.pre`: pre-tokenizer variant for "gpt2" ("smollm", "llama-bpe", "qwen2", ...).
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`: token text by id.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.scores`: SentencePiece piece scores by id (merge priority for "llama").
    pub scores: Option<Vec<f32>>,
    /// `tokenizer.ggml.token_type`: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    pub token_types: Option<Vec<i32>>,
    /// `tokenizer.ggml.merges`: "left right" pairs in rank order ("gpt2" only).
    pub merges: Vec<String>,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos_id: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos_id: Option<u32>,
    /// `tokenizer.ggml.eot_token_id` (end of turn; also ends generation).
    pub eot_id: Option<u32>,
    /// `tokenizer.ggml.unknown_token_id`.
    pub unknown_id: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`; default: `VocabSpec::default_add_bos`.
    pub add_bos: Option<bool>,
    /// `tokenizer.ggml.add_eos_token`; default false.
    pub add_eos: Option<bool>,
    /// `tokenizer.ggml.add_space_prefix` ("llama" only); default true.
    pub add_space_prefix: Option<bool>,
    /// `tokenizer.chat_template`.
    pub chat_template: Option<String>,
}

impl VocabSpec {
    /// Whether BOS is prepended when the file has no `tokenizer.ggml.add_bos_token`:
    /// llama.cpp's defaults by tokenizer type (`llama_vocab::impl::load`), a rule of how
    /// GGUF files are read, not knowledge of a model family: SentencePiece ("llama")
    /// adds it, byte-level BPE ("gpt2") only with the pre-tokenizers marked so in `PreSplit`.
    pub fn default_add_bos(&self) -> bool {
        match self.model.as_str() {
            "llama" => true,
            _ => PreSplit::for_pre(self.pre.as_deref()).is_ok_and(|p| p.add_bos),
        }
    }
}

/// What a token is, from `tokenizer.ggml.token_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Normal,
    Unknown,
    /// Control tokens (`<|im_start|>`): matched whole in text, hidden when decoding without specials.
    Control,
    /// User-defined tokens: matched whole in text, always decoded as their text.
    UserDefined,
    Unused,
    /// `<0xXX>` byte-fallback tokens.
    Byte,
}

impl TokenKind {
    /// Maps a GGUF token type; unknown codes are an error naming the token.
    pub fn from_gguf(code: i32, id: usize) -> Result<Self> {
        Ok(match code {
            0 | 1 => Self::Normal,
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => {
                return Err(Error::invalid(
                    "tokenizer.ggml.token_type",
                    format!("token {id} has unknown type {code}"),
                ))
            }
        })
    }

    /// Tokens that are split out of raw text before the model sees it (llama.cpp
    /// `cache_special_tokens`).
    pub fn is_special(self) -> bool {
        matches!(self, Self::Control | Self::UserDefined | Self::Unknown)
    }
}

/// Digits are split off one by one before the GPT-2 regex (StarCoder, SmolLM, ...).
const DIGITS: &str = r"\p{N}";
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// How a "gpt2" vocabulary splits text before BPE: regexes applied in turn, each
/// splitting every piece of the previous one (matches and gaps both kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreSplit {
    pub regexes: Vec<&'static str>,
    /// Whole words found in the vocabulary skip the merges (llama.cpp `ignore_merges`).
    pub ignore_merges: bool,
    /// BOS is added when the file does not say (llama.cpp sets `add_bos` for these
    /// pre-tokenizer types; `tokenizer.ggml.add_bos_token` overrides it).
    pub add_bos: bool,
}

impl PreSplit {
    /// The split for a `tokenizer.ggml.pre` value; unknown values are an error, as in llama.cpp.
    pub fn for_pre(pre: Option<&str>) -> Result<Self> {
        // llama.cpp's LLAMA3 pre-type is the one here that skips merges and adds BOS.
        let (regexes, llama3) = match pre.unwrap_or("default") {
            "default" | "gpt-2" | "phi-2" | "mpt" | "olmo" | "jais" => (vec![GPT2], false),
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva" => {
                (vec![DIGITS, GPT2], false)
            }
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "lfm2" => {
                (vec![LLAMA3], true)
            }
            "qwen2" | "deepseek-r1-qwen" | "stablelm2" => (vec![QWEN2], false),
            other => {
                return Err(Error::UnsupportedValue {
                    family: "gguf".into(),
                    key: "tokenizer.ggml.pre".into(),
                    value: format!("`{other}` (supported: default, gpt-2, smollm, starcoder, llama-bpe, qwen2, ...)"),
                })
            }
        };
        Ok(Self {
            regexes,
            ignore_merges: llama3,
            add_bos: llama3,
        })
    }
}

/// Texts of control tokens that end generation in llama.cpp besides EOS/EOT (`special_eog_ids`).
pub const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "<｜end▁of▁sentence｜>",
];

/// Harmony (gpt-oss) closes a message with `<|end|>` and the turn with `<|return|>` or
/// `<|call|>`: where the vocabulary has both of those, `<|end|>` does not end generation,
/// so the final answer or the call after the reasoning is generated (llama.cpp drops it
/// from `special_eog_ids` by the same test).
pub(super) fn keep_harmony_turn_going(eos_ids: &mut Vec<u32>, id_of: impl Fn(&str) -> Option<u32>) {
    if let (Some(_), Some(_), Some(end)) =
        (id_of("<|return|>"), id_of("<|call|>"), id_of("<|end|>"))
    {
        eos_ids.retain(|&id| id != end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_add_bos_follows_llama_cpp_tokenizer_types() {
        let spec = |model: &str, pre: Option<&str>| VocabSpec {
            model: model.into(),
            pre: pre.map(String::from),
            ..VocabSpec::default()
        };
        assert!(spec("llama", None).default_add_bos());
        for pre in ["llama-bpe", "llama3", "falcon3", "pixtral", "lfm2"] {
            assert!(spec("gpt2", Some(pre)).default_add_bos(), "{pre}");
        }
        for pre in [
            None,
            Some("gpt-2"),
            Some("smollm"),
            Some("qwen2"),
            Some("unknown"),
        ] {
            assert!(!spec("gpt2", pre).default_add_bos(), "{pre:?}");
        }
    }

    #[test]
    fn harmony_end_is_not_eog_only_when_return_and_call_exist() {
        let vocab = |names: &'static [&'static str]| {
            move |t: &str| names.iter().position(|n| *n == t).map(|i| i as u32)
        };
        let mut ids = vec![0, 1, 2];
        keep_harmony_turn_going(&mut ids, vocab(&["<|return|>", "<|end|>", "<|call|>"]));
        assert_eq!(ids, [0, 2]);
        let mut ids = vec![0, 1];
        keep_harmony_turn_going(&mut ids, vocab(&["<|im_end|>", "<|end|>"]));
        assert_eq!(ids, [0, 1]);
    }
}
