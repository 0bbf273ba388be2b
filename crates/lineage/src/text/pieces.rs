//! Every token's bytes, as a byte-level matcher sees the vocabulary: what constrained
//! decoding (`grammar.rs`) checks text against, for a HF `tokenizer.json` or a GGUF
//! vocabulary alike.
//!
//! Reference: toktrie_hf_tokenizers (llguidance) `ByteTokenizer::from_tokenizer`: byte-level
//! BPE tokens map back through GPT-2's table, SentencePiece ones turn `▁` into a space and
//! `<0xNN>` into the byte, and special tokens are marked.

use super::gguf::{byte_level_decode, parse_byte_token, GgufVocab, SPM_SPACE};
use super::vocab::TokenKind;
use crate::Result;

/// One token's bytes, and whether it is a control token (its bytes are then its text,
/// `<|im_end|>`, never matched by ordinary text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPiece {
    pub bytes: Vec<u8>,
    pub special: bool,
}

pub(super) fn of_gguf(vocab: &GgufVocab) -> Result<Vec<TokenPiece>> {
    (0..vocab.vocab_size() as u32)
        .map(|id| {
            let special = matches!(
                vocab.kind_of(id),
                Some(TokenKind::Control | TokenKind::Unknown)
            );
            Ok(TokenPiece {
                bytes: vocab.token_bytes(id, false)?,
                special,
            })
        })
        .collect()
}

pub(super) fn of_hf(tok: &tokenizers::Tokenizer) -> Vec<TokenPiece> {
    use tokenizers::decoders::DecoderWrapper as D;
    fn has_byte_level(d: &D) -> bool {
        match d {
            D::ByteLevel(_) => true,
            D::Sequence(s) => s.get_decoders().iter().any(has_byte_level),
            _ => false,
        }
    }
    let byte_level = tok.get_decoder().is_some_and(has_byte_level);
    let added = tok.get_added_tokens_decoder();
    (0..tok.get_vocab_size(true) as u32)
        .map(|id| {
            if let Some(t) = added.get(&id) {
                return TokenPiece {
                    bytes: t.content.as_bytes().to_vec(),
                    special: t.special,
                };
            }
            let Some(text) = tok.id_to_token(id) else {
                // A hole in the ids: a token no text can produce.
                return TokenPiece {
                    bytes: format!("<|unused_{id}|>").into_bytes(),
                    special: true,
                };
            };
            let bytes = match (byte_level, parse_byte_token(&text)) {
                (true, _) => byte_level_decode(&text),
                (false, Some(b)) => vec![b],
                (false, None) => text.replace(SPM_SPACE, " ").into_bytes(),
            };
            TokenPiece {
                bytes,
                special: false,
            }
        })
        .collect()
}
