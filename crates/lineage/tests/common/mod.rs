//! Shared test support: loading the HF oracle fixtures and comparing tensors with a
//! report that names where the first divergence is.
#![allow(dead_code)]

pub mod anchors;
pub mod random;

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use lineage::families;
use lineage::model::Model;
use lineage::weights::Weights;
use lineage::ModelConfig;

pub const LOGITS_TOL: f32 = 1e-4;
pub const HIDDEN_TOL: f32 = 2e-4;

pub fn fixture_dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hf")
        .join(case)
}

pub fn load(case: &str, config_file: &str) -> (ModelConfig, Weights) {
    let dir = fixture_dir(case);
    families::load_hf_dir_with_config(&dir, &dir.join(config_file))
        .unwrap_or_else(|e| panic!("{case}/{config_file}: load failed: {e}"))
}

pub fn expected(case: &str) -> std::collections::HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture_dir(case).join("expected.safetensors"), &Device::Cpu)
        .expect("expected.safetensors")
}

/// Max |a - b| and the flat index where it occurs.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> (f32, usize) {
    assert_eq!(a.dims(), b.dims(), "shape mismatch");
    let a = a
        .to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let b = b
        .to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let mut worst = (0f32, 0usize);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let d = (x - y).abs();
        if d > worst.0 || d.is_nan() {
            worst = (if d.is_nan() { f32::INFINITY } else { d }, i);
        }
    }
    worst
}

/// Checks every hidden state, the last layer output and the logits of `case`; on
/// failure names the first layer that diverges and by how much.
pub fn check_forward(case: &str, config_file: &str) {
    let (cfg, w) = load(case, config_file);
    let model = Model::new(&cfg, &w).unwrap_or_else(|e| panic!("{case}: build failed: {e}"));
    let exp = expected(case);
    let out = model
        .forward_full(&exp["input_ids"], None, true)
        .unwrap_or_else(|e| panic!("{case}: forward failed: {e}"));
    let hs = &exp["hidden_states"];
    let n = hs.dim(0).unwrap();
    assert_eq!(
        out.hidden_states.len(),
        n,
        "{case}: number of hidden states"
    );
    for (i, h) in out.hidden_states.iter().enumerate() {
        let (d, at) = max_abs_diff(h, &hs.get(i).unwrap());
        let what = if i == 0 {
            "embeddings".to_string()
        } else if i + 1 == n {
            "final norm".into()
        } else {
            format!("output of layer {}", i - 1)
        };
        assert!(d <= HIDDEN_TOL, "{case} ({config_file}): first divergence at hidden_states[{i}] ({what}): max|Δ| = {d:.3e} at flat index {at}");
    }
    let (d, at) = max_abs_diff(
        out.last_layer_output.as_ref().unwrap(),
        &exp["last_layer_output"],
    );
    assert!(
        d <= HIDDEN_TOL,
        "{case}: last_layer_output max|Δ| = {d:.3e} at {at}"
    );
    let (d, at) = max_abs_diff(&out.logits, &exp["logits"]);
    assert!(d <= LOGITS_TOL, "{case}: logits max|Δ| = {d:.3e} at {at}");
}

/// Greedy generation with the KV cache must reproduce HF's `greedy_ids` exactly.
pub fn check_greedy(case: &str) {
    let (cfg, w) = load(case, "config.json");
    let model = Model::new(&cfg, &w).unwrap();
    let exp = expected(case);
    let want = exp["greedy_ids"].to_vec2::<i64>().unwrap();
    let t = exp["input_ids"].dim(1).unwrap();
    let n = want[0].len() - t;
    let got = lineage::runtime::generate::greedy(&model, &exp["input_ids"], n).unwrap();
    for (r, (g, w)) in got.iter().zip(&want).enumerate() {
        let g: Vec<i64> = g.iter().map(|&x| x as i64).collect();
        if let Some(step) = g.iter().zip(w).position(|(a, b)| a != b) {
            panic!(
                "{case}: row {r} greedy differs at position {step} (step {}): got {} want {}",
                step as i64 - t as i64,
                g[step],
                w[step]
            );
        }
    }
}
