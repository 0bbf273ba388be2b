//! lineage: one engine for the lineage of decoder-only language models.
//!
//! Layout: `config` (the canonical description), `families` (adapters from HF/GGUF onto
//! it), `weights` (file formats), `model` (the one forward), `runtime` (KV cache,
//! generation).

pub mod ablate;
pub mod analysis;
pub mod cache;
pub mod config;
pub mod engine;
mod error;
pub mod families;
pub mod kernels;
pub mod limits;
mod load;
pub mod model;
pub mod plan;
pub mod runtime;
pub mod text;
pub mod train;
pub mod weights;

pub use config::ModelConfig;
pub use error::{Error, Result};
pub use load::{load, load_tokenizer, load_with, LoadOptions};
