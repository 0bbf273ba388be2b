//! `lineage run` on the default model (skipped with a message when the model has not
//! been fetched by scripts/fetch-models.sh): the JSON interface, greedy determinism, and
//! clear errors for prompts that cannot run.

use std::path::PathBuf;
use std::process::Command;

fn default_model(test: &str) -> Option<PathBuf> {
    lineage::cache::test_model(lineage::cache::SMOLLM2_Q4_1, test)
}

fn lineage(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lineage"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn run_json_raw_greedy_reports_ids_text_and_speeds() {
    let Some(m) = default_model("run_json_raw_greedy_reports_ids_text_and_speeds") else {
        return;
    };
    let args = [
        "run",
        "--model",
        m.to_str().unwrap(),
        "--raw",
        "--temperature",
        "0",
        "--max-tokens",
        "8",
        "--json",
        "The capital of France is",
    ];
    let out = lineage(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let prompt: Vec<u64> = v["prompt_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    assert_eq!(
        prompt,
        vec![504, 3575, 282, 4649, 314],
        "SmolLM2 ids of the prompt (llama.cpp's)"
    );
    assert_eq!(v["generated_ids"].as_array().unwrap().len(), 8);
    assert!(
        v["text"].as_str().unwrap().contains("Paris"),
        "{}",
        v["text"]
    );
    assert!(
        v["prefill_tok_s"].as_f64().unwrap() > 0.0 && v["decode_tok_s"].as_f64().unwrap() > 0.0
    );
    let again: serde_json::Value = serde_json::from_slice(&lineage(&args).stdout).unwrap();
    assert_eq!(
        again["generated_ids"], v["generated_ids"],
        "greedy is deterministic"
    );
}

#[test]
fn run_with_seed_is_reproducible() {
    let Some(m) = default_model("run_with_seed_is_reproducible") else {
        return;
    };
    let args = [
        "run",
        "--model",
        m.to_str().unwrap(),
        "--temperature",
        "0.9",
        "--seed",
        "7",
        "--max-tokens",
        "12",
        "--json",
        "Tell me a story",
    ];
    let a: serde_json::Value = serde_json::from_slice(&lineage(&args).stdout).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&lineage(&args).stdout).unwrap();
    assert_eq!(a["generated_ids"], b["generated_ids"]);
}

#[test]
fn run_prompt_longer_than_context_names_both_numbers() {
    let Some(m) = default_model("run_prompt_longer_than_context_names_both_numbers") else {
        return;
    };
    let long = "hello ".repeat(9000); // > 8192 tokens
    let out = lineage(&[
        "run",
        "--model",
        m.to_str().unwrap(),
        "--raw",
        "--max-tokens",
        "4",
        &long,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exceeds the model's context of 8192"), "{err}");
}

#[test]
fn run_invalid_utf8_prompt_is_a_clear_error() {
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"caf\xe9");
    let out = Command::new(env!("CARGO_BIN_EXE_lineage"))
        .args(["run", "--model", "/nonexistent.gguf"])
        .arg(bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.to_lowercase().contains("utf-8") || err.to_lowercase().contains("utf8"),
        "{err}"
    );
}
