//! A tokenizer built from GGUF vocabulary metadata (`VocabSpec`), with llama.cpp's
//! semantics: special tokens split out first, then byte-level BPE ("gpt2") or
//! score-merged SentencePiece ("llama") on each text fragment.
//!
//! Reference: llama.cpp `llama_vocab::impl::tokenize` and `token_to_piece`
//! (src/llama-vocab.cpp); GPT-2 byte-to-unicode table from openai/gpt-2 `encoder.py`.

use std::collections::HashMap;

use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior};

use super::special::{Fragment, SpecialTokens};
use super::spm::{self, SpmVocab};
use super::vocab::{PreSplit, TokenKind, VocabSpec};
use crate::{Error, Result};

pub(super) const SPM_SPACE: char = '\u{2581}'; // "▁"

enum Kind {
    /// Byte-level BPE; the `tokenizers` pipeline holds the pre-split regexes and merges.
    Bpe(Box<tokenizers::Tokenizer>),
    Spm {
        scores: Vec<f32>,
        add_space_prefix: bool,
        unknown_id: u32,
    },
}

pub(crate) struct GgufVocab {
    tokens: Vec<String>,
    kinds: Vec<TokenKind>,
    token_to_id: HashMap<String, u32>,
    specials: SpecialTokens,
    kind: Kind,
}

fn tok_err(e: impl std::fmt::Display) -> Error {
    Error::Tokenizer(e.to_string())
}

impl GgufVocab {
    pub fn new(spec: &VocabSpec) -> Result<Self> {
        let n = spec.tokens.len();
        if n == 0 {
            return Err(Error::invalid("tokenizer.ggml.tokens", "is empty"));
        }
        let kinds = token_kinds(spec)?;
        let mut token_to_id = HashMap::with_capacity(n);
        for (id, t) in spec.tokens.iter().enumerate() {
            token_to_id.entry(t.clone()).or_insert(id as u32);
        }
        let specials = SpecialTokens::new(
            (0..n)
                .filter(|&i| kinds[i].is_special())
                .map(|i| (spec.tokens[i].clone(), i as u32))
                .collect(),
        );
        let kind = match spec.model.as_str() {
            "gpt2" => Kind::Bpe(Box::new(build_bpe(spec, &token_to_id)?)),
            "llama" => Kind::Spm {
                scores: spm_scores(spec)?,
                add_space_prefix: spec.add_space_prefix.unwrap_or(true),
                unknown_id: spec.unknown_id.unwrap_or(0),
            },
            other => {
                return Err(Error::UnsupportedValue {
                    family: "gguf".into(),
                    key: "tokenizer.ggml.model".into(),
                    value: format!("`{other}` (supported: gpt2, llama)"),
                })
            }
        };
        Ok(Self {
            tokens: spec.tokens.clone(),
            kinds,
            token_to_id,
            specials,
            kind,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    pub fn token_to_id(&self, text: &str) -> Option<u32> {
        self.token_to_id.get(text).copied()
    }

    pub fn kind_of(&self, id: u32) -> Option<TokenKind> {
        self.kinds.get(id as usize).copied()
    }

    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// Token ids of `text` without BOS/EOS; special tokens in the text are matched whole.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        // SentencePiece prefixes a space to text at the start and after a special token.
        let mut prev_special = true;
        for fragment in self.specials.partition(text) {
            match fragment {
                Fragment::Token(id) => {
                    out.push(id);
                    prev_special = true;
                }
                Fragment::Text(t) => {
                    self.encode_text(t, prev_special, &mut out)?;
                    prev_special = false;
                }
            }
        }
        Ok(out)
    }

    fn encode_text(&self, text: &str, prev_special: bool, out: &mut Vec<u32>) -> Result<()> {
        match &self.kind {
            Kind::Bpe(tok) => {
                let enc = tok.encode(text, false).map_err(tok_err)?;
                out.extend_from_slice(enc.get_ids());
            }
            Kind::Spm {
                scores,
                add_space_prefix,
                unknown_id,
            } => {
                let prefix = if *add_space_prefix && prev_special {
                    " "
                } else {
                    ""
                };
                let escaped: String = format!("{prefix}{text}").replace(' ', "\u{2581}");
                let vocab = SpmVocab {
                    token_to_id: &self.token_to_id,
                    scores,
                    unknown_id: *unknown_id,
                };
                spm::tokenize(&vocab, &escaped, out);
            }
        }
        Ok(())
    }

    /// The bytes a token stands for. Control tokens give their text, or nothing when
    /// `skip_special`; the unknown token gives nothing when `skip_special`.
    pub fn token_bytes(&self, id: u32, skip_special: bool) -> Result<Vec<u8>> {
        let (Some(text), Some(kind)) = (self.token_text(id), self.kind_of(id)) else {
            return Err(Error::TokenOutOfVocab {
                id: id as i64,
                vocab_size: self.tokens.len(),
            });
        };
        Ok(match kind {
            TokenKind::Control | TokenKind::Unknown if skip_special => Vec::new(),
            TokenKind::Control | TokenKind::Unknown | TokenKind::UserDefined => {
                text.as_bytes().to_vec()
            }
            TokenKind::Byte => {
                parse_byte_token(text).map_or_else(|| text.as_bytes().to_vec(), |b| vec![b])
            }
            TokenKind::Normal | TokenKind::Unused => match &self.kind {
                Kind::Bpe(_) => byte_level_decode(text),
                Kind::Spm { .. } => text.replace(SPM_SPACE, " ").into_bytes(),
            },
        })
    }

    /// Whether decoding drops one leading space (SentencePiece's added prefix).
    pub fn strips_leading_space(&self) -> bool {
        matches!(
            self.kind,
            Kind::Spm {
                add_space_prefix: true,
                ..
            }
        )
    }
}

fn token_kinds(spec: &VocabSpec) -> Result<Vec<TokenKind>> {
    let n = spec.tokens.len();
    match &spec.token_types {
        None => Ok(vec![TokenKind::Normal; n]),
        Some(t) if t.len() != n => Err(Error::invalid(
            "tokenizer.ggml.token_type",
            format!("has {} entries for {n} tokens", t.len()),
        )),
        Some(t) => t
            .iter()
            .enumerate()
            .map(|(i, &c)| TokenKind::from_gguf(c, i))
            .collect(),
    }
}

fn spm_scores(spec: &VocabSpec) -> Result<Vec<f32>> {
    match &spec.scores {
        Some(s) if s.len() == spec.tokens.len() => Ok(s.clone()),
        Some(s) => Err(Error::invalid(
            "tokenizer.ggml.scores",
            format!("has {} entries for {} tokens", s.len(), spec.tokens.len()),
        )),
        None => Err(Error::MissingKey {
            family: "gguf".into(),
            key: "tokenizer.ggml.scores".into(),
        }),
    }
}

/// The merges whose parts and result are all tokens. `tokenizers` refuses a merge that
/// makes an unknown token (and panics when that token is longer than every token); llama.cpp
/// accepts it and spells such a symbol out in byte tokens, which is what never applying
/// the merge gives too, unless a later merge builds on it (not seen in real vocabularies).
fn usable_merges(
    merges: Vec<(String, String)>,
    token_to_id: &HashMap<String, u32>,
) -> Vec<(String, String)> {
    let n = merges.len();
    let kept: Vec<_> = merges
        .into_iter()
        .filter(|(a, b)| {
            token_to_id.contains_key(a)
                && token_to_id.contains_key(b)
                && token_to_id.contains_key(&format!("{a}{b}"))
        })
        .collect();
    if kept.len() < n {
        tracing::warn!(
            "tokenizer.ggml.merges: {} of {n} merges make or use a token not in the vocabulary; they are not applied",
            n - kept.len()
        );
    }
    kept
}

fn build_bpe(
    spec: &VocabSpec,
    token_to_id: &HashMap<String, u32>,
) -> Result<tokenizers::Tokenizer> {
    let split = PreSplit::for_pre(spec.pre.as_deref())?;
    let merges = spec
        .merges
        .iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| {
                    Error::invalid(
                        "tokenizer.ggml.merges",
                        format!("entry `{m}` is not `left right`"),
                    )
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let merges = usable_merges(merges, token_to_id);
    let bpe = BPE::builder()
        .vocab_and_merges(
            token_to_id
                .iter()
                .map(|(k, &v)| (k.clone(), v))
                .collect::<tokenizers::models::bpe::Vocab>(),
            merges,
        )
        .ignore_merges(split.ignore_merges)
        .build()
        .map_err(tok_err)?;
    let mut steps = Vec::new();
    for re in split.regexes {
        let s = Split::new(
            SplitPattern::Regex(re.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(tok_err)?;
        steps.push(PreTokenizerWrapper::Split(s));
    }
    steps.push(PreTokenizerWrapper::ByteLevel(ByteLevel::new(
        false, false, false,
    )));
    let mut tok = tokenizers::Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(Sequence::new(steps)));
    Ok(tok)
}

pub(super) fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

/// GPT-2's byte -> printable character table, as char -> byte.
fn byte_level_char_to_byte(c: char) -> Option<u8> {
    let printable =
        |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let code = c as u32;
    if printable(code) {
        return Some(code as u8);
    }
    // Non-printable bytes map to 256, 257, ... in byte order.
    let k = code.checked_sub(256)?;
    (0u32..=255)
        .filter(|&b| !printable(b))
        .nth(k as usize)
        .map(|b| b as u8)
}

/// Undoes GPT-2's byte-to-unicode mapping; characters outside the table pass through.
pub(super) fn byte_level_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match byte_level_char_to_byte(c) {
            Some(b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_decode_space_and_newline_chars_give_bytes() {
        assert_eq!(byte_level_decode("\u{120}the\u{10a}"), b" the\n".to_vec());
        assert_eq!(byte_level_char_to_byte('\u{100}'), Some(0));
        assert_eq!(byte_level_char_to_byte('\u{143}'), Some(0xAD));
    }

    #[test]
    fn parse_byte_token_hex_forms_parse() {
        assert_eq!(parse_byte_token("<0x0A>"), Some(10));
        assert_eq!(parse_byte_token("<0xZZ>"), None);
    }
}
