//! The real default model (SmolLM2-135M-Instruct Q4_1) against the anchors in
//! tests/fixtures/anchors: an exact float64 pass over the dequantized weights and
//! llama.cpp's outputs. The model comes from `scripts/fetch-models.sh` (run by .ci/run);
//! without it these tests print why and pass vacuously.

mod common;

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use common::anchors::{ids_of, prompts, top10_error};
use lineage::families::GgufPrecision;
use lineage::model::Model;
use lineage::runtime::generate::greedy;

fn model_path(test: &str) -> Option<PathBuf> {
    lineage::cache::test_model(lineage::cache::SMOLLM2_Q4_1, test)
}

fn load(precision: GgufPrecision, test: &str) -> Option<Model> {
    let path = model_path(test)?;
    let (cfg, w) = lineage::load_with(&path, lineage::LoadOptions { gguf: precision }).unwrap();
    Some(Model::new(&cfg, &w).unwrap())
}

fn last_logits(m: &Model, ids: &[u32]) -> Vec<f32> {
    let t = Tensor::new(ids, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let l = m.forward(&t, None).unwrap();
    l.get(0)
        .unwrap()
        .get(ids.len() - 1)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

fn greedy_ids(m: &Model, prompt: &[u32], n: usize) -> Vec<u32> {
    let t = Tensor::new(prompt, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    greedy(m, &t, n).unwrap().remove(0)[prompt.len()..].to_vec()
}

#[test]
fn smollm2_f32_mode_matches_exact_reference() {
    let Some(m) = load(
        GgufPrecision::F32,
        "smollm2_f32_mode_matches_exact_reference",
    ) else {
        return;
    };
    for (lc, ex) in prompts() {
        let ids = ids_of(&lc, "prompt_token_ids");
        let (err, top1) = top10_error(&last_logits(&m, &ids), &ex);
        assert!(
            err <= 1e-2 && top1,
            "{}: top-10 max|Δ| {err:.4} (≤ 1e-2), top-1 ok {top1}",
            ex["name"]
        );
        let want = ids_of(&ex, "greedy_token_ids");
        let got = greedy_ids(&m, &ids, want.len());
        assert_eq!(
            got, want,
            "{}: greedy tokens differ from the exact reference",
            ex["name"]
        );
    }
}

#[test]
fn smollm2_fast_path_at_least_as_close_as_llama_cpp() {
    let Some(m) = load(
        GgufPrecision::Quantized,
        "smollm2_fast_path_at_least_as_close_as_llama_cpp",
    ) else {
        return;
    };
    for (lc, ex) in prompts() {
        let ids = ids_of(&lc, "prompt_token_ids");
        let (err, top1) = top10_error(&last_logits(&m, &ids), &ex);
        assert!(
            top1,
            "{}: top-1 differs from the exact reference",
            ex["name"]
        );
        assert!(err <= 0.5, "{}: top-10 max|Δ| {err:.3} > 0.5", ex["name"]);
        let want = ids_of(&ex, "greedy_token_ids");
        let need = ex["first_divergence_from_llama_cpp_greedy"]
            .as_u64()
            .map_or(want.len(), |d| d as usize);
        let got = greedy_ids(&m, &ids, want.len());
        let agree = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
        assert!(
            agree >= need,
            "{}: greedy agrees with exact for {agree} steps, llama.cpp for {need}",
            ex["name"]
        );
    }
}

/// The default fast path (Q4_1 kept packed, exact f32 activations) computes the same
/// function as the exactly dequantised f32 model, up to summation order: every logit at
/// the last position of each anchor prompt within 1e-5 of max|logit|.
#[test]
fn smollm2_fast_path_equals_dequantised_model() {
    let test = "smollm2_fast_path_equals_dequantised_model";
    let (Some(fast), Some(exact)) = (
        load(GgufPrecision::Quantized, test),
        load(GgufPrecision::F32, test),
    ) else {
        return;
    };
    for (lc, ex) in prompts() {
        let ids = ids_of(&lc, "prompt_token_ids");
        let (a, b) = (last_logits(&fast, &ids), last_logits(&exact, &ids));
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = a
            .iter()
            .zip(&b)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        eprintln!(
            "{}: fast vs dequantised max|Δ| {d:.3e}, max|logit| {scale:.1}",
            ex["name"]
        );
        assert!(
            d <= 1e-5 * scale,
            "{}: max|Δ| {d:.3e} > 1e-5 x {scale:.1}",
            ex["name"]
        );
    }
}
