//! `lineage::analysis` against outside numbers: the parameter count of every HF fixture
//! checkpoint (written by transformers), the published sizes of the preset models, and
//! hand-derived KV-cache and FLOP figures; plus the errors of bad input.

use std::path::PathBuf;

use lineage::analysis::{
    self, edit, flops, kv_cache, params, presets, KvDtype, Options, WeightFormat,
};
use lineage::{families, Error};

fn fixture_dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hf")
        .join(case)
}

macro_rules! fixtures {
    ($($name:ident),* $(,)?) => {
        mod param_count_of_fixture_equals_checkpoint {
            $( #[test] fn $name() { super::check_fixture(stringify!($name)); } )*
        }
    };
}

fixtures!(
    gpt2,
    llama,
    llama_tied_mqa,
    llama_yarn,
    llama_linear,
    qwen2,
    qwen3,
    phi3,
    phi3_longrope,
    gpt_neox,
    falcon,
    falcon_mq,
    bloom,
    olmo2,
    mistral,
    gemma2,
    gemma3_text,
    mixtral,
    qwen3_moe,
    deepseek_v3,
    deepseek_v2,
    gpt_oss,
    gpt_oss_mxfp4,
);

fn check_fixture(case: &str) {
    let (cfg, w) =
        families::load_hf_dir(&fixture_dir(case)).unwrap_or_else(|e| panic!("{case}: {e}"));
    let p = params::count(&cfg).unwrap();
    assert_eq!(
        p.total(),
        w.n_params() as u64,
        "{case}: analysis {:?} vs checkpoint {}",
        p,
        w.n_params()
    );
}

fn preset(name: &str) -> params::ParamCounts {
    params::count(&presets::config(name).unwrap_or_else(|e| panic!("{name}: {e}"))).unwrap()
}

fn assert_within(name: &str, what: &str, got: u64, published: f64) {
    let rel = (got as f64 - published).abs() / published;
    assert!(
        rel <= 0.005,
        "{name} {what}: {got} vs published {published:e}: {:.3}% off",
        rel * 100.0
    );
}

#[test]
fn presets_every_one_parses_and_validates() {
    for name in presets::names() {
        let c = presets::config(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        analysis::summarize(&c, &Options::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn presets_gpt2_sizes_equal_published_exactly() {
    // HF model cards / `model.num_parameters()`: tied head counted once.
    for (name, n) in [
        ("gpt2", 124_439_808),
        ("gpt2-medium", 354_823_168),
        ("gpt2-large", 774_030_080),
        ("gpt2-xl", 1_557_611_200),
    ] {
        assert_eq!(preset(name).total(), n, "{name}");
    }
}

#[test]
fn presets_dense_sizes_equal_hf_counts_exactly() {
    for (name, n) in [
        ("llama-2-7b", 6_738_415_616u64),
        ("llama-2-70b", 68_976_648_192),
        ("llama-3.1-8b", 8_030_261_248),
        ("llama-3.1-70b", 70_553_706_496),
        ("mistral-7b", 7_241_732_096),
        ("qwen2.5-7b", 7_615_616_512),
        ("smollm2-135m", 134_515_008),
    ] {
        assert_eq!(preset(name).total(), n, "{name}");
    }
}

#[test]
fn presets_large_models_within_half_percent_of_published() {
    for (name, total) in [
        ("gpt3-175b", 175e9),
        ("palm-540b", 540.35e9),
        ("llama-3.1-405b", 405e9),
    ] {
        assert_within(name, "total", preset(name).total(), total);
    }
}

#[test]
fn presets_moe_total_and_active_within_half_percent_of_published() {
    let p = preset("mixtral-8x7b");
    assert_within("mixtral-8x7b", "total", p.total(), 46.7e9);
    assert_within("mixtral-8x7b", "active", p.active(), 12.9e9);
    for (name, total) in [
        ("deepseek-v3", 671e9),
        ("deepseek-v2", 236e9),
        ("qwen3-235b-a22b", 235e9),
    ] {
        assert_within(name, "total", preset(name).total(), total);
    }
}

/// Published active counts with two significant figures: ours must round to them.
#[test]
fn presets_qwen3_moe_active_rounds_to_published() {
    let p = preset("qwen3-235b-a22b");
    assert_eq!((p.active() as f64 / 1e9).round(), 22.0, "{}", p.active()); // 22.19B
                                                                           // Qwen's model card also gives 234B non-embedding parameters.
    assert_eq!(
        ((p.total() - p.embeddings.total() - p.lm_head.total()) as f64 / 1e9).round(),
        234.0
    );
}

/// DeepSeek's "37B" (V3) and "21B" (V2) activated are not within 0.5 % of any count
/// (V3: 37.55B with embeddings, 36.63B without the input table; V2: 21.38B / 20.85B);
/// both published figures are the count truncated to whole billions.
#[test]
fn presets_deepseek_active_published_figures_are_truncated() {
    for (name, published) in [("deepseek-v3", 37.0), ("deepseek-v2", 21.0)] {
        let p = preset(name);
        assert_eq!(
            (p.active() as f64 / 1e9).floor(),
            published,
            "{name}: {}",
            p.active()
        );
    }
}

#[test]
fn presets_gpt_oss_active_matches_model_card_without_embedding_table() {
    // The gpt-oss model card's active counts leave out the input embedding table
    // (the unembedding is counted): 5.13B / 3.61B; with it they are 5.71B / 4.19B.
    for (name, total, active) in [
        ("gpt-oss-120b", 116.83e9, 5.13e9),
        ("gpt-oss-20b", 20.91e9, 3.61e9),
    ] {
        let p = preset(name);
        assert_within(name, "total", p.total(), total);
        assert_within(
            name,
            "active w/o embeddings",
            p.active_without_embeddings(),
            active,
        );
    }
}

#[test]
fn kv_cache_gqa_and_mla_equal_hand_counts() {
    let llama = presets::config("llama-3.1-8b").unwrap();
    // 32 layers x (K + V) x 8 heads x 128 dims x 2 bytes.
    assert_eq!(
        kv_cache::size(&llama, KvDtype::Bf16, 8)
            .unwrap()
            .bytes_per_token,
        32 * 2 * 8 * 128 * 2
    );
    let ds = presets::config("deepseek-v3").unwrap();
    // 61 layers x (kv_lora_rank 512 + rope 64) x 2 bytes.
    assert_eq!(
        kv_cache::size(&ds, KvDtype::Bf16, 8)
            .unwrap()
            .bytes_per_token,
        61 * 576 * 2
    );
    assert_eq!(
        kv_cache::size(&ds, KvDtype::Q8_0, 8)
            .unwrap()
            .bytes_per_token,
        61 * 576 * 34 / 32
    );
}

#[test]
fn kv_cache_sliding_layers_capped_at_window() {
    let m = presets::config("mistral-7b").unwrap();
    let per = 32 * 2 * 8 * 128 * 2;
    assert_eq!(
        kv_cache::bytes_at(&m, KvDtype::Bf16, 32768).unwrap(),
        per * 4096
    );
    let oss = presets::config("gpt-oss-120b").unwrap();
    let per_layer = 2 * 8 * 64 * 2;
    assert_eq!(
        kv_cache::bytes_at(&oss, KvDtype::Bf16, 131072).unwrap(),
        per_layer * (18 * 131072 + 18 * 128)
    );
}

#[test]
fn flops_gpt2_equal_hand_count() {
    let c = presets::config("gpt2").unwrap();
    let p = params::count(&c).unwrap();
    let f = flops::per_token(&c, &p, 1024).unwrap();
    let (d, l, v) = (768u64, 12u64, 50257u64);
    // 12 d^2 matrix elements per layer plus the (tied) LM head.
    assert_eq!(f.matmul, 2 * (l * 12 * d * d + v * d));
    assert_eq!(f.attention, l * 4 * d * 1024);
    assert_eq!(f.approx_2n, 2 * 124_439_808);
}

#[test]
fn flops_mla_use_qk_and_v_head_dims() {
    let c = presets::config("deepseek-v3").unwrap();
    assert_eq!(
        flops::attention_flops(&c, 1000).unwrap(),
        61 * 2 * 128 * (192 + 128) * 1000
    );
}

#[test]
fn memory_formats_follow_their_rules() {
    let p = preset("llama-3.1-8b");
    assert_eq!(WeightFormat::F32.bytes(&p).unwrap(), 4 * p.total());
    assert_eq!(WeightFormat::Bf16.bytes(&p).unwrap(), 2 * p.total());
    assert_eq!(
        WeightFormat::Mxfp4.bytes(&p).unwrap(),
        2 * p.total(),
        "dense model: MXFP4 applies to experts only"
    );
    let oss = preset("gpt-oss-120b");
    let mx = WeightFormat::Mxfp4.bytes(&oss).unwrap();
    assert_eq!(
        mx,
        (oss.experts.matrix * 17).div_ceil(32) + 2 * (oss.total() - oss.experts.matrix)
    );
    // The released checkpoint is 60.77 GiB (65.25 GB) of safetensors.
    assert!(
        (mx as f64 / 65.25e9 - 1.0).abs() < 0.01,
        "gpt-oss-120b MXFP4 bytes {mx}"
    );
}

#[test]
fn preset_unknown_name_suggests_nearest() {
    match presets::find("llama-3-8b") {
        Err(Error::UnknownPreset { suggestions, .. }) => assert!(
            suggestions.contains(&"llama-3.1-8b".to_string()),
            "{suggestions:?}"
        ),
        other => panic!("expected UnknownPreset, got {:?}", other.map(|p| p.name)),
    }
    let msg = presets::find("mixtral")
        .err()
        .expect("no preset named mixtral")
        .to_string();
    assert!(msg.contains("mixtral-8x7b"), "{msg}");
}

#[test]
fn config_unread_keys_listed_in_summary() {
    let mut v = presets::find("llama-2-7b").unwrap().value().unwrap();
    v["frobnicate_layers"] = serde_json::json!(3);
    let c = families::config_from_json(v).unwrap();
    let s = analysis::summarize(&c, &Options::default()).unwrap();
    assert!(
        s.unknown_keys.contains(&"frobnicate_layers".to_string()),
        "{:?}",
        s.unknown_keys
    );
}

#[test]
fn set_unknown_key_suggests_nearest() {
    let mut c = presets::config("llama-3.1-8b").unwrap();
    match edit::apply_assignment(&mut c, "n_kv_head=4") {
        Err(Error::UnknownConfigKey { suggestions, .. }) => {
            assert_eq!(suggestions[0], "n_kv_heads")
        }
        other => panic!("expected UnknownConfigKey, got {other:?}"),
    }
}

#[test]
fn set_breaking_invariant_names_key() {
    let mut c = presets::config("llama-3.1-8b").unwrap();
    let msg = edit::apply_assignment(&mut c, "n_kv_heads=3")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("n_kv_heads") && msg.contains("divide"),
        "{msg}"
    );
    let mut c = presets::config("llama-3.1-8b").unwrap();
    let msg = edit::apply_assignment(&mut c, "n_experts=8")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("dense"), "{msg}");
    let mut c = presets::config("mistral-7b").unwrap();
    assert!(edit::apply_assignment(&mut c, "window=99999999").is_err());
    let mut c = presets::config("llama-3.1-8b").unwrap();
    assert!(edit::apply_assignment(&mut c, "d_model=lots").is_err());
    assert!(edit::apply_assignment(&mut c, "d_model").is_err());
}

#[test]
fn set_kv_heads_scales_kv_cache() {
    let mut c = presets::config("llama-3.1-8b").unwrap();
    let before = kv_cache::size(&c, KvDtype::Bf16, 8)
        .unwrap()
        .bytes_per_token;
    edit::apply_assignment(&mut c, "n_kv_heads=32").unwrap();
    assert_eq!(
        kv_cache::size(&c, KvDtype::Bf16, 8)
            .unwrap()
            .bytes_per_token,
        4 * before
    );
}

#[test]
fn set_huge_dimension_is_an_error_not_overflow() {
    let mut c = presets::config("llama-3.1-8b").unwrap();
    edit::apply_assignment(&mut c, "d_model=18446744073709551615").unwrap();
    assert!(params::count(&c).is_err());
}

#[test]
fn kv_dtype_unknown_lists_choices() {
    let msg = "fp7".parse::<KvDtype>().unwrap_err().to_string();
    assert!(msg.contains("bf16") && msg.contains("q8_0"), "{msg}");
}
