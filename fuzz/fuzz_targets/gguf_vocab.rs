//! The GGUF vocabulary to the tokenizer. First byte even: a vocabulary built from the
//! fuzz bytes (tokens split at NUL, merges at 0x01). Odd: arbitrary text through real
//! vocabularies (SmolLM2's byte-level BPE, a Llama SentencePiece): encode, decode, and
//! for byte-level BPE the text comes back exactly.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lineage_fuzz::checks::gguf_vocab(data));
