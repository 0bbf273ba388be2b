//! `TokenStream`: incremental detokenization that yields only complete UTF-8 text.
//!
//! Decodes a window of recent ids twice (with and without the new ones) and emits the
//! difference once it no longer ends in a partial character (U+FFFD). The window keeps
//! one earlier token of context so SentencePiece's leading-space rule and byte-fallback
//! sequences decode as they do in the full text.
//! Reference: HF text-generation-inference `decode_token` (prefix/read offsets).

use super::Tokenizer;
use crate::Result;

pub struct TokenStream<'a> {
    tokenizer: &'a Tokenizer,
    skip_special: bool,
    ids: Vec<u32>,
    prefix_offset: usize,
    read_offset: usize,
}

impl<'a> TokenStream<'a> {
    /// `skip_special` leaves control tokens out of the text, as `decode_skip_special`.
    pub fn new(tokenizer: &'a Tokenizer, skip_special: bool) -> Self {
        Self {
            tokenizer,
            skip_special,
            ids: Vec::new(),
            prefix_offset: 0,
            read_offset: 0,
        }
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        if self.skip_special {
            self.tokenizer.decode_skip_special(ids)
        } else {
            self.tokenizer.decode(ids)
        }
    }

    /// Adds one token; returns the newly completed text (possibly empty).
    pub fn push(&mut self, id: u32) -> Result<String> {
        self.ids.push(id);
        let prefix = self.decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let full = self.decode(&self.ids[self.prefix_offset..])?;
        if full.ends_with('\u{FFFD}') {
            return Ok(String::new()); // a later token completes the character
        }
        let common = common_prefix_len(&prefix, &full);
        let new = full[common..].to_string();
        Ok(self.advance(new))
    }

    fn advance(&mut self, text: String) -> String {
        self.prefix_offset = self.read_offset;
        self.read_offset = self.ids.len();
        text
    }

    /// Text still held back (an incomplete character at the end), decoded lossily.
    pub fn finish(&mut self) -> Result<String> {
        let prefix = self.decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let full = self.decode(&self.ids[self.prefix_offset..])?;
        let rest = full[common_prefix_len(&prefix, &full)..].to_string();
        self.prefix_offset = self.ids.len();
        self.read_offset = self.ids.len();
        Ok(rest)
    }

    /// All ids pushed so far.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
}

/// Byte length of the longest common prefix of `a` and `b` that ends on a char boundary.
fn common_prefix_len(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, ca), cb)| ca != cb)
        .map_or(a.len().min(b.len()), |((i, _), _)| i)
}
