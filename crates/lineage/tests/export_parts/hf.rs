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
