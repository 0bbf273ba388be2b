//! Export: a trained model (canonical [`ModelConfig`] + canonical [`Weights`]) written as
//! files the ecosystem loads, so that a model designed and tried here can move to
//! multi-GPU training or serving elsewhere.
//!
//! - [`write_hf`]: a transformers checkpoint folder (`config.json`, `model.safetensors`,
//!   tokenizer files) for `AutoModelForCausalLM` / vLLM. The family is chosen from the
//!   config's components ([`hf_family`]); the tensor layout is the inverse of the family
//!   adapters in `crate::families` (`gpt2.rs`, `common.rs`, `moe.rs`).
//! - [`write_gguf`]: a GGUF v3 file for llama.cpp, F32 / F16 / Q8_0, laid out as llama.cpp's
//!   `convert_hf_to_gguf.py` writes it (reference: gguf-py `constants.py`, `quants.py`;
//!   ggml `docs/gguf.md`), which `crate::families::gguf` reads back.
//!
//! A component neither format can express (post-norm blocks, ALiBi, MLA, soft-capping, ...)
//! is an error naming the component, never a silent approximation.

mod common;
mod gguf;
mod gguf_arch;
mod gguf_tensors;
mod gguf_vocab;
mod gguf_writer;
mod hf;
mod hf_config;
mod hf_family;
mod hf_tensors;
mod out_path;
mod pairing;
mod quant;
mod take;
pub mod tokenizer_json;

pub use gguf::{write_gguf, GgufDtype};
pub use gguf_arch::{gguf_arch, GgufArch};
pub use gguf_vocab::vocab_kvs as gguf_vocab_kvs;
pub use gguf_writer::write_gguf_file;
pub use hf::write_hf;
pub use hf_family::{hf_family, HfFamily};
pub use quant::{f16_bytes, q8_0_bytes};
