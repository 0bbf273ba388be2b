//! The memory and compute claims of the modern mechanisms: window-bounded KV cache,
//! latent-only MLA cache, experts that do no work unless selected, packed MXFP4.

mod common;

use candle_core::{DType, Device, IndexOp, Tensor};
use lineage::model::{FfnLayer, Model};
use lineage::runtime::kv_cache::KvCache;

fn model(case: &str) -> Model {
    let (cfg, w) = common::load(case, "config.json");
    Model::new(&cfg, &w).unwrap()
}

/// Generates far past 4 windows one token at a time; every step's logits equal a full
/// no-cache recompute, and windowed layers never hold more than W positions.
fn ring_buffer_case(case: &str) {
    let m = model(case);
    let cfg = m.config().clone();
    let w_max = cfg
        .layers
        .iter()
        .filter_map(|l| l.window)
        .max()
        .expect("has windowed layers");
    let mut ids: Vec<u32> = common::expected(case)["input_ids"]
        .i(0)
        .unwrap()
        .narrow(0, 0, 4)
        .unwrap()
        .to_dtype(DType::U32)
        .unwrap()
        .to_vec1()
        .unwrap();
    let mut cache = KvCache::new(&cfg);
    let mut logits = m
        .forward(
            &Tensor::new(ids.as_slice(), &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap(),
            Some(&mut cache),
        )
        .unwrap();
    for step in 0..(4 * w_max + 8) {
        let last = logits.i((0, logits.dim(1).unwrap() - 1)).unwrap();
        let full = m
            .forward(
                &Tensor::new(ids.as_slice(), &Device::Cpu)
                    .unwrap()
                    .unsqueeze(0)
                    .unwrap(),
                None,
            )
            .unwrap();
        let reference = full.i((0, ids.len() - 1)).unwrap();
        let (d, _) = common::max_abs_diff(&last, &reference);
        assert!(
            d <= common::LOGITS_TOL,
            "{case} step {step}: cached logits differ from full recompute by {d:.2e}"
        );
        for (i, l) in cfg.layers.iter().enumerate() {
            let held = cache.layers[i].len();
            match l.window {
                Some(w) => assert!(
                    held <= w,
                    "{case} layer {i}: window {w} but cache holds {held}"
                ),
                None => assert_eq!(
                    held,
                    ids.len(),
                    "{case} layer {i}: full layer keeps every position"
                ),
            }
        }
        let next = lineage::model::ops::argmax(&last.to_vec1::<f32>().unwrap()) as u32;
        ids.push(next);
        logits = m
            .forward(
                &Tensor::new(&[[next]], &Device::Cpu).unwrap(),
                Some(&mut cache),
            )
            .unwrap();
    }
}

#[test]
fn window_cache_mistral_stays_within_window_and_matches_recompute() {
    ring_buffer_case("mistral");
}

#[test]
fn window_cache_gemma3_local_global_stays_within_window_and_matches_recompute() {
    ring_buffer_case("gemma3_text");
}

#[test]
fn window_cache_gpt_oss_with_sinks_stays_within_window_and_matches_recompute() {
    ring_buffer_case("gpt_oss");
}

#[test]
fn mla_cache_stores_latent_plus_rope_key_per_token() {
    let m = model("deepseek_v3");
    let cfg = m.config().clone();
    let lineage::config::AttentionKind::Latent(mla) = &cfg.attention.kind else {
        panic!("MLA expected")
    };
    let per_token = mla.kv_lora_rank + mla.qk_rope_head_dim; // 32 + 8
    let ids = common::expected("deepseek_v3")["input_ids"].clone();
    let (b, t) = ids.dims2().unwrap();
    let mut cache = KvCache::new(&cfg);
    m.forward(&ids, Some(&mut cache)).unwrap();
    for l in &cache.layers {
        assert_eq!(l.values_per_token(), per_token);
        assert_eq!(l.bytes(), b * t * per_token * 4, "f32 latent cache bytes");
    }
    // Per-head K and V would need 2 * heads * (qk or v dims) values: 4 * (24 + 16) = 160.
    assert!(per_token * 4 <= 160);
}

fn moe_layers(m: &Model) -> Vec<&lineage::model::moe::Moe> {
    m.blocks
        .iter()
        .filter_map(|b| {
            if let FfnLayer::Moe(x) = &b.ffn {
                Some(x)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn moe_unselected_experts_do_no_work() {
    for case in ["mixtral", "qwen3_moe", "deepseek_v3", "gpt_oss"] {
        let m = model(case);
        let moe = m.config().ffn.moe.clone().unwrap();
        let ids = common::expected(case)["input_ids"]
            .narrow(1, 0, 1)
            .unwrap()
            .narrow(0, 0, 1)
            .unwrap();
        m.forward(&ids, None).unwrap();
        for layer in moe_layers(&m) {
            let rows = layer.stats.computed_counts();
            let busy = rows.iter().filter(|&&r| r > 0).count();
            assert_eq!(
                busy, moe.top_k,
                "{case}: one token must run exactly top_k experts, ran {rows:?}"
            );
            assert_eq!(rows.iter().sum::<u64>(), moe.top_k as u64);
        }
        let ids = common::expected(case)["input_ids"].clone();
        moe_layers(&m).iter().for_each(|l| l.stats.reset());
        m.forward(&ids, None).unwrap();
        let n = ids.elem_count() as u64;
        for layer in moe_layers(&m) {
            assert_eq!(
                layer.stats.computed_counts().iter().sum::<u64>(),
                n * moe.top_k as u64,
                "{case}: rows computed = tokens * top_k"
            );
        }
    }
}

#[test]
fn moe_balance_loss_is_exposed_for_moe_models_only() {
    let m = model("mixtral");
    let ids = common::expected("mixtral")["input_ids"].clone();
    let out = m.forward_full(&ids, None, false).unwrap();
    let loss = out
        .balance_loss
        .expect("MoE model reports a balance loss")
        .to_scalar::<f32>()
        .unwrap();
    // Two layers; each term is E * sum f_e P_e, which is 1 under perfect balance.
    assert!(loss > 1.0 && loss < 2.0 * 4.0, "balance loss {loss}");
    let dense = model("llama")
        .forward_full(&common::expected("llama")["input_ids"], None, false)
        .unwrap();
    assert!(dense.balance_loss.is_none());
}

#[test]
fn mxfp4_experts_stay_packed_at_4_25_bits() {
    let (_, w) = common::load("gpt_oss_mxfp4", "config.json");
    let s = w.summary();
    assert_eq!(s.mxfp4_bits_per_param(), Some(4.25));
    // 2 layers x 4 experts x (gate 64x64 + up 64x64 + down 64x64).
    assert_eq!(s.mxfp4.0, 2 * 4 * 3 * 64 * 64);
}
