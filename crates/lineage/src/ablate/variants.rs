//! The ladder from GPT-2 to a modern model: every variant as `--set` edits of one base
//! config plus training overrides, grouped in sections. Parameter matching (which d_ff
//! or d_expert keeps a variant at the reference's parameter count) is in `matching`.

/// How a variant's size is matched to its section's reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Same architecture sizes as given (placement study, dropout, ...).
    None,
    /// d_ff chosen so non-embedding parameters equal the reference's.
    NonEmbedding,
    /// d_expert chosen so active (per-token) non-embedding parameters match.
    Active,
    /// d_expert chosen so total non-embedding parameters match.
    Total,
}

/// Which data a variant trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// The text corpus.
    Corpus,
    /// The synthetic associative-recall task.
    Recall,
}

/// One trained variant.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: &'static str,
    pub section: &'static str,
    pub description: &'static str,
    pub edits: Vec<String>,
    /// Training-setting overrides, `key=value` (lr, warmup).
    pub overrides: Vec<String>,
    pub matching: Match,
    /// Variant whose parameter count this one matches.
    pub reference: &'static str,
    pub data: Data,
}

/// The GPT-2 baseline, scaled to the study: 4 x 128, 8 heads of 16, d_ff 512, context 1024
/// (so RoPE/ALiBi can be evaluated past the training length), dropout 0.1.
pub const BASE_MODEL: &str = "gpt2-tiny";
pub const BASE_EDITS: &[&str] = &[
    "n_layers=4",
    "d_model=128",
    "n_heads=8",
    "head_dim=16",
    "d_ff=512",
    "dropout=0.1",
    "context_len=1024",
];
/// The 16-layer base of the depth study: same non-embedding parameters at half the width.
pub const DEEP_EDITS: &[&str] = &[
    "n_layers=16",
    "d_model=64",
    "n_heads=4",
    "head_dim=16",
    "d_ff=256",
];
/// The modern stack on top of the base.
pub const MODERN: &[&str] = &[
    "position=rope",
    "norm=rmsnorm",
    "ffn=swiglu",
    "n_kv_heads=2",
    "bias=false",
    "dropout=0",
];

fn v(
    name: &'static str,
    section: &'static str,
    description: &'static str,
    edits: &[&str],
) -> Variant {
    Variant {
        name,
        section,
        description,
        edits: edits.iter().map(|s| s.to_string()).collect(),
        overrides: Vec::new(),
        matching: Match::NonEmbedding,
        reference: "gpt2",
        data: Data::Corpus,
    }
}

/// Every variant of the study, in report order.
pub fn all() -> Vec<Variant> {
    let mut out = ladder();
    out.extend(moe());
    out.extend(attention());
    out.extend(placement());
    out.extend(recall());
    out
}

fn ladder() -> Vec<Variant> {
    let s = "ladder";
    let mut out = vec![
        v(
            "gpt2",
            s,
            "GPT-2: learned positions, LayerNorm, GELU MLP, MHA, biases, tied, dropout 0.1",
            &[],
        ),
        v(
            "rope",
            s,
            "RoPE instead of learned positions",
            &["position=rope"],
        ),
        v(
            "alibi",
            s,
            "ALiBi instead of learned positions",
            &["position=alibi"],
        ),
        v(
            "rmsnorm",
            s,
            "RMSNorm instead of LayerNorm",
            &["norm=rmsnorm"],
        ),
        v(
            "swiglu",
            s,
            "SwiGLU FFN (d_ff matched, about 2/3 of 4d)",
            &["ffn=swiglu"],
        ),
        v(
            "gqa",
            s,
            "GQA: 2 KV heads for 8 query heads (n_heads/4)",
            &["n_kv_heads=2"],
        ),
        v("mqa", s, "MQA: 1 KV head", &["n_kv_heads=1"]),
        v("no_bias", s, "no biases", &["bias=false"]),
        v("no_dropout", s, "dropout 0 instead of 0.1", &["dropout=0"]),
        v("qk_norm", s, "QK-norm (per head)", &["qk_norm=per_head"]),
        v(
            "parallel",
            s,
            "parallel block (PaLM)",
            &["residual=parallel"],
        ),
        v(
            "window",
            s,
            "sliding window of 32 on every layer",
            &["window=32"],
        ),
        v(
            "modern",
            s,
            "Llama-3 style: RoPE, RMSNorm, SwiGLU, GQA, no bias, no dropout",
            MODERN,
        ),
    ];
    for x in out
        .iter_mut()
        .filter(|x| x.name == "no_dropout" || x.name == "gpt2")
    {
        x.matching = Match::None;
    }
    out
}

fn moe() -> Vec<Variant> {
    let s = "moe";
    let mut a = v(
        "moe_top2_active",
        s,
        "MoE 8 experts top-2, active parameters matched",
        &["moe=8:2"],
    );
    a.matching = Match::Active;
    let mut t = v(
        "moe_top2_total",
        s,
        "MoE 8 experts top-2, total parameters matched",
        &["moe=8:2"],
    );
    t.matching = Match::Total;
    let mut one = v(
        "moe_top1_active",
        s,
        "Switch: 8 experts top-1, active parameters matched",
        &["moe=8:1"],
    );
    one.matching = Match::Active;
    vec![a, t, one]
}

fn attention() -> Vec<Variant> {
    let s = "attention";
    let gqa = v(
        "gqa_rope",
        s,
        "GQA (2 KV heads) with RoPE: 64 cached values per token and layer",
        &["position=rope", "n_kv_heads=2"],
    );
    let mut mla = v(
        "mla",
        s,
        "MLA, latent 60 + RoPE key 4: 64 cached values per token and layer",
        &["position=rope", "attention=mla:60"],
    );
    mla.reference = "gqa_rope";
    vec![gqa, mla]
}

/// Pre- against post-norm at 4 and 16 layers, with and without warmup, at two rates.
fn placement() -> Vec<Variant> {
    let mut out = Vec::new();
    for (depth, edits) in [("L4", &[][..]), ("L16", DEEP_EDITS)] {
        for place in ["pre", "post"] {
            for (warm, w) in [
                ("warmup", "warmup_fraction=0.1"),
                ("nowarmup", "warmup_fraction=0"),
            ] {
                for lr in ["1e-3", "3e-3"] {
                    let name = format!("{place}_{depth}_{warm}_lr{lr}");
                    let mut e: Vec<String> = edits.iter().map(|s| s.to_string()).collect();
                    e.push(format!("placement={place}"));
                    out.push(Variant {
                        name: Box::leak(name.into_boxed_str()),
                        section: "norm_placement",
                        description: "norm placement, depth, warmup and learning rate",
                        edits: e,
                        overrides: vec![w.to_string(), format!("lr={lr}")],
                        matching: Match::None,
                        reference: "gpt2",
                        data: Data::Corpus,
                    });
                }
            }
        }
    }
    out
}

/// Associative recall: full attention against a window shorter than the pairs' span.
fn recall() -> Vec<Variant> {
    let mut full = v(
        "recall_full",
        "recall",
        "modern stack, full attention, on associative recall",
        MODERN,
    );
    let mut win = v(
        "recall_window",
        "recall",
        "modern stack, sliding window 16, on associative recall",
        MODERN,
    );
    win.edits.push("window=16".into());
    for x in [&mut full, &mut win] {
        x.data = Data::Recall;
        x.matching = Match::None;
    }
    vec![full, win]
}
