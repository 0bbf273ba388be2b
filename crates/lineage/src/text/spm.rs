//! SentencePiece-style tokenizer for GGUF `tokenizer.ggml.model = "llama"` (Llama 1/2,
//! Mistral, Gemma): merge adjacent pieces by the score of the merged piece, highest first,
//! leftmost on ties; pieces that are not tokens fall back to `<0xXX>` byte tokens.
//!
//! Reference: llama.cpp `llm_tokenizer_spm_session` (src/llama-vocab.cpp), itself after
//! SentencePiece's BPE model (google/sentencepiece `bpe_model.cc`).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// The vocabulary view the SPM merge loop needs.
pub struct SpmVocab<'a> {
    pub token_to_id: &'a HashMap<String, u32>,
    pub scores: &'a [f32],
    /// Fallback when neither `<0xXX>` nor the raw byte is a token.
    pub unknown_id: u32,
}

#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

struct Bigram {
    left: usize,
    right: usize,
    score: f32,
    len: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    /// Max-heap order: higher score first, then the leftmost pair.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then(other.left.cmp(&self.left))
    }
}

/// Tokenizes one text fragment whose spaces are already escaped to `▁`.
pub fn tokenize(vocab: &SpmVocab, text: &str, out: &mut Vec<u32>) {
    let mut symbols: Vec<Symbol> = Vec::new();
    for (i, (start, ch)) in text.char_indices().enumerate() {
        let next = (start + ch.len_utf8() < text.len()).then_some(i + 1);
        symbols.push(Symbol {
            start,
            len: ch.len_utf8(),
            prev: i.checked_sub(1),
            next,
        });
    }
    let mut session = Session {
        vocab,
        text,
        symbols,
        queue: BinaryHeap::new(),
    };
    for i in 1..session.symbols.len() {
        session.try_add_bigram(Some(i - 1), Some(i));
    }
    session.merge_all();
    let mut at = if session.symbols.is_empty() {
        None
    } else {
        Some(0)
    };
    while let Some(i) = at {
        let s = session.symbols[i];
        session.emit(&text[s.start..s.start + s.len], out);
        at = s.next;
    }
}

struct Session<'v, 't> {
    vocab: &'v SpmVocab<'v>,
    text: &'t str,
    symbols: Vec<Symbol>,
    queue: BinaryHeap<Bigram>,
}

impl<'v, 't> Session<'v, 't> {
    fn try_add_bigram(&mut self, left: Option<usize>, right: Option<usize>) {
        let (Some(left), Some(right)) = (left, right) else {
            return;
        };
        let (l, r) = (self.symbols[left], self.symbols[right]);
        let piece = &self.text[l.start..l.start + l.len + r.len];
        let Some(&id) = self.vocab.token_to_id.get(piece) else {
            return;
        };
        let score = self.vocab.scores.get(id as usize).copied().unwrap_or(0.0);
        self.queue.push(Bigram {
            left,
            right,
            score,
            len: piece.len(),
        });
    }

    fn merge_all(&mut self) {
        while let Some(b) = self.queue.pop() {
            let (l, r) = (self.symbols[b.left], self.symbols[b.right]);
            // Skip pairs whose symbols were merged away since the pair was queued.
            if l.len == 0 || r.len == 0 || l.len + r.len != b.len {
                continue;
            }
            self.symbols[b.left].len += r.len;
            self.symbols[b.right].len = 0;
            self.symbols[b.left].next = r.next;
            if let Some(n) = r.next {
                self.symbols[n].prev = Some(b.left);
            }
            self.try_add_bigram(l.prev, Some(b.left));
            self.try_add_bigram(Some(b.left), r.next);
        }
    }

    /// Emits the token for a piece, or its bytes. Only pairs whose union is a token are ever
    /// merged, so a piece that is not a token is a single character (llama.cpp's
    /// `rev_merge` re-split never triggers).
    fn emit(&self, piece: &str, out: &mut Vec<u32>) {
        match self.vocab.token_to_id.get(piece) {
            Some(&id) => out.push(id),
            None => out.extend(piece.bytes().map(|b| byte_token(self.vocab, b))),
        }
    }
}

/// `<0xXX>` for a byte, else the byte itself as a token, else the unknown token.
fn byte_token(vocab: &SpmVocab, byte: u8) -> u32 {
    let hex = format!("<0x{byte:02X}>");
    if let Some(&id) = vocab.token_to_id.get(&hex) {
        return id;
    }
    let raw = [byte];
    std::str::from_utf8(&raw)
        .ok()
        .and_then(|s| vocab.token_to_id.get(s).copied())
        .unwrap_or(vocab.unknown_id)
}
