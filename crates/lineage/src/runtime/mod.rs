//! Runtime: KV cache, sampling and generation loops.

pub mod backend;
pub mod constraint;
pub mod decoder;
pub mod generate;
pub mod kv_cache;
pub mod sampler;
pub mod session;
pub mod speculative;
