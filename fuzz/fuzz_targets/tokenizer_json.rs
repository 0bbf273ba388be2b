//! tokenizer.json loading (HF `tokenizers`), then encoding and decoding a fixed text.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lineage_fuzz::checks::tokenizer_json(data));
