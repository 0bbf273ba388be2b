//! The fuzz checks (`checks`) and their input helpers (`support`); each target in
//! fuzz_targets/ is one line calling its check.

pub mod checks;
pub mod support;
