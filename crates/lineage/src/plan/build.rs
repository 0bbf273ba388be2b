//! Config -> plan: every decision of which tensors a layer has and how it computes,
//! taken here once (norm placement, mixer, FFN, positions, windows).

use super::*;
use crate::config::{AttentionKind, NormKind, Position};

pub(super) fn model(c: &ModelConfig) -> ModelPlan {
    let d = c.d_model;
    let embedding = EmbeddingPlan {
        token: "token_embd.weight".into(),
        position: (c.position == Position::Learned).then(|| "position_embd.weight".into()),
        scale: c.embedding.scale,
        norm: c.embedding.norm.map(|n| norm("token_embd_norm", n, d)),
    };
    let head = (!c.embedding.tied_lm_head).then(|| LinearSlot {
        name: "output".into(),
        out: c.vocab_size,
        inp: d,
        bias: false,
        role: TensorRole::Matrix,
    });
    ModelPlan {
        vocab: c.vocab_size,
        d_model: d,
        context_len: c.context_len,
        embedding,
        layers: (0..c.n_layers()).map(|i| layer(c, i)).collect(),
        final_norm: norm("output_norm", c.final_norm, d),
        head,
        final_softcap: c.final_logit_softcap,
    }
}

fn norm(name: &str, cfg: NormConfig, dim: usize) -> NormSlot {
    NormSlot {
        name: name.into(),
        cfg,
        dim,
    }
}

fn linear(name: String, out: usize, inp: usize, bias: bool, role: TensorRole) -> LinearSlot {
    LinearSlot {
        name,
        out,
        inp,
        bias,
        role,
    }
}

fn layer(c: &ModelConfig, i: usize) -> LayerPlan {
    let p = format!("blk.{i}");
    LayerPlan {
        index: i,
        placement: c.block.placement,
        residual: c.block.residual,
        norms: sublayer_norms(c, &p),
        mixer: match &c.attention.kind {
            AttentionKind::Standard => Mixer::Attention(attention(c, i, &p)),
            AttentionKind::Latent(m) => Mixer::Latent(latent(c, i, m, &p)),
        },
        ffn: match (&c.ffn.moe, c.layers[i].moe) {
            (Some(m), true) => Ffn::Moe(moe(c, m, &p)),
            _ => Ffn::Dense(dense(c, &p, "", c.ffn.d_ff)),
        },
    }
}

/// Pre and sandwich placements normalise each sublayer's input; post-norm normalises
/// after each join with the same two norms; sandwich and post-sublayer add norms on the
/// outputs. A parallel block with a shared norm has only the attention one.
fn sublayer_norms(c: &ModelConfig, p: &str) -> SublayerNorms {
    let (n, d, pl) = (c.block.norm, c.d_model, c.block.placement);
    let pre = pl.has_pre() || pl == NormPlacement::Post;
    let two = !matches!(c.block.residual, Residual::Parallel { shared_norm: true });
    let slot = |name: &str, on: bool| on.then(|| norm(&format!("{p}.{name}"), n, d));
    SublayerNorms {
        attn: slot("attn_norm", pre),
        attn_post: slot("attn_post_norm", pl.has_post_sublayer()),
        ffn: slot("ffn_norm", pre && two),
        ffn_post: slot("ffn_post_norm", pl.has_post_sublayer()),
    }
}

fn visibility(c: &ModelConfig, i: usize) -> Visibility {
    let l = &c.layers[i];
    let position = match (&l.rope, &c.position) {
        (Some(r), _) | (None, Position::Rope(r)) => Positional::Rope(r.clone()),
        (None, Position::Alibi) => Positional::Alibi(alibi_slopes(c.attention.n_heads)),
        (None, Position::Learned | Position::None) => Positional::None,
    };
    Visibility {
        window: l.window,
        position,
    }
}

fn attention(c: &ModelConfig, i: usize, p: &str) -> AttentionPlan {
    let a = &c.attention;
    let (d, hd, n) = (c.d_model, a.head_dim, c.block.norm);
    let (qw, kvw) = (a.n_heads * hd, a.n_kv_heads * hd);
    let qk_norm = a.qk_norm.map(|scope| {
        let (qn, kn) = match scope {
            QkNormScope::PerHead => (hd, hd),
            QkNormScope::FullWidth => (qw, kvw),
        };
        QkNorm {
            scope,
            q: norm(&format!("{p}.attn_q_norm"), n, qn),
            k: norm(&format!("{p}.attn_k_norm"), n, kn),
        }
    });
    let m = TensorRole::Matrix;
    AttentionPlan {
        n_heads: a.n_heads,
        n_kv_heads: a.n_kv_heads,
        head_dim: hd,
        scale: a.score_scale(),
        softcap: a.softcap,
        q: linear(format!("{p}.attn_q"), qw, d, a.bias.q, m),
        k: linear(format!("{p}.attn_k"), kvw, d, a.bias.k, m),
        v: linear(format!("{p}.attn_v"), kvw, d, a.bias.v, m),
        o: linear(
            format!("{p}.attn_output"),
            d,
            qw,
            a.bias.o,
            TensorRole::ResidualOut,
        ),
        qk_norm,
        sinks: a.sinks.then(|| format!("{p}.attn_sinks.weight")),
        sees: visibility(c, i),
    }
}

fn latent(c: &ModelConfig, i: usize, m: &MlaConfig, p: &str) -> LatentPlan {
    let (d, h, n) = (c.d_model, c.attention.n_heads, c.block.norm);
    let qk = m.qk_nope_head_dim + m.qk_rope_head_dim;
    let mx = TensorRole::Matrix;
    let query = match m.q_lora_rank {
        None => LatentQuery::Direct(linear(format!("{p}.attn_q"), h * qk, d, false, mx)),
        Some(r) => LatentQuery::LoRa {
            down: linear(format!("{p}.attn_q_a"), r, d, false, mx),
            norm: norm(&format!("{p}.attn_q_a_norm"), n, r),
            up: linear(format!("{p}.attn_q_b"), h * qk, r, false, mx),
        },
    };
    let kv_a = m.kv_lora_rank + m.qk_rope_head_dim;
    let kv_b = h * (m.qk_nope_head_dim + m.v_head_dim);
    LatentPlan {
        m: m.clone(),
        n_heads: h,
        scale: c.attention.score_scale(),
        query,
        kv_a: linear(format!("{p}.attn_kv_a_mqa"), kv_a, d, false, mx),
        kv_norm: norm(&format!("{p}.attn_kv_a_norm"), n, m.kv_lora_rank),
        kv_b: linear(format!("{p}.attn_kv_b"), kv_b, m.kv_lora_rank, false, mx),
        o: linear(
            format!("{p}.attn_output"),
            d,
            h * m.v_head_dim,
            false,
            TensorRole::ResidualOut,
        ),
        sees: visibility(c, i),
    }
}

/// The dense FFN (`suffix` "") or the fused shared experts (`suffix` "_shexp").
fn dense(c: &ModelConfig, p: &str, suffix: &str, d_ff: usize) -> DensePlan {
    let (d, bias, kind) = (c.d_model, c.ffn.bias, c.ffn.kind);
    let mx = TensorRole::Matrix;
    DensePlan {
        kind,
        gate: (!matches!(kind, FfnKind::Mlp(_)))
            .then(|| linear(format!("{p}.ffn_gate{suffix}"), d_ff, d, bias, mx)),
        up: linear(format!("{p}.ffn_up{suffix}"), d_ff, d, bias, mx),
        down: linear(
            format!("{p}.ffn_down{suffix}"),
            d,
            d_ff,
            bias,
            TensorRole::ResidualOut,
        ),
    }
}

fn moe(c: &ModelConfig, m: &MoeConfig, p: &str) -> MoePlan {
    let (d, e, f, kind) = (c.d_model, m.n_experts, m.d_expert, c.ffn.kind);
    let stack = |name: &str, out: usize, inp: usize, role| StackSlot {
        name: format!("{p}.{name}"),
        experts: e,
        out,
        inp,
        bias: m.expert_bias,
        role,
    };
    let mx = TensorRole::Matrix;
    MoePlan {
        cfg: m.clone(),
        kind,
        router: linear(format!("{p}.ffn_gate_inp"), e, d, m.router_bias, mx),
        correction: m
            .router
            .has_correction_bias()
            .then(|| format!("{p}.exp_probs_b.bias")),
        gate: (!matches!(kind, FfnKind::Mlp(_))).then(|| stack("ffn_gate_exps", f, d, mx)),
        up: stack("ffn_up_exps", f, d, mx),
        down: stack("ffn_down_exps", d, f, TensorRole::ResidualOut),
        shared: (m.n_shared_experts > 0).then(|| dense(c, p, "_shexp", m.n_shared_experts * f)),
    }
}

/// ALiBi slopes for any head count (Press et al. 2021; HF `build_alibi_tensor`): a
/// geometric sequence for the largest power of two, then every other slope of the next.
pub(crate) fn alibi_slopes(n_heads: usize) -> Vec<f64> {
    let closest = 1usize << (usize::BITS - 1 - n_heads.leading_zeros());
    let base = 2f64.powf(-(2f64.powf(-((closest as f64).log2() - 3.0))));
    let mut s: Vec<f64> = (1..=closest).map(|i| base.powi(i as i32)).collect();
    if closest < n_heads {
        let extra = 2f64.powf(-(2f64.powf(-((2.0 * closest as f64).log2() - 3.0))));
        let n_rest = n_heads - closest;
        s.extend((0..n_rest).map(|i| extra.powi((2 * i + 1) as i32)));
    }
    s
}

impl NormSlot {
    /// Whether the norm has a `.bias` (LayerNorm with a shift).
    pub fn has_bias(&self) -> bool {
        matches!(self.cfg.kind, NormKind::LayerNorm { bias: true })
    }
}
