//! lineage: one engine for the lineage of decoder-only language models.
//!
//! Layout: `config` (the canonical description), `families` (adapters from HF/GGUF onto it),
//! `weights` (file formats), `model` (the one forward), `kernels` (matmul backends),
//! `runtime` (KV cache, generation).

pub mod config;
mod error;
pub mod runtime;
pub mod text;

pub use config::ModelConfig;
pub use error::{Error, Result};
