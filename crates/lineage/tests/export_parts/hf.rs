//! HF export: written folder -> `lineage::load` -> logits vs transformers' expected logits;
//! tensor names equal the fixture checkpoint's (what `save_pretrained` wrote).

use lineage::families::GgufPrecision;
use lineage::train::export::{hf_family, write_hf, HfFamily};

use crate::common::{self, LOGITS_TOL};
use crate::support::{run_of, safetensors_names, scratch, vs_hf};

fn check(case: &str, family: HfFamily) {
    let dir = scratch(&format!("hf_{case}"));
    let run = run_of(case, &dir, None);
    assert_eq!(hf_family(&run.cfg).unwrap(), family, "{case}: family");
    let out = dir.join("hf");
    write_hf(&run.cfg, &run.weights, None, &out).unwrap_or_else(|e| panic!("{case}: {e}"));
    let (d, at) = vs_hf(&out, case, GgufPrecision::F32);
    eprintln!("{case}: HF export logits vs transformers max|Δ| = {d:.3e}");
    assert!(
        d <= LOGITS_TOL,
        "{case}: exported HF logits max|Δ| = {d:.3e} at flat index {at}"
    );
    let want = safetensors_names(&common::fixture_dir(case).join("model.safetensors"));
    assert_eq!(
        safetensors_names(&out.join("model.safetensors")),
        want,
        "{case}: tensor names"
    );
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["model_type"], family.model_type());
    assert_eq!(cfg["dtype"], "float32");
    assert_eq!(cfg["torch_dtype"], "float32");
}

macro_rules! cases {
    ($($name:ident => $case:literal, $fam:ident;)*) => {
        mod export_hf_logits_match_transformers {
            use super::*;
            $( #[test] fn $name() { check($case, HfFamily::$fam); } )*
        }
    };
}

cases! {
    gpt2 => "gpt2", Gpt2;
    llama => "llama", Llama;
    llama_tied_mqa => "llama_tied_mqa", Llama;
    llama_yarn => "llama_yarn", Llama;
    llama_linear => "llama_linear", Llama;
    mistral => "mistral", Mistral;
    qwen2 => "qwen2", Qwen2;
    qwen3 => "qwen3", Qwen3;
    mixtral => "mixtral", Mixtral;
    qwen3_moe => "qwen3_moe", Qwen3Moe;
}

/// A model read from a llama-arch GGUF (adjacent RoPE pairs, permuted q/k rows) goes to
/// HF's rotate-half layout: the HF folder must compute what the GGUF computes, and stay
/// as close to transformers as the Q8_0 weights allow.
#[test]
fn export_hf_from_interleaved_gguf_computes_the_same_logits() {
    let gguf = crate::support::gguf_fixture("llama_yarn.q8_0");
    let (cfg, w) = lineage::load_with(
        &gguf,
        lineage::LoadOptions {
            gguf: GgufPrecision::F32,
        },
    )
    .unwrap();
    assert_eq!(
        match &cfg.position {
            lineage::config::Position::Rope(r) => r.pairing,
            _ => unreachable!(),
        },
        lineage::config::RopePairing::Interleaved
    );
    let out = scratch("hf_from_gguf").join("hf");
    write_hf(&cfg, &w, None, &out).unwrap();
    let from_gguf = crate::support::logits(&gguf, "llama_yarn", GgufPrecision::F32);
    let from_hf = crate::support::logits(&out, "llama_yarn", GgufPrecision::F32);
    let (d, at) = common::max_abs_diff(&from_hf, &from_gguf);
    eprintln!("llama_yarn.q8_0.gguf -> HF: logits vs the GGUF's max|Δ| = {d:.3e}");
    assert!(
        d <= 1e-4,
        "GGUF -> HF logits differ from the GGUF's: max|Δ| = {d:.3e} at {at}"
    );
}

/// Variants no fixture has, exported and read back: lineage computes the same logits from
/// the folder as from the run (tools/export_check/check_hf.py runs transformers on them).
fn check_variant(
    name: &str,
    case: &str,
    edit: impl Fn(&mut lineage::train::RunModel),
    family: HfFamily,
) {
    let dir = scratch(&format!("hf_variant_{name}"));
    let mut run = run_of(case, &dir, None);
    edit(&mut run);
    assert_eq!(hf_family(&run.cfg).unwrap(), family, "{name}: family");
    let out = dir.join("hf");
    write_hf(&run.cfg, &run.weights, None, &out).unwrap_or_else(|e| panic!("{name}: {e}"));
    let ids = &common::expected(case)["input_ids"];
    let want = lineage::model::Model::new(&run.cfg, &run.weights)
        .unwrap()
        .forward(ids, None)
        .unwrap();
    let got = crate::support::logits(&out, case, GgufPrecision::F32);
    let (d, at) = common::max_abs_diff(&got, &want);
    eprintln!("{name}: HF export read back vs the run's logits max|Δ| = {d:.3e}");
    assert!(
        d <= 1e-5,
        "{name}: read-back logits max|Δ| = {d:.3e} at {at}"
    );
}

#[test]
fn export_hf_qwen3_window_on_one_layer_reads_back_equal() {
    check_variant(
        "qwen3_window_layer1",
        "qwen3",
        |r| r.cfg.layers[1].window = Some(8),
        HfFamily::Qwen3,
    );
}

#[test]
fn export_hf_gpt2_without_biases_writes_zero_biases() {
    check_variant(
        "gpt2_no_bias",
        "gpt2",
        |r| {
            r.cfg.attention.bias = lineage::config::ProjBias::all(false);
            r.cfg.ffn.bias = false;
            let names: Vec<String> = r
                .weights
                .names()
                .filter(|n| n.ends_with(".bias") && !n.contains("norm"))
                .map(String::from)
                .collect();
            for n in names {
                r.weights.remove(&n);
            }
        },
        HfFamily::Gpt2,
    );
}

#[test]
fn export_hf_llama_with_all_biases_and_tied_head_reads_back_equal() {
    check_variant(
        "llama_bias_tied",
        "qwen2",
        |r| {
            r.cfg.attention.bias.o = true;
            r.cfg.ffn.bias = true;
            r.cfg.embedding.tied_lm_head = true;
            r.weights.remove("output.weight");
            let dev = candle_core::Device::Cpu;
            let (d, f) = (r.cfg.d_model, r.cfg.ffn.d_ff);
            for i in 0..r.cfg.n_layers() {
                for (n, len) in [
                    ("attn_output", d),
                    ("ffn_gate", f),
                    ("ffn_up", f),
                    ("ffn_down", d),
                ] {
                    let b = candle_core::Tensor::randn(0f32, 0.1, len, &dev).unwrap();
                    r.weights.insert(format!("blk.{i}.{n}.bias"), b);
                }
            }
        },
        HfFamily::Llama,
    );
}
