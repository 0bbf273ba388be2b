//! tokenizer.json loading (HF `tokenizers`), then encoding and decoding a fixed text.
#![no_main]

use std::sync::Once;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // `tokenizers` panics on some malformed files and lineage catches that panic
    // (`Tokenizer::from_json`); libfuzzer-sys's hook would abort on it anyway, so this
    // target restores the default hook. A panic that escapes still aborts: fuzz_target!
    // turns it into a crash.
    static DEFAULT_HOOK: Once = Once::new();
    DEFAULT_HOOK.call_once(|| drop(std::panic::take_hook()));
    lineage_fuzz::checks::tokenizer_json(data)
});
