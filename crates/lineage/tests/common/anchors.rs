//! SmolLM2's anchors (tests/fixtures/anchors): llama.cpp's outputs and an exact float64
//! pass over the dequantized weights, paired per prompt, and the measures the tests
//! hold a path to.

use std::path::PathBuf;

use lineage::model::ops;
use serde_json::Value;

pub fn anchors(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/anchors")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// (llama.cpp's, the exact pass's) record of each prompt.
pub fn prompts() -> Vec<(Value, Value)> {
    let lc = anchors("smollm2_llamacpp_reference.json");
    let ex = anchors("smollm2_exact_f64_reference.json");
    lc["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .zip(ex["prompts"].as_array().unwrap().iter().cloned())
        .collect()
}

pub fn ids_of(p: &Value, key: &str) -> Vec<u32> {
    p[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// (max |Δ| over the exact top-10, whether our top-1 is the exact top-1).
pub fn top10_error(logits: &[f32], exact: &Value) -> (f64, bool) {
    let top = exact["last_prompt_top10_logits"].as_array().unwrap();
    let err = top
        .iter()
        .map(|e| (logits[e[0].as_u64().unwrap() as usize] as f64 - e[1].as_f64().unwrap()).abs())
        .fold(0.0, f64::max);
    (
        err,
        ops::argmax(logits) as u64 == top[0][0].as_u64().unwrap(),
    )
}
