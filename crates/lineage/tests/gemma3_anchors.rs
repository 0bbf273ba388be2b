//! Gemma-3-270M Q4_K_M (k-quants, 5:1 local/global windows, SentencePiece vocabulary)
//! against llama.cpp (tests/fixtures/anchors/gemma3_270m_llamacpp.json, made by
//! tools/real_model_refs/make_gemma_refs.py): identical token ids, the same top-1 at the
//! last prompt position, and the same greedy tokens until llama.cpp's own top-1/top-2
//! margin drops below 0.1 (where its kernel noise may decide). The model comes from
//! scripts/fetch-models.sh; without it the tests print why and pass vacuously.

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use lineage::model::{ops, Model};
use serde_json::Value;

fn model_path() -> Option<PathBuf> {
    let cache = std::env::var("LINEAGE_CACHE").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/lineage")
    });
    let p = cache.join("gemma-3-270m-q4_k_m.gguf");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("SKIP: {} not found; run scripts/fetch-models.sh", p.display());
        None
    }
}

fn refs() -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/anchors/gemma3_270m_llamacpp.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

#[test]
fn gemma3_token_ids_equal_llama_cpp() {
    let Some(path) = model_path() else { return };
    let tok = lineage::load_tokenizer(&path).unwrap();
    for p in refs()["prompts"].as_array().unwrap() {
        let got = tok.encode(p["prompt"].as_str().unwrap(), true).unwrap();
        assert_eq!(got, ids(&p["prompt_token_ids"]), "prompt {}", p["name"]);
    }
}

#[test]
fn gemma3_top1_and_greedy_match_llama_cpp() {
    let Some(path) = model_path() else { return };
    let (cfg, w) = lineage::load(&path).unwrap();
    let model = Model::new(&cfg, &w).unwrap();
    for p in refs()["prompts"].as_array().unwrap() {
        let prompt = ids(&p["prompt_token_ids"]);
        let t = Tensor::new(prompt.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let logits = model.forward(&t, None).unwrap();
        let last = logits.get(0).unwrap().get(prompt.len() - 1).unwrap().to_vec1::<f32>().unwrap();
        let want_top1 = p["last_prompt_top5"][0][0].as_u64().unwrap() as usize;
        assert_eq!(ops::argmax(&last), want_top1, "prompt {}: top-1 at the last prompt position", p["name"]);
        let want = ids(&p["greedy_token_ids"]);
        let margins: Vec<f64> = p["greedy_top1_top2_margin"].as_array().unwrap().iter().map(|m| m.as_f64().unwrap()).collect();
        let must = margins.iter().position(|&m| m < 0.1).unwrap_or(want.len());
        let got = lineage::runtime::generate::greedy(&model, &t, must).unwrap().remove(0)[prompt.len()..].to_vec();
        assert_eq!(got, want[..must].to_vec(), "prompt {}: greedy tokens before llama.cpp's margin < 0.1 (step {must})", p["name"]);
    }
}
