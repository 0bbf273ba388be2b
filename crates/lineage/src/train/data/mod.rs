//! Training data: text corpora cut into documents (`docs`), a byte-level BPE trained on
//! them (`bpe`), token files with a train/validation split written by `prepare` and
//! memory-mapped by `token_file` / `dataset`, deterministic batches (`batches`) and
//! synthetic tasks written in the same folder format (`synthetic`).
//!
//! A data folder, whatever made it:
//!
//! ```text
//! DIR/train.bin       raw little-endian token ids, u16 when vocab_size <= 65536, else u32
//! DIR/val.bin         the same, for the validation split
//! DIR/meta.json       DataMeta: vocab, dtype, token and byte counts, sources, split rule
//! DIR/tokenizer.json  the tokenizer that made the ids (text corpora only)
//! ```
//!
//! The trainer opens it with `Dataset::open(dir)` and draws batches with `Batcher`.

pub mod batches;
pub mod bpe;
pub mod dataset;
pub mod docs;
pub mod meta;
mod permute;
pub mod prepare;
pub mod synthetic;
pub mod token_file;

pub use batches::Batcher;
pub use bpe::{train_bpe, BpeConfig, ENDOFTEXT, ENDOFTEXT_ID};
pub use dataset::Dataset;
pub use docs::{Corpus, DocSplit};
pub use meta::{DataMeta, TokenDtype};
pub use prepare::{prepare, PrepareConfig};
pub use synthetic::{write_synthetic, SyntheticConfig, SyntheticTask};
pub use token_file::TokenFile;
