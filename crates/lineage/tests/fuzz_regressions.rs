//! The fuzz checks (fuzz/src/checks.rs, the bodies of the cargo-fuzz targets) in the
//! normal suite: every committed seed (fuzz/seeds/) and every input a fuzzer crashed on
//! (fuzz/regressions/<target>/, kept once fixed) goes through its check here, so a crash
//! found once stays fixed without nightly or a fuzzer.

#[path = "../../../fuzz/src/checks.rs"]
#[allow(dead_code)]
mod checks;
#[path = "../../../fuzz/src/support.rs"]
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The seed folder of `target` (the two GGUF targets share `seeds/gguf`).
fn seed_dir(target: &str) -> PathBuf {
    let name = match target {
        "gguf_parse" | "gguf_config" => "gguf",
        t => t,
    };
    fuzz_dir().join("seeds").join(name)
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    v
}

fn replay(target: &str, check: fn(&[u8])) {
    let seeds = inputs(&seed_dir(target));
    assert!(
        !seeds.is_empty(),
        "{target}: no seeds in {}",
        seed_dir(target).display()
    );
    let crashes = inputs(&fuzz_dir().join("regressions").join(target));
    for p in seeds.iter().chain(&crashes) {
        let data = std::fs::read(p).unwrap();
        let run = std::panic::catch_unwind(|| check(&data));
        assert!(run.is_ok(), "{target}: {} fails its check", p.display());
    }
    eprintln!(
        "{target}: {} seeds, {} past crashes replayed",
        seeds.len(),
        crashes.len()
    );
}

macro_rules! replays {
    ($($t:ident),*) => { $( #[test] fn $t() { replay(stringify!($t), checks::$t); } )* };
}

replays!(
    gguf_parse,
    gguf_config,
    safetensors_header,
    config_json,
    tokenizer_json,
    gguf_vocab,
    chat_template,
    harmony,
    quant_kernels,
    sampler
);
