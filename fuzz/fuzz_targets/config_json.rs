//! config.json to `ModelConfig` through every family adapter, then the analyses that
//! `inspect` runs on it (parameter counts, FLOPs, KV cache, memory): arbitrary sizes
//! give errors, not overflows.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lineage_fuzz::checks::config_json(data));
