//! `lineage inspect` end to end: listing, JSON keys, a checkpoint folder target, and the
//! error messages of bad input.

use std::process::{Command, Output};

fn lineage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lineage"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .expect("run lineage")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn inspect_list_names_every_preset_one_per_line() {
    let o = lineage(&["inspect", "--list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(
        out.lines().count(),
        lineage::analysis::presets::PRESETS.len()
    );
    assert!(out.lines().any(|l| l.starts_with("deepseek-v3 ")), "{out}");
}

#[test]
fn inspect_json_has_stable_keys() {
    let o = lineage(&["inspect", "gpt2", "--json", "--kv-dtype", "f16"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    for key in [
        "total_params",
        "active_params",
        "params_by_component",
        "kv_dtype",
        "kv_cache_bytes_per_token",
        "flops_per_token",
        "weight_bytes",
    ] {
        assert!(v.get(key).is_some(), "missing `{key}`");
    }
    assert_eq!(v["total_params"], 124_439_808u64);
    assert_eq!(v["kv_dtype"], "f16");
}

#[test]
fn inspect_checkpoint_folder_counts_its_config() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../lineage/tests/fixtures/hf/mixtral"
    );
    let o = lineage(&["inspect", dir]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("experts"), "{}", stdout(&o));
}

#[test]
fn inspect_unknown_preset_fails_with_suggestion() {
    let o = lineage(&["inspect", "llama-3-8b"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("did you mean") && stderr(&o).contains("llama-3.1-8b"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn inspect_set_breaking_invariant_fails_naming_key() {
    let o = lineage(&["inspect", "llama-3.1-8b", "--set", "n_kv_heads=5"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("n_kv_heads"), "{}", stderr(&o));
    let o = lineage(&["inspect", "llama-3.1-8b", "--set", "kv_heads=8"]);
    assert!(stderr(&o).contains("unknown config key"), "{}", stderr(&o));
}

#[test]
fn inspect_gguf_target_counts_the_file_parameters() {
    let f = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../lineage/tests/fixtures/gguf/llama.q4_0.gguf"
    );
    let o = lineage(&["inspect", f, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (_, w) = lineage::load(std::path::Path::new(f)).unwrap();
    assert_eq!(v["total_params"].as_u64().unwrap() as usize, w.n_params());
    let o = lineage(&["inspect", "missing.gguf"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing.gguf"), "{}", stderr(&o));
}

/// A GGUF target lists the `{arch}.*` keys that built its config and the neutral ones
/// that did not (Falcon's `tensor_data_layout` names a transform already applied).
#[test]
fn inspect_gguf_lists_keys_read_and_not_read() {
    let f = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../lineage/tests/fixtures/gguf_llama_cpp/falcon.f32.gguf"
    );
    let o = lineage(&["inspect", f]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let line = |p: &str| {
        out.lines()
            .find(|l| l.contains(p))
            .unwrap_or_else(|| panic!("no `{p}` line in:\n{out}"))
            .to_string()
    };
    let read = line("GGUF keys read:");
    for k in [
        "falcon.block_count",
        "falcon.attention.head_count_kv",
        "falcon.attention.layer_norm_epsilon",
    ] {
        assert!(read.contains(k), "{k} not listed as read: {read}");
    }
    assert!(
        line("GGUF keys not read").contains("falcon.tensor_data_layout"),
        "{out}"
    );
}
