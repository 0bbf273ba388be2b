//! Checkpoint folder variants load to the same model: sharded safetensors with
//! `model.safetensors.index.json`, and f16 / bf16 storage.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use lineage::families;
use lineage::model::Model;

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lineage-ckpt-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tensors(case: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(
        common::fixture_dir(case).join("model.safetensors"),
        &Device::Cpu,
    )
    .unwrap()
}

fn logits_of(dir: &PathBuf, case: &str) -> Tensor {
    let (cfg, w) = families::load_hf_dir(dir).unwrap();
    let ids = common::expected(case)["input_ids"].clone();
    Model::new(&cfg, &w).unwrap().forward(&ids, None).unwrap()
}

#[test]
fn sharded_checkpoint_with_index_matches_hf() {
    let case = "qwen3";
    let dir = scratch("shards");
    std::fs::copy(
        common::fixture_dir(case).join("config.json"),
        dir.join("config.json"),
    )
    .unwrap();
    let mut names: Vec<String> = tensors(case).keys().cloned().collect();
    names.sort();
    let all = tensors(case);
    let mut weight_map = serde_json::Map::new();
    for (k, chunk) in names.chunks(names.len() / 3 + 1).enumerate() {
        let file = format!("model-{:05}-of-00003.safetensors", k + 1);
        let part: HashMap<String, Tensor> =
            chunk.iter().map(|n| (n.clone(), all[n].clone())).collect();
        candle_core::safetensors::save(&part, dir.join(&file)).unwrap();
        chunk.iter().for_each(|n| {
            weight_map.insert(n.clone(), file.clone().into());
        });
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": weight_map });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let (d, at) = common::max_abs_diff(&logits_of(&dir, case), &common::expected(case)["logits"]);
    assert!(d <= common::LOGITS_TOL, "sharded: max|Δ| {d:.2e} at {at}");
}

#[test]
fn f16_and_bf16_checkpoints_load_within_their_rounding() {
    let case = "llama";
    for (dtype, tol) in [(DType::F16, 2e-2f32), (DType::BF16, 2e-1)] {
        let dir = scratch(&format!("{dtype:?}"));
        std::fs::copy(
            common::fixture_dir(case).join("config.json"),
            dir.join("config.json"),
        )
        .unwrap();
        let converted: HashMap<String, Tensor> = tensors(case)
            .into_iter()
            .map(|(k, t)| (k, t.to_dtype(dtype).unwrap()))
            .collect();
        candle_core::safetensors::save(&converted, dir.join("model.safetensors")).unwrap();
        // Reference: the same rounded weights in f32, through the f32 path.
        let ref_dir = scratch(&format!("{dtype:?}-ref"));
        std::fs::copy(
            common::fixture_dir(case).join("config.json"),
            ref_dir.join("config.json"),
        )
        .unwrap();
        let back: HashMap<String, Tensor> = converted
            .iter()
            .map(|(k, t)| (k.clone(), t.to_dtype(DType::F32).unwrap()))
            .collect();
        candle_core::safetensors::save(&back, ref_dir.join("model.safetensors")).unwrap();
        let (exact, _) = common::max_abs_diff(&logits_of(&dir, case), &logits_of(&ref_dir, case));
        assert!(
            exact <= 1e-5,
            "{dtype:?}: upcast at load must be exact, got {exact:.2e}"
        );
        let (d, _) =
            common::max_abs_diff(&logits_of(&dir, case), &common::expected(case)["logits"]);
        assert!(
            d <= tol,
            "{dtype:?} weights: max|Δ| to HF f32 {d:.3e} > {tol}"
        );
    }
}
