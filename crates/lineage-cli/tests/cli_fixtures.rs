//! `lineage forward` and `lineage generate` on fixture folders reproduce HF's outputs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use candle_core::{Device, Tensor};

fn fixture(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../lineage/tests/fixtures/hf")
        .join(case)
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lineage-cli-{}-{name}", std::process::id()))
}

fn load(p: &PathBuf) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(p, &Device::Cpu).unwrap()
}

fn lineage(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_lineage"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lineage {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The JSON object on the last non-empty line of a command's stdout (bench's report).
fn last_json(stdout: &[u8]) -> serde_json::Value {
    let line = stdout
        .rsplit(|&b| b == b'\n')
        .find(|l| !l.is_empty())
        .expect("a non-empty line");
    serde_json::from_slice(line).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn cli_forward_writes_hf_logits_and_hidden_states() {
    for case in ["gpt2", "gemma3_text", "deepseek_v3", "gpt_oss_mxfp4"] {
        let exp = load(&fixture(case).join("expected.safetensors"));
        let input = scratch(&format!("{case}-in.safetensors"));
        let out = scratch(&format!("{case}-out.safetensors"));
        let ids: HashMap<_, _> = [("input_ids".to_string(), exp["input_ids"].clone())].into();
        candle_core::safetensors::save(&ids, &input).unwrap();
        let f = fixture(case);
        lineage(&[
            "forward",
            f.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--hidden-states",
        ]);
        let got = load(&out);
        assert!(
            max_diff(&got["logits"], &exp["logits"]) <= 1e-4,
            "{case} logits"
        );
        assert!(
            max_diff(&got["hidden_states"], &exp["hidden_states"]) <= 2e-4,
            "{case} hidden states"
        );
    }
}

#[test]
fn cli_generate_writes_hf_greedy_ids() {
    for case in ["llama", "mistral", "mixtral", "bloom"] {
        let exp = load(&fixture(case).join("expected.safetensors"));
        let input = scratch(&format!("{case}-gin.safetensors"));
        let out = scratch(&format!("{case}-gout.safetensors"));
        let ids: HashMap<_, _> = [("input_ids".to_string(), exp["input_ids"].clone())].into();
        candle_core::safetensors::save(&ids, &input).unwrap();
        let f = fixture(case);
        lineage(&[
            "generate",
            f.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--max-new-tokens",
            "16",
            "--greedy",
            "--out",
            out.to_str().unwrap(),
        ]);
        let got = load(&out)["ids"].to_vec2::<i64>().unwrap();
        assert_eq!(
            got,
            exp["greedy_ids"].to_vec2::<i64>().unwrap(),
            "{case} greedy ids"
        );
    }
}

#[test]
fn cli_forward_expert_stats_counts_every_routed_token() {
    let case = "qwen3_moe";
    let exp = load(&fixture(case).join("expected.safetensors"));
    let input = scratch("stats-in.safetensors");
    let out = scratch("stats-out.safetensors");
    let ids: HashMap<_, _> = [("input_ids".to_string(), exp["input_ids"].clone())].into();
    candle_core::safetensors::save(&ids, &input).unwrap();
    let f = fixture(case);
    let o = lineage(&[
        "forward",
        f.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--expert-stats",
    ]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("layer 0: expert tokens"));
    let counts = load(&out)["expert_counts"].to_vec2::<i64>().unwrap();
    for row in counts {
        assert_eq!(
            row.iter().sum::<i64>(),
            2 * 32 * 2,
            "tokens x top_k per layer"
        );
    }
}

/// `lineage bench` runs every fixture family on the engine (never the candle model), and
/// its KV bytes per position are the figure `inspect` states for the engine.
#[test]
fn cli_bench_runs_every_family_on_the_engine_with_inspects_kv_figure() {
    let root = fixture("");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("config.json").is_file() {
            continue;
        }
        let d = dir.to_str().unwrap();
        let bench = lineage(&[
            "bench",
            "--model",
            d,
            "--prompt-tokens",
            "20",
            "--gen-tokens",
            "4",
            "--json",
        ]);
        let bench = last_json(&bench.stdout);
        assert_eq!(bench["act"], "int8", "{d}: bench's default precision");
        let inspect = lineage(&["inspect", d, "--json"]);
        let inspect: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
        assert_eq!(bench["forward"], "engine", "{d}: {bench}");
        assert_eq!(
            bench["kv_bytes_per_token"], inspect["engine_kv_bytes_per_token"],
            "{d}: bench vs inspect"
        );
        checked += 1;
    }
    assert!(
        checked >= 20,
        "only {checked} fixture families under {}",
        root.display()
    );
}

/// `--act` (global, any position) reaches the kernels' one precision setting, and the
/// bench says which it ran: `bench` takes the 8-bit path unless `--act f32` or
/// `LINEAGE_QUANT_ACT` says otherwise; a value it does not know is refused by name.
#[test]
fn cli_act_flag_selects_the_activation_precision() {
    let d = fixture("llama");
    let d = d.to_str().unwrap();
    let act_of = |flag: &[&str], env: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lineage"));
        c.args([
            "bench",
            "--model",
            d,
            "--prompt-tokens",
            "8",
            "--gen-tokens",
            "2",
            "--json",
        ])
        .args(flag)
        .env_remove("LINEAGE_QUANT_ACT");
        if let Some(v) = env {
            c.env("LINEAGE_QUANT_ACT", v);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        last_json(&out.stdout)["act"].as_str().unwrap().to_string()
    };
    assert_eq!(act_of(&["--act", "int8"], None), "int8");
    assert_eq!(act_of(&[], None), "int8", "bench's default");
    assert_eq!(act_of(&["--act", "f32"], None), "f32");
    assert_eq!(act_of(&[], Some("f32")), "f32", "the environment's choice");
    let bad = Command::new(env!("CARGO_BIN_EXE_lineage"))
        .args(["--act", "int4", "bench", "--model", d])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("int4") && err.contains("int8"), "{err}");
}

/// `lineage bench --speculative` checks its output against plain greedy decoding and
/// reports the acceptance: with the target as its own draft every draft is accepted.
#[test]
fn cli_bench_speculative_reports_acceptance_and_equal_output() {
    let d = fixture("mixtral");
    let d = d.to_str().unwrap();
    let last = |o: std::process::Output| last_json(&o.stdout);
    let args = [
        "bench",
        "--model",
        d,
        "--prompt-tokens",
        "40",
        "--gen-tokens",
        "30",
        "--json",
    ];
    let mut lookup = args.to_vec();
    lookup.extend(["--speculative", "lookup", "--draft-k", "4"]);
    let s = &last(lineage(&lookup))["speculative"];
    assert_eq!(
        (s["identical"].as_bool(), s["drafter"].as_str()),
        (Some(true), Some("prompt lookup")),
        "{s}"
    );
    let acc = s["acceptance"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc), "{s}");
    let mut own = args.to_vec();
    own.extend(["--speculative", d, "--draft-k", "4"]);
    let s = &last(lineage(&own))["speculative"];
    assert_eq!(
        (s["acceptance"].as_f64(), s["target_forwards"].as_u64()),
        (Some(1.0), Some(6)),
        "{s}"
    );
}

/// `lineage bench --roofline` states the bytes a decode step reads (routed experts: top_k
/// of n_experts) and the FLOPs of a prefill token, this machine's bandwidth and FMA peak,
/// and the fractions of the limits reached.
#[test]
fn cli_bench_roofline_reports_bytes_flops_and_fractions() {
    for case in ["llama", "mixtral"] {
        let d = fixture(case);
        let o = lineage(&[
            "bench",
            "--model",
            d.to_str().unwrap(),
            "--prompt-tokens",
            "16",
            "--gen-tokens",
            "8",
            "--roofline",
            "--json",
        ]);
        let v = last_json(&o.stdout);
        let r = &v["roofline"];
        let f = |k: &str| {
            r[k].as_f64()
                .unwrap_or_else(|| panic!("{case}: {k} in {r}"))
        };
        for k in [
            "read_bandwidth_gb_s",
            "fma_peak_gflop_s",
            "decode_of_limit",
            "prefill_of_limit",
        ] {
            assert!(f(k) > 0.0 && f(k).is_finite(), "{case}: {k} in {r}");
        }
        // f32 fixture weights: 4 bytes per parameter read, less the unrouted experts.
        let (cfg, w) = lineage::families::load_hf_dir(&d).unwrap();
        let all: usize = w.iter().map(|(_, t)| t.resident_bytes()).sum();
        let bytes = f("decode_weight_bytes_per_token") as usize;
        assert!(bytes <= all, "{case}: {bytes} of {all}");
        assert_eq!(
            cfg.ffn.moe.is_some(),
            bytes < all - cfg.vocab_size * cfg.d_model * 4,
            "{case}"
        );
        // A prefill token's FLOPs: the LM head counts once per prompt of 16, not per token.
        let counts = lineage::analysis::params::count(&cfg).unwrap();
        let per = lineage::analysis::flops::per_token(&cfg, &counts, 8)
            .unwrap()
            .total;
        let head = 2 * cfg.vocab_size as u64 * cfg.d_model as u64;
        assert_eq!(
            f("prefill_flops_per_token") as u64,
            per - head + head / 16,
            "{case}"
        );
        let limit = f("read_bandwidth_gb_s") * 1e9 / f("decode_bytes_per_token");
        assert!(
            (f("decode_limit_tok_s") / limit - 1.0).abs() < 1e-9,
            "{case}: {r}"
        );
    }
}

#[test]
fn cli_bad_model_path_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_lineage"))
        .args([
            "forward",
            "/nonexistent/model",
            "--input",
            "x",
            "--out",
            "y",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/model"), "{err}");
}

/// `--set` states what a GGUF cannot and llama.cpp hard-codes: with the HF values of
/// the window (Mistral in llama's architecture) and of Gemma 3's scale and layer types,
/// files from llama.cpp's converter reproduce HF's logits; without, they do not.
#[test]
fn cli_set_supplies_values_a_gguf_cannot_state() {
    let cases: &[(&str, &[&str])] = &[
        ("mistral", &["window=8"]),
        (
            "gemma3_text",
            &[
                "query_pre_attn_scalar=24",
                "layer_types=sliding,sliding,full,sliding",
            ],
        ),
    ];
    for (case, sets) in cases {
        let exp = load(&fixture(case).join("expected.safetensors"));
        let input = scratch(&format!("{case}-set-in.safetensors"));
        let ids: HashMap<_, _> = [("input_ids".to_string(), exp["input_ids"].clone())].into();
        candle_core::safetensors::save(&ids, &input).unwrap();
        let gguf = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../lineage/tests/fixtures/gguf_llama_cpp")
            .join(format!("{case}.f32.gguf"));
        let run = |extra: &[&str]| {
            let out = scratch(&format!("{case}-set-out-{}.safetensors", extra.len()));
            let mut args = vec![
                "forward",
                gguf.to_str().unwrap(),
                "--precision",
                "f32",
                "--input",
                input.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ];
            for s in extra {
                args.extend(["--set", s]);
            }
            lineage(&args);
            let d = max_diff(&load(&out)["logits"], &exp["logits"]);
            std::fs::remove_file(&out).ok();
            d
        };
        let (plain, set) = (run(&[]), run(sets));
        std::fs::remove_file(&input).ok();
        assert!(set <= 1e-4, "{case} with --set {sets:?}: {set:.3e}");
        assert!(
            plain > 1e-3,
            "{case} without --set already matches HF: {plain:.3e}"
        );
    }
}

/// `--kv-type f16` halves the cache's bytes per position and says so, `q8_0` stores a
/// byte per value and two per scale (one per 32 values of a head); an unknown type is
/// refused with the choices, and an MLA model refuses f16 by name.
#[test]
fn cli_bench_kv_types_size_the_cache_and_bad_types_are_named() {
    let bench = |dir: &str, kv: &str| {
        Command::new(env!("CARGO_BIN_EXE_lineage"))
            .args([
                "bench",
                "--model",
                dir,
                "--prompt-tokens",
                "8",
                "--gen-tokens",
                "2",
            ])
            .args(["--kv-type", kv, "--json"])
            .output()
            .unwrap()
    };
    let report = |o: &std::process::Output| -> serde_json::Value {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        last_json(&o.stdout)
    };
    let llama = fixture("llama");
    let d = llama.to_str().unwrap();
    let (full, half) = (report(&bench(d, "f32")), report(&bench(d, "f16")));
    assert_eq!(
        (full["kv_type"].as_str(), half["kv_type"].as_str()),
        (Some("f32"), Some("f16"))
    );
    let bytes = |r: &serde_json::Value| r["kv_bytes_per_token"].as_u64().unwrap();
    assert_eq!(bytes(&full), 2 * bytes(&half));
    let q8 = report(&bench(d, "q8_0"));
    assert_eq!(q8["kv_type"].as_str(), Some("q8_0"));
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(llama.join("config.json")).unwrap()).unwrap();
    let n = |k: &str| cfg[k].as_u64().unwrap();
    let hd = cfg["head_dim"]
        .as_u64()
        .unwrap_or_else(|| n("hidden_size") / n("num_attention_heads"));
    let values = bytes(&full) / 4;
    assert_eq!(bytes(&q8), values + 2 * values / hd * hd.div_ceil(32));
    let bad = bench(d, "q4");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("f32, f16 or q8_0"),
        "{err}"
    );
    let mla = fixture("deepseek_v3");
    let refused = bench(mla.to_str().unwrap(), "f16");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && err.contains("latent"), "{err}");
}
