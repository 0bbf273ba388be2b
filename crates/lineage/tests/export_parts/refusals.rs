//! What export refuses, and that the refusal names the component, file or tensor.

use lineage::config::{NormPlacement, Position, Rope, RopePairing, RopeScaling};
use lineage::families::GgufPrecision;
use std::path::Path;

use lineage::train::export::{write_gguf, write_hf, GgufDtype};
use lineage::train::RunModel;

use crate::support::{gguf_fixture, run_of, scratch};

fn err_text(r: lineage::Result<()>) -> String {
    match r {
        Ok(()) => panic!("export succeeded but should have been refused"),
        Err(e) => e.to_string(),
    }
}

/// The error of an F32 GGUF export of `run` to `file` (which must be refused).
fn gguf_refusal(run: &RunModel, tokenizer: Option<&Path>, file: &Path) -> String {
    err_text(write_gguf(
        &run.cfg,
        &run.weights,
        tokenizer,
        GgufDtype::F32,
        file,
    ))
}

fn assert_names(msg: &str, what: &[&str]) {
    for w in what {
        assert!(msg.contains(w), "error `{msg}` does not mention `{w}`");
    }
}

#[test]
fn export_hf_gpt2_with_rope_names_the_norm() {
    let dir = scratch("ref_gpt2_rope");
    let mut run = run_of("gpt2", &dir, None);
    run.cfg.position = Position::Rope(Rope {
        theta: 1e4,
        rotary_dim: 16,
        pairing: RopePairing::RotateHalf,
        scaling: RopeScaling::None,
    });
    run.weights.remove("position_embd.weight");
    let msg = err_text(write_hf(&run.cfg, &run.weights, None, &dir.join("hf")));
    assert_names(&msg, &["export --format hf", "block.norm", "LayerNorm"]);
    let msg = gguf_refusal(&run, None, &dir.join("m.gguf"));
    assert_names(&msg, &["export --format gguf", "block.norm"]);
    assert!(
        !dir.join("hf").exists() && !dir.join("m.gguf").exists(),
        "nothing written on refusal"
    );
}

#[test]
fn export_hf_post_norm_names_the_placement() {
    let dir = scratch("ref_post_norm");
    let mut run = run_of("llama", &dir, None);
    run.cfg.block.placement = NormPlacement::Post;
    let msg = err_text(write_hf(&run.cfg, &run.weights, None, &dir.join("hf")));
    assert_names(&msg, &["block.placement", "Post"]);
}

#[test]
fn export_gguf_sliding_window_names_the_window() {
    let dir = scratch("ref_window");
    let run = run_of("mistral", &dir, None);
    let msg = gguf_refusal(&run, None, &dir.join("m.gguf"));
    assert_names(&msg, &["layers[].window", "layer 0"]);
}

#[test]
fn export_gguf_dynamic_ntk_names_the_scaling() {
    let dir = scratch("ref_dynamic");
    let mut run = run_of("llama_tied_mqa", &dir, None);
    if let Position::Rope(r) = &mut run.cfg.position {
        r.scaling = RopeScaling::DynamicNtk {
            factor: 2.0,
            original_max: 64,
        };
    }
    let msg = gguf_refusal(&run, None, &dir.join("m.gguf"));
    assert_names(&msg, &["position.scaling", "DynamicNtk"]);
}

#[test]
fn export_out_not_empty_is_refused() {
    let dir = scratch("ref_out_exists");
    let run = run_of("llama_tied_mqa", &dir, None);
    let out = dir.join("hf");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let msg = err_text(write_hf(&run.cfg, &run.weights, None, &out));
    assert_names(&msg, &["already exists"]);
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).unwrap(),
        "mine"
    );
    let file = dir.join("m.gguf");
    std::fs::write(&file, "old").unwrap();
    let msg = gguf_refusal(&run, None, &file);
    assert_names(&msg, &["already exists"]);
    let msg = gguf_refusal(&run, None, &out);
    assert_names(&msg, &["is a folder"]);
    // An empty folder is taken.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    write_hf(&run.cfg, &run.weights, None, &empty).unwrap();
    assert!(empty.join("config.json").is_file());
}

#[test]
fn export_unused_weight_is_refused_not_dropped() {
    let dir = scratch("ref_unused");
    let mut run = run_of("llama_tied_mqa", &dir, None);
    let extra =
        candle_core::Tensor::zeros(4, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
    run.weights.insert("blk.0.attn_sinks.weight", extra);
    let msg = err_text(write_hf(&run.cfg, &run.weights, None, &dir.join("hf")));
    assert_names(&msg, &["blk.0.attn_sinks.weight", "drop"]);
}

#[test]
fn export_quantized_weights_are_refused_with_a_hint() {
    let (cfg, w) = lineage::load_with(
        &gguf_fixture("llama_yarn.q8_0"),
        lineage::LoadOptions {
            gguf: GgufPrecision::Quantized,
        },
    )
    .unwrap();
    let dir = scratch("ref_quantized");
    let msg = err_text(write_hf(&cfg, &w, None, &dir.join("hf")));
    assert_names(&msg, &["quantized", "f32 precision"]);
}

#[test]
fn export_tokenizer_larger_than_vocab_is_refused() {
    let dir = scratch("ref_tok_big");
    let tok = dir.join("tokenizer.json");
    let src = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/text/smollm2_tokenizer.json");
    std::fs::copy(src, &tok).unwrap();
    let run = run_of("llama_tied_mqa", &dir, Some(&tok));
    let msg = gguf_refusal(&run, run.tokenizer.as_deref(), &dir.join("m.gguf"));
    assert_names(&msg, &["tokenizer.json", "288 rows"]);
}

#[test]
fn export_gguf_non_byte_level_tokenizer_is_refused() {
    let dir = scratch("ref_tok_metaspace");
    let src = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/text/smollm2_tokenizer.json");
    let mut j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src).unwrap()).unwrap();
    j["pre_tokenizer"] = serde_json::json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true});
    let sub = dir.join("tok");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("tokenizer.json"), j.to_string()).unwrap();
    let mut run = run_of("llama_tied_mqa", &dir, None);
    run.cfg.vocab_size = 49152;
    let msg = gguf_refusal(&run, Some(&sub.join("tokenizer.json")), &dir.join("m.gguf"));
    assert_names(&msg, &["pre_tokenizer", "Metaspace"]);
}
