//! The harmony parser on arbitrary model output: messages or an error, and no message's
//! content holds a token that should have ended it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lineage_fuzz::checks::harmony(data));
