//! The engine against the candle model (the reference, itself checked against HF) on
//! configs drawn at random from the layer plan's space: head counts and GQA ratios,
//! head widths, per-layer windows, sinks, QK-norm, ALiBi, norm placements, parallel
//! residuals, MoE shapes and routers with shared experts, MLA ranks. Also sequences
//! longer than the engine's chunk (MAX_BATCH = 512) and than every window, and the
//! windowed layers' bounded caches.

mod common;

use candle_core::{DType, Device, Tensor};
use common::fixture_dir;
use lineage::config::tensors::tensors;
use lineage::config::TensorRole;
use lineage::config::{
    AttentionKind, GroupScore, MlaConfig, NormPlacement, Position, QkNormScope, Residual, Router,
};
use lineage::engine::{kv::BLOCK, Engine, MAX_BATCH};
use lineage::model::Model;
use lineage::weights::Weights;
use lineage::ModelConfig;

/// SplitMix64: deterministic draws for configs, weights and ids.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

fn base(case: &str) -> ModelConfig {
    lineage::families::load_hf_dir(&fixture_dir(case))
        .unwrap_or_else(|e| panic!("{case}: {e}"))
        .0
}

/// Every tensor of `cfg` with random values: matrices N-ish(0, 0.3), norm gains
/// around their identity, biases, sinks and router corrections small but non-zero.
fn random_weights(cfg: &ModelConfig, r: &mut Rng) -> Weights {
    let mut w = Weights::default();
    for spec in tensors(cfg) {
        let n: usize = spec.shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| match spec.role {
                TensorRole::NormGain { offset_one } => {
                    0.2 * r.unit() + if offset_one { 0.0 } else { 1.0 }
                }
                TensorRole::Bias => 0.1 * r.unit(),
                _ => 0.5 * r.unit(),
            })
            .collect();
        let t = Tensor::from_vec(v, spec.shape.as_slice(), &Device::Cpu).unwrap();
        w.insert(spec.name, t);
    }
    w
}

/// A config drawn around a fixture family's: the components stay the family's kinds,
/// their shapes and options are redrawn.
fn draw(r: &mut Rng, case: &str) -> ModelConfig {
    let mut c = base(case);
    let n_layers = 1 + r.below(3);
    let proto = c.layers[0].clone();
    c.layers = (0..n_layers).map(|_| proto.clone()).collect();
    c.context_len = 256;
    let a = &mut c.attention;
    let (heads, kv) = r.pick(&[(1, 1), (2, 1), (4, 1), (4, 2), (4, 4), (6, 2), (6, 3)]);
    a.n_heads = heads;
    a.n_kv_heads = kv;
    a.scale = None;
    if r.coin() {
        a.softcap = a.softcap.or(Some(20.0 + 10.0 * r.unit() as f64));
    }
    match &mut a.kind {
        AttentionKind::Standard => {
            a.head_dim = r.pick(&[4, 8, 12, 16]);
            a.sinks = r.coin();
            if r.coin() {
                a.qk_norm = Some(r.pick(&[QkNormScope::PerHead, QkNormScope::FullWidth]));
            }
        }
        AttentionKind::Latent(m) => {
            *m = MlaConfig {
                q_lora_rank: r.pick(&[None, Some(12)]),
                kv_lora_rank: r.pick(&[8, 16, 24]),
                qk_nope_head_dim: r.pick(&[4, 8]),
                qk_rope_head_dim: r.pick(&[2, 4]),
                v_head_dim: r.pick(&[4, 8]),
            };
            a.head_dim = m.qk_nope_head_dim + m.qk_rope_head_dim;
            a.n_kv_heads = a.n_heads;
        }
    }
    let rotary = match &a.kind {
        AttentionKind::Latent(m) => m.qk_rope_head_dim,
        AttentionKind::Standard => a.head_dim / r.pick(&[1, 2]) / 2 * 2,
    };
    if let Position::Rope(rope) = &mut c.position {
        rope.rotary_dim = rotary;
    }
    for l in &mut c.layers {
        l.window = r.pick(&[None, None, Some(1), Some(5), Some(16), Some(23)]);
        if let Some(rope) = &mut l.rope {
            rope.rotary_dim = rotary;
        }
    }
    c.ffn.d_ff = r.pick(&[8, 24, 40]);
    if let Some(m) = &mut c.ffn.moe {
        m.n_experts = r.pick(&[2, 4, 6]);
        m.top_k = 1 + r.below(m.n_experts.min(3));
        m.d_expert = r.pick(&[8, 16]);
        m.n_shared_experts = r.below(2);
        if matches!(m.router, Router::SoftmaxTopK { .. } | Router::TopKSoftmax) {
            m.router = if r.coin() {
                Router::SoftmaxTopK {
                    renormalize: r.coin(),
                }
            } else {
                Router::TopKSoftmax
            };
        } else if m.n_experts % 2 == 0 {
            let (n_groups, topk_groups) = (2, 1 + r.below(2));
            let (normalize, scaling) = (r.coin(), 1.0 + r.unit().abs() as f64);
            // The family's scoring, bias and group ranking stay; the numbers are redrawn.
            m.router = match m.router {
                Router::SoftmaxGrouped {
                    correction_bias,
                    group_score,
                    ..
                } => Router::SoftmaxGrouped {
                    n_groups,
                    topk_groups,
                    normalize,
                    scaling,
                    correction_bias,
                    group_score,
                },
                _ => Router::SigmoidGrouped {
                    n_groups,
                    topk_groups,
                    normalize,
                    scaling,
                    group_score: GroupScore::Top2Sum,
                },
            };
        }
        for l in &mut c.layers {
            l.moe = r.coin() || n_layers == 1;
        }
    }
    if r.below(4) == 0 {
        c.block.placement = r.pick(&[
            NormPlacement::Pre,
            NormPlacement::Post,
            NormPlacement::Sandwich,
            NormPlacement::PostSublayer,
        ]);
    }
    if r.below(4) == 0 {
        c.block.residual = Residual::Parallel {
            shared_norm: r.coin(),
        };
    }
    c
}

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
