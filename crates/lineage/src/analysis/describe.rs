//! The component choices of a config in words: one short line per component, for the
//! `inspect` report and its side-by-side comparison.

use crate::config::*;

/// `(component, choice)` rows in a stable order.
pub fn describe(c: &ModelConfig) -> Vec<(&'static str, String)> {
    vec![
        ("family", c.family.clone()),
        (
            "layers",
            format!("{} x d_model {}", c.n_layers(), c.d_model),
        ),
        ("norm", norm(&c.block.norm)),
        ("block", block(&c.block)),
        ("position", position(&c.position)),
        ("attention", attention(&c.attention)),
        ("ffn", ffn(&c.ffn)),
        ("moe", moe(c)),
        ("windows", windows(&c.layers)),
        ("context_len", c.context_len.to_string()),
        ("embeddings", embeddings(c)),
        ("chat", chat(c.chat).into()),
    ]
}

fn norm(n: &NormConfig) -> String {
    let kind = match n.kind {
        NormKind::LayerNorm { bias: true } => "LayerNorm",
        NormKind::LayerNorm { bias: false } => "LayerNorm (no bias)",
        NormKind::RmsNorm { offset_one: false } => "RMSNorm",
        NormKind::RmsNorm { offset_one: true } => "RMSNorm (1+w)",
    };
    format!("{kind}, eps {:e}", n.eps)
}

fn block(b: &BlockConfig) -> String {
    let placement = match b.placement {
        NormPlacement::Pre => "pre-norm",
        NormPlacement::Post => "post-norm",
        NormPlacement::Sandwich => "sandwich norm",
        NormPlacement::PostSublayer => "post-sublayer norm",
    };
    let residual = match b.residual {
        Residual::Sequential => "sequential",
        Residual::Parallel { shared_norm: true } => "parallel, one shared norm",
        Residual::Parallel { shared_norm: false } => "parallel",
    };
    format!("{placement}, {residual}")
}

fn position(p: &Position) -> String {
    match p {
        Position::Learned => "learned absolute".into(),
        Position::Alibi => "ALiBi".into(),
        Position::None => "none".into(),
        Position::Rope(r) => {
            let scaling = match &r.scaling {
                RopeScaling::None => String::new(),
                RopeScaling::Linear { factor } => format!(", linear x{factor}"),
                RopeScaling::DynamicNtk { factor, .. } => format!(", dynamic NTK x{factor}"),
                RopeScaling::Llama3 {
                    factor,
                    original_max,
                    ..
                } => format!(", llama3 x{factor} from {original_max}"),
                RopeScaling::Yarn {
                    factor,
                    original_max,
                    ..
                } => format!(", YaRN x{factor} from {original_max}"),
                RopeScaling::LongRope { original_max, .. } => {
                    format!(", LongRoPE from {original_max}")
                }
                RopeScaling::FreqFactors { factors } => {
                    format!(", {} per-frequency factors", factors.len())
                }
            };
            format!("RoPE theta {}, {} dims{scaling}", r.theta, r.rotary_dim)
        }
    }
}

fn attention(a: &AttentionConfig) -> String {
    let mut s = match &a.kind {
        AttentionKind::Latent(m) => format!(
            "MLA {} heads, kv_lora {}, q_lora {}, qk {}+{} rope, v {}",
            a.n_heads,
            m.kv_lora_rank,
            m.q_lora_rank.map_or("none".to_string(), |r| r.to_string()),
            m.qk_nope_head_dim,
            m.qk_rope_head_dim,
            m.v_head_dim
        ),
        AttentionKind::Standard => {
            let kind = match a.n_kv_heads {
                k if k == a.n_heads => "MHA".to_string(),
                1 => "MQA".to_string(),
                k => format!("GQA {k} kv"),
            };
            format!("{kind}, {} heads x {}", a.n_heads, a.head_dim)
        }
    };
    let b = a.bias;
    if b.q || b.k || b.v || b.o {
        s += ", bias";
    }
    if let Some(scope) = a.qk_norm {
        s += if scope == QkNormScope::PerHead {
            ", QK-norm"
        } else {
            ", QK-norm (full width)"
        };
    }
    if a.sinks {
        s += ", sinks";
    }
    if let Some(cap) = a.softcap {
        s += &format!(", softcap {cap}");
    }
    s
}

fn ffn(f: &FfnConfig) -> String {
    let act = |a: Activation| match a {
        Activation::Gelu => "GELU",
        Activation::GeluTanh => "GELU-tanh",
        Activation::Silu => "SiLU",
        Activation::Relu => "ReLU",
    };
    let kind = match f.kind {
        FfnKind::Mlp(a) => format!("{} MLP", act(a)),
        FfnKind::Glu(Activation::Silu) => "SwiGLU".to_string(),
        FfnKind::Glu(a) => format!("{}-GLU", act(a)),
        FfnKind::ClampedSwiGlu { limit, .. } => format!("clamped SwiGLU (limit {limit})"),
    };
    format!(
        "{kind}, d_ff {}{}",
        f.d_ff,
        if f.bias { ", bias" } else { "" }
    )
}

fn moe(c: &ModelConfig) -> String {
    let Some(m) = &c.ffn.moe else {
        return "none (dense)".into();
    };
    let n_moe = c.layers.iter().filter(|l| l.moe).count();
    let router = match &m.router {
        Router::SoftmaxTopK { renormalize: true } => "softmax, top-k, renormalised".to_string(),
        Router::SoftmaxTopK { renormalize: false } => "softmax, top-k".to_string(),
        Router::TopKSoftmax => "top-k, softmax".to_string(),
        Router::SigmoidGrouped {
            n_groups,
            topk_groups,
            group_score,
            ..
        } => format!(
            "sigmoid, {topk_groups} of {n_groups} groups{}",
            ranked(*group_score)
        ),
        Router::SoftmaxGrouped {
            n_groups,
            topk_groups,
            group_score,
            ..
        } => format!(
            "softmax, {topk_groups} of {n_groups} groups{}",
            ranked(*group_score)
        ),
    };
    let shared = if m.n_shared_experts > 0 {
        format!(" + {} shared", m.n_shared_experts)
    } else {
        String::new()
    };
    format!(
        "{} experts top-{}{shared}, d_expert {}, {router}; {n_moe}/{} layers",
        m.n_experts,
        m.top_k,
        m.d_expert,
        c.n_layers()
    )
}

/// How groups are ranked, shown only for the rule that is not the long-standing default.
fn ranked(score: GroupScore) -> &'static str {
    match score {
        GroupScore::Top2Sum => "",
        GroupScore::Max => " (by best expert)",
    }
}

/// "none", "every layer: W", or the repeating pattern of sliding (S) and full (F) layers.
pub fn windows(layers: &[LayerSpec]) -> String {
    let ws: Vec<Option<usize>> = layers.iter().map(|l| l.window).collect();
    let n_sliding = ws.iter().filter(|w| w.is_some()).count();
    if n_sliding == 0 {
        return "none (full attention)".into();
    }
    if n_sliding == ws.len() && ws.iter().all(|w| *w == ws[0]) {
        return format!("every layer: {}", ws[0].unwrap_or(0));
    }
    let mut sizes: Vec<usize> = ws.iter().flatten().copied().collect();
    sizes.sort();
    sizes.dedup();
    let sizes: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
    let period = (1..=ws.len())
        .find(|&p| ws.iter().enumerate().all(|(i, w)| *w == ws[i % p]))
        .unwrap_or(ws.len());
    let letters: String = ws[..period.min(12)]
        .iter()
        .map(|w| if w.is_some() { 'S' } else { 'F' })
        .collect();
    let more = if period > 12 { "..." } else { "" };
    format!(
        "{n_sliding}/{} layers sliding ({}), pattern {letters}{more}",
        ws.len(),
        sizes.join("/")
    )
}

fn chat(f: ChatFormat) -> &'static str {
    match f {
        ChatFormat::Template => "chat template",
        ChatFormat::Harmony => "harmony",
    }
}

fn embeddings(c: &ModelConfig) -> String {
    let mut s = format!(
        "vocab {}, {}",
        c.vocab_size,
        if c.embedding.tied_lm_head {
            "tied head"
        } else {
            "untied head"
        }
    );
    if let Some(k) = c.embedding.scale {
        s += &format!(", scaled x{k:.4}");
    }
    if c.embedding.norm.is_some() {
        s += ", embedding norm";
    }
    if let Some(cap) = c.final_logit_softcap {
        s += &format!(", logit softcap {cap}");
    }
    s
}
