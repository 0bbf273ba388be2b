//! Runtime: KV cache and generation loops.

pub mod generate;
pub mod kv_cache;
