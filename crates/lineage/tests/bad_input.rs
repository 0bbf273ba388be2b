//! Bad input gives a typed error that names the problem, never a panic.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use lineage::families;
use lineage::model::Model;
use lineage::Error;
use serde_json::Value;

/// A scratch copy of a fixture folder whose config and tensors a test may edit.
fn scratch(case: &str, tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lineage-bad-{}-{case}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(common::fixture_dir(case).join(f), dir.join(f)).unwrap();
    }
    dir
}

fn edit_tensors(dir: &Path, f: impl FnOnce(&mut HashMap<String, Tensor>)) {
    let p = dir.join("model.safetensors");
    let mut m = candle_core::safetensors::load(&p, &Device::Cpu).unwrap();
    f(&mut m);
    candle_core::safetensors::save(&m, &p).unwrap();
}

fn config_error(case: &str, f: impl FnOnce(&mut Value)) -> Error {
    let mut v = families::read_config_file(&common::fixture_dir(case)).unwrap();
    f(&mut v);
    families::config_from_json(v).expect_err("config should be rejected")
}

#[test]
fn config_unknown_model_type_lists_supported() {
    let e = config_error("llama", |v| v["model_type"] = "mamba2".into());
    let msg = e.to_string();
    assert!(matches!(e, Error::UnknownArchitecture { .. }), "{msg}");
    assert!(
        msg.contains("mamba2") && msg.contains("llama") && msg.contains("gpt2"),
        "{msg}"
    );
}

#[test]
fn config_unknown_rope_type_names_family_key_value() {
    let e = config_error("llama", |v| v["rope_parameters"]["rope_type"] = "su".into());
    let msg = e.to_string();
    assert!(
        msg.contains("llama") && msg.contains("rope_type") && msg.contains("su"),
        "{msg}"
    );
}

#[test]
fn config_missing_key_names_it() {
    let e = config_error("qwen2", |v| {
        v.as_object_mut().unwrap().remove("hidden_size");
    });
    assert!(e.to_string().contains("hidden_size"), "{e}");
}

#[test]
fn config_unknown_keys_are_recorded() {
    let mut v = families::read_config_file(&common::fixture_dir("llama")).unwrap();
    v["my_new_trick"] = 3.into();
    let cfg = families::config_from_json(v).unwrap();
    assert_eq!(cfg.unknown_keys, vec!["my_new_trick".to_string()]);
}

#[test]
fn checkpoint_missing_tensor_names_it() {
    let dir = scratch("llama", "missing");
    edit_tensors(&dir, |m| {
        m.remove("model.layers.1.mlp.up_proj.weight");
    });
    let (cfg, w) = families::load_hf_dir(&dir).unwrap();
    let e = Model::new(&cfg, &w).unwrap_err();
    assert!(
        matches!(&e, Error::MissingTensor { name } if name == "blk.1.ffn_up.weight"),
        "{e}"
    );
}

#[test]
fn checkpoint_wrong_shape_names_tensor_and_shapes() {
    let dir = scratch("qwen3", "shape");
    edit_tensors(&dir, |m| {
        m.insert(
            "model.layers.0.self_attn.k_proj.weight".into(),
            Tensor::zeros((16, 64), candle_core::DType::F32, &Device::Cpu).unwrap(),
        );
    });
    let (cfg, w) = families::load_hf_dir(&dir).unwrap();
    let e = Model::new(&cfg, &w).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, Error::ShapeMismatch { .. })
            && msg.contains("blk.0.attn_k.weight")
            && msg.contains("[64, 64]")
            && msg.contains("[16, 64]"),
        "{msg}"
    );
}

#[test]
fn checkpoint_unmapped_tensor_is_reported() {
    let dir = scratch("llama", "extra");
    edit_tensors(&dir, |m| {
        m.insert(
            "model.layers.0.mystery.weight".into(),
            Tensor::zeros(4, candle_core::DType::F32, &Device::Cpu).unwrap(),
        );
    });
    let e = families::load_hf_dir(&dir).unwrap_err();
    assert!(
        e.to_string().contains("model.layers.0.mystery.weight"),
        "{e}"
    );
}

#[test]
fn safetensors_truncated_at_any_point_is_an_error() {
    let dir = scratch("gpt2", "trunc");
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let cuts: Vec<usize> = (0..64)
        .chain((64..bytes.len()).step_by(997))
        .chain([bytes.len() - 1])
        .collect();
    for cut in cuts {
        std::fs::write(dir.join("model.safetensors"), &bytes[..cut]).unwrap();
        let e = families::load_hf_dir(&dir).expect_err("truncated file must not load");
        assert!(matches!(e, Error::BadFile { .. }), "cut {cut}: {e}");
    }
}

#[test]
fn safetensors_corrupt_header_is_an_error() {
    let dir = scratch("gpt2", "corrupt");
    let mut bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    bytes[8] = b'#'; // the header JSON's opening brace
    std::fs::write(dir.join("model.safetensors"), &bytes).unwrap();
    let e = families::load_hf_dir(&dir).unwrap_err();
    assert!(e.to_string().contains("corrupt header"), "{e}");
    // A header length beyond the file.
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(dir.join("model.safetensors"), &bytes).unwrap();
    assert!(families::load_hf_dir(&dir).is_err());
}

fn model(case: &str) -> Model {
    let (cfg, w) = common::load(case, "config.json");
    Model::new(&cfg, &w).unwrap()
}

#[test]
fn forward_id_out_of_vocab_is_an_error() {
    let m = model("gpt2");
    let ids = Tensor::new(&[[1i64, 2, 256]], &Device::Cpu).unwrap();
    let e = m.forward(&ids, None).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TokenOutOfVocab {
                id: 256,
                vocab_size: 256
            }
        ),
        "{e}"
    );
    let ids = Tensor::new(&[[-1i64]], &Device::Cpu).unwrap();
    assert!(matches!(
        m.forward(&ids, None).unwrap_err(),
        Error::TokenOutOfVocab { id: -1, .. }
    ));
}

#[test]
fn forward_longer_than_context_is_an_error() {
    let m = model("gpt2"); // n_positions 128
    let ids = Tensor::zeros((1, 129), candle_core::DType::I64, &Device::Cpu).unwrap();
    let e = m.forward(&ids, None).unwrap_err();
    assert!(
        matches!(
            e,
            Error::ContextOverflow {
                len: 129,
                context_len: 128
            }
        ),
        "{e}"
    );
    let ids = Tensor::zeros((1, 120), candle_core::DType::I64, &Device::Cpu).unwrap();
    let e = lineage::runtime::generate::greedy(&m, &ids, 20).unwrap_err();
    assert!(
        matches!(
            e,
            Error::ContextOverflow {
                len: 140,
                context_len: 128
            }
        ),
        "{e}"
    );
}

#[test]
fn moe_top_k_above_experts_names_key_and_values() {
    let e = config_error("mixtral", |v| v["num_experts_per_tok"] = 5.into());
    let msg = e.to_string();
    assert!(
        msg.contains("num_experts_per_tok") && msg.contains('5') && msg.contains('4'),
        "{msg}"
    );
}

#[test]
fn moe_groups_not_dividing_experts_names_key_and_values() {
    let e = config_error("deepseek_v3", |v| v["n_group"] = 3.into());
    let msg = e.to_string();
    assert!(
        msg.contains("n_group") && msg.contains('3') && msg.contains('8'),
        "{msg}"
    );
}

#[test]
fn window_larger_than_context_names_key_and_values() {
    let e = config_error("mistral", |v| v["sliding_window"] = 100000.into());
    let msg = e.to_string();
    assert!(
        msg.contains("sliding_window") && msg.contains("100000") && msg.contains("256"),
        "{msg}"
    );
}

#[test]
fn mxfp4_scales_of_wrong_shape_name_the_tensor() {
    let dir = scratch("gpt_oss_mxfp4", "scales");
    edit_tensors(&dir, |m| {
        let t = Tensor::zeros((4, 128, 3), candle_core::DType::U8, &Device::Cpu).unwrap();
        m.insert("model.layers.1.mlp.experts.gate_up_proj_scales".into(), t);
    });
    let e = families::load_hf_dir(&dir).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("gate_up_proj_scales")
            && msg.contains("[4, 128, 2]")
            && msg.contains("[4, 128, 3]"),
        "{msg}"
    );
}

/// A copy of a committed GGUF fixture with `patch` applied to its bytes.
fn patched_gguf(file: &str, tag: &str, patch: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gguf")
        .join(format!("{file}.gguf"));
    let mut bytes = std::fs::read(src).unwrap();
    patch(&mut bytes);
    let out = std::env::temp_dir().join(format!(
        "lineage-bad-{}-{file}-{tag}.gguf",
        std::process::id()
    ));
    std::fs::write(&out, bytes).unwrap();
    out
}

/// Byte offset just past the first length-prefixed GGUF string `s`.
fn after_gguf_string(bytes: &[u8], s: &str) -> usize {
    let mut needle = (s.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(s.as_bytes());
    bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("string in file")
        + needle.len()
}

/// Sets the ggml type id of 2-D tensor `name` in its tensor info.
fn set_tensor_type(bytes: &mut [u8], name: &str, id: u32) {
    let at = after_gguf_string(bytes, name) + 4 + 2 * 8; // n_dims, two dims
    bytes[at..at + 4].copy_from_slice(&id.to_le_bytes());
}

fn gguf_error(path: &Path, precision: families::GgufPrecision) -> Error {
    lineage::load_with(path, lineage::LoadOptions { gguf: precision })
        .map(|_| ())
        .expect_err("file should be rejected")
}

#[test]
fn gguf_unknown_architecture_lists_supported() {
    let p = patched_gguf("llama.q4_0", "arch", |b| {
        let at = after_gguf_string(b, "general.architecture") + 4 + 8; // value type, string length
        b[at..at + 5].copy_from_slice(b"llamx");
    });
    let e = gguf_error(&p, families::GgufPrecision::Quantized);
    let msg = e.to_string();
    match &e {
        Error::UnknownArchitecture { supported, .. } => {
            assert!(supported.iter().any(|s| s == "qwen3moe"), "{msg}")
        }
        other => panic!("expected UnknownArchitecture, got {other:?}"),
    }
    assert!(msg.contains("llamx") && msg.contains("gpt2"), "{msg}");
}

#[test]
fn gguf_unsupported_tensor_type_names_the_tensor() {
    // IQ4_NL: a real ggml type with Q4_0's block size (32 values in 18 bytes), so the file
    // parses, but lineage has no kernel for it.
    let p = patched_gguf("llama.q4_0", "iq4nl", |b| {
        set_tensor_type(b, "blk.1.attn_k.weight", 20)
    });
    for precision in [
        families::GgufPrecision::F32,
        families::GgufPrecision::Quantized,
    ] {
        let e = lineage::load_with(&p, lineage::LoadOptions { gguf: precision })
            .and_then(|(cfg, w)| Model::new(&cfg, &w).map(|_| ()))
            .expect_err("IQ4_NL should be rejected");
        match &e {
            Error::UnsupportedTensorType { tensor, ggml_type } => assert_eq!(
                (tensor.as_str(), *ggml_type),
                ("blk.1.attn_k.weight", 20),
                "{precision:?}"
            ),
            other => panic!("{precision:?}: expected UnsupportedTensorType, got {other:?}"),
        }
    }
    // A retired type id (Q4_2 was 4) is rejected when the tensor infos are read.
    let p = patched_gguf("llama.q4_0", "retired", |b| {
        set_tensor_type(b, "blk.0.ffn_up.weight", 4)
    });
    let e = gguf_error(&p, families::GgufPrecision::F32);
    assert!(
        matches!(&e, Error::UnsupportedTensorType { tensor, ggml_type: 4 } if tensor == "blk.0.ffn_up.weight"),
        "{e:?}"
    );
}

/// Found by the gguf_config fuzz target: a layer count of ~10^9 built a per-layer table
/// of 1.9 GB before any check. Both adapters now refuse it first.
#[test]
fn absurd_layer_counts_are_refused_before_per_layer_tables() {
    let e = config_error("llama", |v| {
        v["num_hidden_layers"] = 1_000_000_000u64.into()
    });
    assert!(e.to_string().contains("n_layers"), "{e}");
    let p = patched_gguf("llama.f32", "layers", |b| {
        let at = after_gguf_string(b, "llama.block_count") + 4;
        b[at..at + 4].copy_from_slice(&1_000_000_000u32.to_le_bytes());
    });
    let e = gguf_error(&p, families::GgufPrecision::F32).to_string();
    assert!(e.contains("n_layers"), "{e}");
}
