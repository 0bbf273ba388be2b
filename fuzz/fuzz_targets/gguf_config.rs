//! GGUF metadata to `ModelConfig` (every architecture adapter), then the vocabulary and
//! the weights kept quantized: refused with an error or built, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lineage_fuzz::checks::gguf_config(data));
