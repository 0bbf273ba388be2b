//! The engine against the candle model (the reference, itself checked against HF) on
//! configs drawn at random from the layer plan's space: head counts and GQA ratios,
//! head widths, per-layer windows, sinks, QK-norm, ALiBi, norm placements, parallel
//! residuals, MoE shapes and routers with shared experts, MLA ranks. Also sequences
//! longer than the engine's chunk (MAX_BATCH = 512) and than every window, and the
//! windowed layers' bounded caches.

mod common;

use candle_core::{DType, Device, Tensor};
use common::random::{base, draw, random_weights, Rng};
use lineage::engine::{kv::BLOCK, Engine, MAX_BATCH};
use lineage::model::Model;

/// Logits `[T, V]` of the reference for `ids` in one forward.
fn reference(m: &Model, ids: &[u32]) -> Vec<f32> {
    let t = Tensor::new(ids, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    m.forward(&t, None)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

/// Engine logits of `ids`: a prefill in two chunks, then one token at a time.
fn engine_logits(e: &Engine, ids: &[u32], prefill: usize) -> Vec<f32> {
    let mut st = e.new_state();
    let cut = prefill / 2;
    let mut out = e.forward_all(&mut st, &ids[..cut]).unwrap();
    out.extend(e.forward_all(&mut st, &ids[cut..prefill]).unwrap());
    for &id in &ids[prefill..] {
        out.extend_from_slice(e.forward(&mut st, &[id]).unwrap());
    }
    out
}

/// Max |a - b| over max(1, max |b|).
fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1f32, |m, x| m.max(x.abs()));
    let d = a.iter().zip(b).fold(0f32, |m, (x, y)| {
        let d = (x - y).abs();
        if d.is_nan() {
            f32::INFINITY
        } else {
            m.max(d)
        }
    });
    d / scale
}

#[test]
fn engine_equals_model_on_random_configs_of_every_family() {
    let families = [
        "llama",
        "gpt2",
        "bloom",
        "falcon",
        "gpt_neox",
        "olmo2",
        "gemma2",
        "gemma3_text",
        "phi3",
        "qwen3",
        "gpt_oss",
        "mixtral",
        "qwen3_moe",
        "deepseek_v3",
        "deepseek_v2",
    ];
    let mut r = Rng(0x1a7e_5eed);
    let mut checked = 0;
    for round in 0..4 {
        for case in families {
            let cfg = draw(&mut r, case);
            if let Err(e) = cfg.validate() {
                panic!("{case} round {round}: drew an invalid config: {e}\n{cfg:#?}");
            }
            let w = random_weights(&cfg, &mut r);
            let model = Model::new(&cfg, &w).unwrap();
            let eng = Engine::new(&cfg, &w, cfg.context_len).unwrap();
            let len = 20 + r.below(30);
            let ids: Vec<u32> = (0..len).map(|_| r.below(cfg.vocab_size) as u32).collect();
            let prefill = len - 1 - r.below(6);
            let want = reference(&model, &ids);
            let got = engine_logits(&eng, &ids, prefill);
            let d = rel_diff(&got, &want);
            assert!(
                d < 1e-4,
                "{case} round {round}: engine vs model relative max|Δ| = {d:.2e}\n{cfg:#?}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 4 * families.len());
}

/// Past one 512-row chunk and far past every window: prefill 600 positions, decode
/// 40 more; the windowed layers' caches stay bounded by their window the whole time.
#[test]
fn long_sequences_cross_the_chunk_and_every_window_with_bounded_windowed_caches() {
    let mut r = Rng(0x10_96);
    for case in [
        "mistral",
        "gemma3_text",
        "gpt_oss",
        "mixtral",
        "deepseek_v3",
        "bloom",
    ] {
        let mut cfg = base(case);
        cfg.context_len = 700;
        let w = random_weights(&cfg, &mut r);
        let model = Model::new(&cfg, &w).unwrap();
        let eng = Engine::new(&cfg, &w, cfg.context_len).unwrap();
        let (prefill, total) = (MAX_BATCH + 88, MAX_BATCH + 128);
        let ids: Vec<u32> = (0..total).map(|_| r.below(cfg.vocab_size) as u32).collect();
        let want = reference(&model, &ids);
        let mut st = eng.new_state();
        let mut got = eng.forward_all(&mut st, &ids[..prefill]).unwrap();
        let full = cfg.layers.iter().filter(|l| l.window.is_none()).count();
        let windows: Vec<usize> = cfg.layers.iter().filter_map(|l| l.window).collect();
        for (i, &id) in ids[prefill..].iter().enumerate() {
            got.extend_from_slice(eng.forward(&mut st, &[id]).unwrap());
            let pos = prefill + i + 1;
            let n = pos.div_ceil(BLOCK);
            // Per group: full attention holds every block; a window W holds the blocks
            // from (pos + 1 - W) / BLOCK - 1 on.
            let mut groups: Vec<usize> = windows.clone();
            groups.sort_unstable();
            groups.dedup();
            let bound: usize = (full > 0) as usize * n
                + groups
                    .iter()
                    .map(|&w| n - ((pos + 1).saturating_sub(w) / BLOCK).saturating_sub(1))
                    .sum::<usize>();
            assert_eq!(
                st.kv().held_blocks(),
                bound,
                "{case}: blocks held at position {pos} (windows {windows:?})"
            );
        }
        let d = rel_diff(&got, &want);
        assert!(
            d < 1e-4,
            "{case}: engine vs model over {total} positions: {d:.2e}"
        );
        if !windows.is_empty() {
            let smallest = *windows.iter().min().unwrap();
            assert!(
                smallest + 2 * BLOCK < prefill,
                "{case}: the sequence passes its windows"
            );
        }
    }
}
