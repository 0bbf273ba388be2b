//! `ModelConfig::chat` is decided by the adapters from the checkpoint: every HF and GGUF
//! fixture maps to the format its model was trained on (gpt-oss: harmony; the rest:
//! their chat template), and a config serialized before the field existed still loads.

use std::path::{Path, PathBuf};

use lineage::config::{ChatFormat, ModelConfig};
use lineage::families;

fn fixtures(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
}

/// The fixture cases of one kind: `(name, path)`, sorted by name.
fn cases(kind: &str, keep: impl Fn(&Path) -> bool) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(fixtures(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| keep(p))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    out
}

/// What the fixture's model speaks; the test, not the library, knows the family.
fn expected(case: &str) -> ChatFormat {
    if case.starts_with("gpt_oss") {
        ChatFormat::Harmony
    } else {
        ChatFormat::Template
    }
}

#[test]
fn chat_format_of_each_hf_fixture_is_harmony_only_for_gpt_oss() {
    let all = cases("hf", |p| p.join("config.json").is_file());
    assert!(all.len() >= 20, "only {} HF fixtures found", all.len());
    assert!(all.iter().any(|(n, _)| expected(n) == ChatFormat::Harmony));
    for (case, dir) in all {
        let v = families::read_config_file(&dir).unwrap();
        let cfg = families::config_from_json(v).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(cfg.chat, expected(&case), "{case} (family {})", cfg.family);
    }
}

/// Both our GGUF writer's files and those llama.cpp's converter wrote.
#[test]
fn chat_format_of_each_gguf_fixture_is_harmony_only_for_gpt_oss() {
    let gguf = |p: &Path| p.extension().is_some_and(|e| e == "gguf");
    let mut all = cases("gguf", gguf);
    all.extend(cases("gguf_llama_cpp", gguf));
    assert!(all.len() >= 50, "only {} GGUF fixtures found", all.len());
    assert!(all.iter().any(|(n, _)| expected(n) == ChatFormat::Harmony));
    for (case, path) in all {
        let cfg = families::gguf_config(&path).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(cfg.chat, expected(&case), "{case} (family {})", cfg.family);
    }
}

#[test]
fn chat_format_absent_from_a_serialized_config_reads_as_template() {
    let v = families::read_config_file(&fixtures("hf").join("llama")).unwrap();
    let cfg = families::config_from_json(v).unwrap();
    let mut old = serde_json::to_value(&cfg).unwrap();
    assert!(old.as_object_mut().unwrap().remove("chat").is_some());
    let back: ModelConfig = serde_json::from_value(old).unwrap();
    assert_eq!(back.chat, ChatFormat::Template);
    assert_eq!(back, cfg);
}

#[test]
fn chat_format_survives_a_serialization_round_trip() {
    let v = families::read_config_file(&fixtures("hf").join("gpt_oss")).unwrap();
    let cfg = families::config_from_json(v).unwrap();
    let text = serde_json::to_string(&cfg).unwrap();
    let back: ModelConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back.chat, ChatFormat::Harmony);
}
