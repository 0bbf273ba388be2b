//! Chat templates as untrusted code: an arbitrary template (up to the first NUL) renders
//! arbitrary messages (role 0x1f content, separated by 0x1e) within its limits, or gives
//! an error; the harmony renderer takes the same messages.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lineage_fuzz::checks::chat_template(data));
