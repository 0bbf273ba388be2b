//! The GGUF header, metadata and tensor-info parser on arbitrary bytes: it parses or
//! refuses, and whatever it accepts can be read in full without a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lineage_fuzz::checks::gguf_parse(data));
