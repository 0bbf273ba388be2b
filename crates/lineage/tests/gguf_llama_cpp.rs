//! GGUF files written by llama.cpp's own `convert_hf_to_gguf.py` (llama-cpp-python 0.3.36
//! sdist; tools/gguf_llama_cpp/make_fixtures.py), one per HF fixture, against the HF
//! oracles: F32 files against HF's logits (1e-4) and greedy ids (exact), Q8_0 files
//! against HF run on the weights the Q8_0 file holds (1e-4).
//!
//! Where llama.cpp hard-codes a value the file cannot state and the HF fixture differs,
//! the test first checks that the file reads as llama.cpp reads it, then takes exactly
//! that value from the HF config (see `reconcile`).

mod common;

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use common::{expected, max_abs_diff};
use lineage::config::{FfnKind, GroupScore, Position, RopeScaling, Router};
use lineage::families::GgufPrecision;
use lineage::model::Model;
use lineage::{LoadOptions, ModelConfig};

const TOL: f32 = 1e-4;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf_llama_cpp")
}

fn load(file: &str, precision: GgufPrecision) -> (ModelConfig, lineage::weights::Weights) {
    let path = dir().join(file);
    lineage::load_with(&path, LoadOptions { gguf: precision })
        .unwrap_or_else(|e| panic!("{file} ({precision:?}): load failed: {e}"))
}

fn hf_config(case: &str) -> ModelConfig {
    lineage::families::load_hf_dir(&common::fixture_dir(case))
        .unwrap()
        .0
}

/// Asserts the llama.cpp reading of what the file cannot say, then swaps in HF's value.
fn reconcile(case: &str, cfg: &mut ModelConfig, hf: &ModelConfig) {
    match case {
        // llama.cpp: Gemma 3 layers slide in periods of 6, scale 1/sqrt(head_dim).
        "gemma3_text" => {
            assert!(
                cfg.layers.iter().all(|l| l.window.is_some()),
                "{case}: 4 layers, none is a 6th: {:?}",
                cfg.layers
            );
            assert_eq!(cfg.attention.scale, None, "{case}: 1/sqrt(head_dim)");
            cfg.layers = hf.layers.clone();
            cfg.attention.scale = hf.attention.scale;
        }
        // llama.cpp: clamp limit 7.0 and floor/ceil'd YaRN correction range.
        "gpt_oss" | "gpt_oss_mxfp4" => {
            assert!(
                matches!(cfg.ffn.kind, FfnKind::ClampedSwiGlu { limit, .. } if limit == 7.0),
                "{case}: {:?}",
                cfg.ffn.kind
            );
            let Position::Rope(r) = &mut cfg.position else {
                panic!("{case}: no RoPE")
            };
            let RopeScaling::Yarn { truncate, .. } = &mut r.scaling else {
                panic!("{case}: not YaRN")
            };
            assert!(*truncate, "{case}: llama.cpp truncates the YaRN range");
            *truncate = false;
            cfg.ffn.kind = hf.ffn.kind;
        }
        // llama.cpp's llama architecture has no sliding window; the converter writes none.
        "mistral" => {
            assert!(
                cfg.layers.iter().all(|l| l.window.is_none()),
                "{case}: llama arch, full attention"
            );
            cfg.layers = hf.layers.clone();
        }
        // transformers 5 drops `scoring_func`, so the converter writes no
        // `expert_gating_func` and llama.cpp routes with softmax (DeepSeek-V2's router).
        "deepseek_v3" => {
            let moe = cfg.ffn.moe.as_mut().unwrap();
            assert!(
                matches!(
                    moe.router,
                    Router::SoftmaxGrouped {
                        correction_bias: true,
                        ..
                    }
                ),
                "{case}: {:?}",
                moe.router
            );
            moe.router = hf.ffn.moe.as_ref().unwrap().router.clone();
        }
        // llama.cpp ranks expert groups by their top-2 sum for every architecture; HF
        // DeepSeek-V2 (`group_limited_greedy`) by their best expert. The file cannot say.
        "deepseek_v2" => {
            let moe = cfg.ffn.moe.as_mut().unwrap();
            let Router::SoftmaxGrouped { group_score, .. } = &mut moe.router else {
                panic!("{case}: {:?}", moe.router)
            };
            assert_eq!(
                *group_score,
                GroupScore::Top2Sum,
                "{case}: llama.cpp's rule"
            );
            *group_score = GroupScore::Max;
            let want = &hf.ffn.moe.as_ref().unwrap().router;
            assert_eq!(&moe.router, want, "{case}: the rest reads as HF");
        }
        _ => {}
    }
}

fn model(case: &str, file: &str) -> Model {
    let (mut cfg, w) = load(file, GgufPrecision::F32);
    reconcile(case, &mut cfg, &hf_config(case));
    Model::new(&cfg, &w).unwrap_or_else(|e| panic!("{file}: build failed: {e}"))
}

fn check_logits(file: &str, model: &Model, ids: &Tensor, want: &Tensor) {
    let got = model
        .forward(ids, None)
        .unwrap_or_else(|e| panic!("{file}: forward failed: {e}"));
    let (d, at) = max_abs_diff(&got, want);
    eprintln!("{file}: logits max|Δ| = {d:.3e}");
    assert!(
        d <= TOL,
        "{file}: logits max|Δ| = {d:.3e} at flat index {at} (tolerance {TOL:.0e})"
    );
}

fn check_f32(case: &str) {
    let file = format!("{case}.f32.gguf");
    let m = model(case, &file);
    let exp = expected(case);
    check_logits(&file, &m, &exp["input_ids"], &exp["logits"]);
    let want = exp["greedy_ids"].to_vec2::<i64>().unwrap();
    let t = exp["input_ids"].dim(1).unwrap();
    let got = lineage::runtime::generate::greedy(&m, &exp["input_ids"], want[0].len() - t).unwrap();
    let got: Vec<Vec<i64>> = got
        .iter()
        .map(|r| r.iter().map(|&x| x as i64).collect())
        .collect();
    assert_eq!(got, want, "{file}: greedy ids differ from HF's");
}

fn check_q8_0(case: &str) {
    let file = format!("{case}.q8_0.gguf");
    let m = model(case, &file);
    let oracle = dir().join(format!("{case}.q8_0.expected.safetensors"));
    let exp = candle_core::safetensors::load(&oracle, &Device::Cpu).unwrap();
    check_logits(&file, &m, &exp["input_ids"], &exp["logits"]);
}

/// One line per case; `+ q8_0` when the case also has a Q8_0 file (not gpt_oss_mxfp4,
/// whose experts are MXFP4 already).
macro_rules! cases {
    ($($case:ident $(+ $q8:ident)?),* $(,)?) => {
        mod f32_matches_hf { use super::*; $( #[test] fn $case() { check_f32(stringify!($case)); } )* }
        mod q8_0_matches_hf_on_its_weights { use super::*; $( $(
            #[test] fn $case() { let _ = stringify!($q8); check_q8_0(stringify!($case)); }
        )? )* }
    };
}

cases!(
    bloom + q8_0,
    deepseek_v2 + q8_0,
    deepseek_v3 + q8_0,
    falcon + q8_0,
    falcon_mq + q8_0,
    gemma2 + q8_0,
    gemma3_text + q8_0,
    gpt2 + q8_0,
    gpt_neox + q8_0,
    gpt_oss + q8_0,
    gpt_oss_mxfp4,
    llama + q8_0,
    llama_linear + q8_0,
    llama_tied_mqa + q8_0,
    llama_yarn + q8_0,
    mistral + q8_0,
    mixtral + q8_0,
    olmo2 + q8_0,
    phi3 + q8_0,
    phi3_longrope + q8_0,
    qwen2 + q8_0,
    qwen3 + q8_0,
    qwen3_moe + q8_0,
);

/// Every HF fixture has its converter file here: a new family must come with one.
#[test]
fn every_hf_fixture_has_a_converter_file() {
    let hf = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf");
    for e in std::fs::read_dir(hf).unwrap() {
        let p = e.unwrap().path();
        if p.join("config.json").is_file() {
            let case = p.file_name().unwrap().to_string_lossy().to_string();
            let f = dir().join(format!("{case}.f32.gguf"));
            assert!(f.is_file(), "no converter file for HF fixture `{case}`");
        }
    }
}

/// Every converter file passes the key audit, and its report accounts for every
/// `{arch}.*` key of the file: each is listed as read or as not read (neutral).
#[test]
fn every_key_of_the_converter_files_is_accounted_for() {
    for e in std::fs::read_dir(dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "gguf") {
            continue;
        }
        let (_, r) = lineage::families::gguf_key_report(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let file = lineage::weights::gguf::GgufFile::open(&p).unwrap();
        let arch = file.metadata().get_str("general.architecture").unwrap();
        let mut listed: Vec<&String> = r.read.iter().chain(&r.not_read).collect();
        listed.sort();
        let mut keys: Vec<String> = file
            .metadata()
            .iter()
            .map(|(k, _)| k.to_string())
            .filter(|k| k.starts_with(&format!("{arch}.")))
            .collect();
        keys.sort();
        assert_eq!(listed, keys.iter().collect::<Vec<_>>(), "{}", p.display());
        assert!(
            r.read.iter().any(|k| k.ends_with(".block_count")),
            "{}: {r:?}",
            p.display()
        );
    }
}
