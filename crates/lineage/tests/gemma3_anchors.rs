//! Gemma-3-270M Q4_K_M (k-quants, 5:1 local/global windows, SentencePiece vocabulary)
//! against llama.cpp (tests/fixtures/anchors/gemma3_270m_llamacpp.json, made by
//! tools/real_model_refs/make_gemma_refs.py): identical token ids, the same top-1 at the
//! last prompt position, and the same greedy tokens until a near tie: the first step where
//! llama.cpp's top-1/top-2 margin, or ours, is below 0.1. Near ties are decided by kernel
//! noise; llama.cpp's logits move by up to ~0.8 with its own settings, while ours equal the
//! exactly dequantized model's (seen on the "spaces" prompt: at step 17 the exact margin is
//! 0.067 and llama.cpp, off by ~0.3, picks the runner-up). The model comes from
//! scripts/fetch-models.sh; without it the tests print why and pass vacuously.

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use lineage::model::{ops, Model};
use serde_json::Value;

fn model_path(test: &str) -> Option<PathBuf> {
    lineage::cache::test_model(lineage::cache::GEMMA3_270M_Q4_K_M, test)
}

fn refs() -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/anchors/gemma3_270m_llamacpp.json");
    serde_json::from_str(
        &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn gemma3_token_ids_equal_llama_cpp() {
    let Some(path) = model_path("gemma3_token_ids_equal_llama_cpp") else {
        return;
    };
    let tok = lineage::load_tokenizer(&path).unwrap();
    for p in refs()["prompts"].as_array().unwrap() {
        let got = tok.encode(p["prompt"].as_str().unwrap(), true).unwrap();
        assert_eq!(got, ids(&p["prompt_token_ids"]), "prompt {}", p["name"]);
    }
}

#[test]
fn gemma3_top1_and_greedy_match_llama_cpp() {
    let Some(path) = model_path("gemma3_top1_and_greedy_match_llama_cpp") else {
        return;
    };
    let (cfg, w) = lineage::load(&path).unwrap();
    let model = Model::new(&cfg, &w).unwrap();
    let mut compared = 0;
    for p in refs()["prompts"].as_array().unwrap() {
        let prompt = ids(&p["prompt_token_ids"]);
        let t = Tensor::new(prompt.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let logits = model.forward(&t, None).unwrap();
        let last = logits
            .get(0)
            .unwrap()
            .get(prompt.len() - 1)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let want_top1 = p["last_prompt_top5"][0][0].as_u64().unwrap() as usize;
        assert_eq!(
            ops::argmax(&last),
            want_top1,
            "prompt {}: top-1 at the last prompt position",
            p["name"]
        );
        let want = ids(&p["greedy_token_ids"]);
        let theirs: Vec<f64> = p["greedy_top1_top2_margin"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_f64().unwrap())
            .collect();
        let (got, ours) = greedy_with_margins(&model, &prompt, want.len());
        let must = (0..want.len())
            .position(|i| theirs[i] < 0.1 || ours[i] < 0.1)
            .unwrap_or(want.len());
        compared += must;
        assert_eq!(
            got[..must],
            want[..must],
            "prompt {}: greedy tokens before the first near tie (step {must})",
            p["name"]
        );
    }
    assert!(
        compared >= 40,
        "only {compared} greedy steps were free of near ties"
    );
}

/// Greedy tokens with each step's top-1/top-2 logit margin.
fn greedy_with_margins(model: &Model, prompt: &[u32], n: usize) -> (Vec<u32>, Vec<f64>) {
    let mut cache = lineage::runtime::kv_cache::KvCache::new(model.config());
    let mut input = prompt.to_vec();
    let (mut ids, mut margins) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Tensor::new(input.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let l = model.forward(&t, Some(&mut cache)).unwrap();
        let last = l
            .get(0)
            .unwrap()
            .get(input.len() - 1)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let best = ops::argmax(&last);
        let second = last
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != best)
            .map(|(_, v)| *v)
            .fold(f32::NEG_INFINITY, f32::max);
        ids.push(best as u32);
        margins.push((last[best] - second) as f64);
        input = vec![best as u32];
    }
    (ids, margins)
}
