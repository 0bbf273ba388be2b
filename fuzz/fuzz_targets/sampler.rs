//! The sampler on arbitrary logits (NaN, ±inf, subnormals) and settings: a valid id or
//! an error naming the problem, never a panic or an id out of range.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lineage_fuzz::checks::sampler(data));
