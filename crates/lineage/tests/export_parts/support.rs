//! Scratch folders, runs made from HF fixtures, and logits of what was written.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use candle_core::Tensor;
use lineage::families::GgufPrecision;
use lineage::model::Model;
use lineage::train::{open_run, save_model, RunModel};
use lineage::LoadOptions;

use crate::common;

/// A fresh folder under the test target's tmp dir.
pub fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("export")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// HF fixture `case` saved as a run folder `dir/run` (with `tokenizer` copied in) and read
/// back through `open_run`, as `lineage export` does.
pub fn run_of(case: &str, dir: &Path, tokenizer: Option<&Path>) -> RunModel {
    let (cfg, w) = common::load(case, "config.json");
    let run = dir.join("run");
    save_model(&run.join("checkpoint"), &cfg, &w).unwrap();
    if let Some(t) = tokenizer {
        std::fs::copy(t, run.join("tokenizer.json")).unwrap();
    }
    open_run(&run).unwrap_or_else(|e| panic!("{case}: open_run: {e}"))
}

/// Logits of the model at `path` (HF folder or GGUF) on the fixture's input ids.
pub fn logits(path: &Path, case: &str, precision: GgufPrecision) -> Tensor {
    let (cfg, w) = lineage::load_with(path, LoadOptions { gguf: precision })
        .unwrap_or_else(|e| panic!("{}: load failed: {e}", path.display()));
    let model = Model::new(&cfg, &w).unwrap_or_else(|e| panic!("{case}: build failed: {e}"));
    model
        .forward(&common::expected(case)["input_ids"], None)
        .unwrap()
}

/// max |Δ| between the logits of `path` and transformers' expected logits of `case`.
pub fn vs_hf(path: &Path, case: &str, precision: GgufPrecision) -> (f32, usize) {
    common::max_abs_diff(
        &logits(path, case, precision),
        &common::expected(case)["logits"],
    )
}

/// Tensor names of a safetensors file, sorted.
pub fn safetensors_names(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    names
}

/// A GGUF file gguf-py wrote from an HF fixture (tools/gguf_convert/convert_fixture.py).
pub fn gguf_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gguf")
        .join(format!("{name}.gguf"))
}
