//! The safetensors header (first byte even) and the sharded index (odd) on arbitrary
//! bytes: parsed and range-checked, or refused.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lineage_fuzz::checks::safetensors_header(data));
