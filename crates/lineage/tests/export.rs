//! `train::export` against outside oracles: every exported HF folder is read back and its
//! logits compared with transformers' expected logits of the fixture it came from; GGUF
//! tensors are compared byte for byte with files gguf-py wrote (tests/fixtures/gguf, made
//! by tools/gguf_convert the way llama.cpp's converter does) and logits with HF's; the
//! tokenizer with llama.cpp's own GGUF vocabulary of SmolLM2 and with the `tokenizers`
//! crate. Flow per case: HF fixture -> `save_model` (a run) -> `open_run` -> export.

mod common;
#[path = "export_parts/support.rs"]
mod support;

#[path = "export_parts/hf.rs"]
mod hf;

#[path = "export_parts/gguf.rs"]
mod gguf;

#[path = "export_parts/gguf_bytes.rs"]
mod gguf_bytes;

#[path = "export_parts/tokenizer.rs"]
mod tokenizer;

#[path = "export_parts/refusals.rs"]
mod refusals;
