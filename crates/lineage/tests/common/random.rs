//! Random configs around a fixture family's and random weights for them: the space the
//! layer plan spans (head counts and GQA ratios, head widths, windows, sinks, QK-norm,
//! soft-caps, placements, parallel residuals, MoE shapes and routers, MLA ranks).

use candle_core::{Device, Tensor};
use lineage::config::tensors::tensors;
use lineage::config::TensorRole;
use lineage::config::{
    AttentionKind, GroupScore, MlaConfig, NormPlacement, Position, QkNormScope, Residual, Router,
};
use lineage::weights::Weights;
use lineage::ModelConfig;

use super::fixture_dir;

/// SplitMix64: deterministic draws for configs, weights and ids.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
    pub fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

pub fn base(case: &str) -> ModelConfig {
    lineage::families::load_hf_dir(&fixture_dir(case))
        .unwrap_or_else(|e| panic!("{case}: {e}"))
        .0
}

/// Every tensor of `cfg` with random values: matrices N-ish(0, 0.3), norm gains
/// around their identity, biases, sinks and router corrections small but non-zero.
pub fn random_weights(cfg: &ModelConfig, r: &mut Rng) -> Weights {
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
pub fn draw(r: &mut Rng, case: &str) -> ModelConfig {
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
            // Only the selected groups' experts can be picked.
            m.top_k = m.top_k.min(topk_groups * m.n_experts / n_groups);
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
