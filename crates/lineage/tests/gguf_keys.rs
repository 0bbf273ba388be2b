//! GGUF keys are read or refused, never ignored: files from llama.cpp's converter
//! (tests/fixtures/gguf_llama_cpp) rewritten with one key added, removed or changed, each
//! read the way llama.cpp reads it, or refused with an error naming the key.

mod common;

use std::path::{Path, PathBuf};

use common::{expected, max_abs_diff};
use lineage::config::{Position, RopeScaling, Router};
use lineage::families::GgufPrecision;
use lineage::model::Model;
use lineage::weights::gguf::{GgufFile, GgufWriter, MetaArray, MetaValue};
use lineage::{LoadOptions, ModelConfig};

fn fixture(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gguf_llama_cpp")
        .join(file)
}

/// A copy of `file` with `key` set to `value` (or removed when `None`).
fn rewrite(file: &str, edits: &[(&str, Option<MetaValue>)], tag: &str) -> PathBuf {
    let src = GgufFile::open(fixture(file)).unwrap();
    let mut w = GgufWriter::new();
    for (k, v) in src.metadata().iter() {
        if !edits.iter().any(|(e, _)| *e == k) {
            w.add_kv(k, v.clone());
        }
    }
    for (k, v) in edits {
        if let Some(v) = v {
            w.add_kv(k, v.clone());
        }
    }
    for t in src.tensors() {
        let bytes = src.tensor_bytes(&t.name).unwrap().to_vec();
        w.add_tensor(&t.name, &t.dims, t.ggml_type, bytes);
    }
    let path = std::env::temp_dir().join(format!(
        "lineage-gguf-keys-{}-{tag}.gguf",
        std::process::id()
    ));
    w.write(&path).unwrap();
    path
}

fn load(path: &Path) -> lineage::Result<(ModelConfig, lineage::weights::Weights)> {
    let r = lineage::load_with(
        path,
        LoadOptions {
            gguf: GgufPrecision::F32,
        },
    );
    std::fs::remove_file(path).ok();
    r
}

/// max|Δ| of the model built from `cfg`/`w` against HF's logits of `case`.
fn hf_logits_diff(cfg: &ModelConfig, w: &lineage::weights::Weights, case: &str) -> f32 {
    let exp = expected(case);
    let got = Model::new(cfg, w)
        .unwrap()
        .forward(&exp["input_ids"], None)
        .unwrap();
    max_abs_diff(&got, &exp["logits"]).0
}

fn refused_naming(path: PathBuf, key: &str) {
    let err = load(&path).err().map(|e| e.to_string());
    let err = err.unwrap_or_else(|| panic!("a file with `{key}` loaded"));
    assert!(err.contains(key), "error does not name `{key}`: {err}");
}

#[test]
fn a_key_lineage_does_not_understand_is_refused_by_name() {
    let key = "llama.attention.temperature_length";
    let p = rewrite(
        "llama.f32.gguf",
        &[(key, Some(MetaValue::U32(8192)))],
        "unknown",
    );
    refused_naming(p, key);
}

#[test]
fn unsupported_values_of_known_keys_are_refused_by_name() {
    let cases: &[(&str, &str, MetaValue)] = &[
        (
            "deepseek_v3.f32.gguf",
            "deepseek2.expert_gating_func",
            MetaValue::U32(5),
        ),
        (
            "llama.f32.gguf",
            "llama.rope.scaling.type",
            MetaValue::String("su".into()),
        ),
        (
            "llama.f32.gguf",
            "llama.attention.causal",
            MetaValue::Bool(false),
        ),
        (
            "llama_yarn.f32.gguf",
            "llama.rope.scaling.yarn_ext_factor",
            MetaValue::F32(0.5),
        ),
        (
            "gemma2.f32.gguf",
            "gemma2.attention.sliding_window_pattern",
            MetaValue::Array(MetaArray::bools([true])),
        ),
    ];
    for (i, (file, key, v)) in cases.iter().enumerate() {
        let p = rewrite(file, &[(key, Some(v.clone()))], &format!("bad{i}"));
        refused_naming(p, key);
    }
}

/// llama.cpp's default scaling type is linear: a factor without a type still scales.
#[test]
fn a_rope_factor_without_a_type_is_linear_as_in_llama_cpp() {
    let p = rewrite(
        "llama_linear.f32.gguf",
        &[("llama.rope.scaling.type", None)],
        "notype",
    );
    let (cfg, w) = load(&p).unwrap();
    let Position::Rope(r) = &cfg.position else {
        panic!("no RoPE")
    };
    assert_eq!(r.scaling, RopeScaling::Linear { factor: 2.0 });
    let d = hf_logits_diff(&cfg, &w, "llama_linear");
    assert!(d <= 1e-4, "llama_linear without rope.scaling.type: {d:.3e}");
}

/// A per-layer `sliding_window_pattern` array states Gemma 3's irregular layer types,
/// which its default period of 6 cannot: with it the file says HF's layers exactly.
#[test]
fn a_sliding_window_pattern_array_sets_each_layer() {
    let hf = lineage::families::load_hf_dir(&common::fixture_dir("gemma3_text"))
        .unwrap()
        .0;
    let flags = hf.layers.iter().map(|l| l.window.is_some());
    let key = "gemma3.attention.sliding_window_pattern";
    let arr = MetaValue::Array(MetaArray::bools(flags));
    let p = rewrite("gemma3_text.f32.gguf", &[(key, Some(arr))], "swa");
    let (cfg, _) = load(&p).unwrap();
    let windows = |c: &ModelConfig| c.layers.iter().map(|l| l.window).collect::<Vec<_>>();
    assert_eq!(windows(&cfg), windows(&hf));
    let p = rewrite(
        "gemma3_text.f32.gguf",
        &[(key, Some(MetaValue::U32(2)))],
        "swa2",
    );
    let (cfg, _) = load(&p).unwrap();
    assert_eq!(windows(&cfg), vec![Some(6), None, Some(6), None]);
}

/// A deepseek2 file with `expert_gating_func` = 2 is DeepSeek-V3's sigmoid router, and
/// then reproduces HF without any reconciling.
#[test]
fn deepseek2_with_sigmoid_gating_matches_hf() {
    let p = rewrite(
        "deepseek_v3.f32.gguf",
        &[("deepseek2.expert_gating_func", Some(MetaValue::U32(2)))],
        "sigmoid",
    );
    let (cfg, w) = load(&p).unwrap();
    assert!(matches!(
        cfg.ffn.moe.as_ref().unwrap().router,
        Router::SigmoidGrouped { .. }
    ));
    let d = hf_logits_diff(&cfg, &w, "deepseek_v3");
    assert!(d <= 1e-4, "deepseek2 with gating 2 vs HF: {d:.3e}");
}

/// The converter writes Phi-3 LongRoPE as two factor tensors and `attn_factor`; past the
/// original context (64) the long factors apply. HF logits on a 96-token input.
#[test]
fn phi3_longrope_past_its_original_context_matches_hf() {
    let (cfg, w) = lineage::load_with(
        &fixture("phi3_longrope.f32.gguf"),
        LoadOptions {
            gguf: GgufPrecision::F32,
        },
    )
    .unwrap();
    let Position::Rope(r) = &cfg.position else {
        panic!("no RoPE")
    };
    let RopeScaling::LongRope {
        original_max,
        attention_factor,
        ..
    } = &r.scaling
    else {
        panic!("not LongRoPE: {:?}", r.scaling)
    };
    assert_eq!(*original_max, 64);
    assert!((attention_factor - 1.1547005).abs() < 1e-6);
    let exp = candle_core::safetensors::load(
        fixture("phi3_longrope.long.expected.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert!(exp["input_ids"].dim(1).unwrap() > 64);
    let got = Model::new(&cfg, &w)
        .unwrap()
        .forward(&exp["input_ids"], None)
        .unwrap();
    let (d, at) = max_abs_diff(&got, &exp["logits"]);
    eprintln!("phi3_longrope, 96 tokens: {d:.3e}");
    assert!(d <= 1e-4, "phi3_longrope long input vs HF: {d:.3e} at {at}");
}

/// llama.cpp disables Phi-3's sliding window ("Phi SWA is currently disabled"): a phi3
/// file that states one still runs with full attention, in lineage too.
#[test]
fn a_phi3_sliding_window_is_read_and_off_as_in_llama_cpp() {
    let p = rewrite(
        "phi3.f32.gguf",
        &[("phi3.attention.sliding_window", Some(MetaValue::U32(4)))],
        "phi3swa",
    );
    let (cfg, w) = load(&p).unwrap();
    assert!(cfg.layers.iter().all(|l| l.window.is_none()));
    let d = hf_logits_diff(&cfg, &w, "phi3");
    assert!(
        d <= 1e-4,
        "phi3 with a stated window vs HF (full attention): {d:.3e}"
    );
}

/// The quantized path splits a fused `attn_qkv` by byte ranges: rows that do not add up
/// to the tensor's (4 KV heads stated, 2 stored) are an error naming it, not a panic.
#[test]
fn fused_qkv_rows_are_checked_on_the_quantized_path() {
    let p = rewrite(
        "phi3.q8_0.gguf",
        &[("phi3.attention.head_count_kv", Some(MetaValue::U32(4)))],
        "qkv-rows",
    );
    let r = lineage::load_with(
        &p,
        LoadOptions {
            gguf: GgufPrecision::Quantized,
        },
    );
    std::fs::remove_file(&p).ok();
    let e = r
        .err()
        .expect("a fused tensor of the wrong rows loaded")
        .to_string();
    assert!(
        e.contains("blk.0.attn_qkv.weight") && e.contains("fused"),
        "{e}"
    );
}
