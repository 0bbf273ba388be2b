//! Component swaps as `key=value` edits: the single changes of the GPT-2 -> Llama
//! ladder (position, norm, FFN, biases, placement, residual form, QK-norm, dropout,
//! MoE, MLA). Part of `--set` for `inspect` and `train`, and what `ablate` uses to
//! describe each variant as plain edits of a base config.

use crate::config::*;
use crate::{Error, Result};

/// Keys handled here, with what they set.
pub const KEYS: &[(&str, &str)] = &[
    ("position", "learned | rope | alibi | none (RoPE: theta 10000, every dim rotated)"),
    ("norm", "layernorm | rmsnorm (blocks and final norm)"),
    ("ffn", "gelu_mlp | relu_mlp | swiglu | geglu"),
    ("bias", "true/false: biases on attention, FFN and LayerNorm"),
    ("placement", "pre | post (norm before the sublayer, or after the residual add)"),
    ("residual", "sequential | parallel (PaLM: attention and FFN read the same input)"),
    ("qk_norm", "none | per_head"),
    ("dropout", "training dropout probability in [0, 1)"),
    ("moe", "E:K mixture of E experts, top-K softmax router (K = 1: Switch, no renormalisation); none = dense"),
    ("attention", "standard | mla:RANK (latent KV of width RANK, RoPE key width head_dim/4)"),
];

/// Applies `key=value` if `key` is a component key; `Ok(false)` when it is not one.
pub fn apply(c: &mut ModelConfig, key: &str, value: &str) -> Result<bool> {
    match key {
        "position" => c.position = position(c, value)?,
        "norm" => norm(c, value)?,
        "ffn" => c.ffn.kind = ffn(value)?,
        "bias" => bias(c, parse_bool(key, value)?),
        "placement" => c.block.placement = placement(value)?,
        "residual" => c.block.residual = residual(value)?,
        "qk_norm" => c.attention.qk_norm = qk_norm(value)?,
        "dropout" => c.dropout = dropout(value)?,
        "moe" => moe(c, value)?,
        "attention" => attention(c, value)?,
        _ => return Ok(false),
    }
    Ok(true)
}

fn bad(key: &str, value: &str, expected: &str) -> Error {
    Error::invalid(key, format!("`{value}`: expected {expected}"))
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    value.parse().map_err(|_| bad(key, value, "true or false"))
}

fn position(c: &ModelConfig, v: &str) -> Result<Position> {
    Ok(match v {
        "learned" => Position::Learned,
        "alibi" => Position::Alibi,
        "none" => Position::None,
        "rope" => Position::Rope(Rope {
            theta: 10000.0,
            rotary_dim: c.attention.head_dim,
            pairing: RopePairing::RotateHalf,
            scaling: RopeScaling::None,
        }),
        _ => return Err(bad("position", v, "learned, rope, alibi or none")),
    })
}

fn norm(c: &mut ModelConfig, v: &str) -> Result<()> {
    let kind = match v {
        "layernorm" => NormKind::LayerNorm { bias: c.ffn.bias },
        "rmsnorm" => NormKind::RmsNorm { offset_one: false },
        _ => return Err(bad("norm", v, "layernorm or rmsnorm")),
    };
    c.block.norm.kind = kind;
    c.final_norm.kind = kind;
    if let Some(n) = &mut c.embedding.norm {
        n.kind = kind;
    }
    Ok(())
}

fn ffn(v: &str) -> Result<FfnKind> {
    Ok(match v {
        "gelu_mlp" => FfnKind::Mlp(Activation::GeluTanh),
        "relu_mlp" => FfnKind::Mlp(Activation::Relu),
        "swiglu" => FfnKind::Glu(Activation::Silu),
        "geglu" => FfnKind::Glu(Activation::GeluTanh),
        _ => return Err(bad("ffn", v, "gelu_mlp, relu_mlp, swiglu or geglu")),
    })
}

fn bias(c: &mut ModelConfig, on: bool) {
    c.attention.bias = ProjBias::all(on);
    c.ffn.bias = on;
    for n in [&mut c.block.norm, &mut c.final_norm] {
        if let NormKind::LayerNorm { bias } = &mut n.kind {
            *bias = on;
        }
    }
    if let Some(m) = &mut c.ffn.moe {
        m.expert_bias = on;
    }
}

fn placement(v: &str) -> Result<NormPlacement> {
    Ok(match v {
        "pre" => NormPlacement::Pre,
        "post" => NormPlacement::Post,
        _ => return Err(bad("placement", v, "pre or post")),
    })
}

fn residual(v: &str) -> Result<Residual> {
    Ok(match v {
        "sequential" => Residual::Sequential,
        "parallel" => Residual::Parallel { shared_norm: false },
        _ => return Err(bad("residual", v, "sequential or parallel")),
    })
}

fn qk_norm(v: &str) -> Result<Option<QkNormScope>> {
    Ok(match v {
        "none" => None,
        "per_head" => Some(QkNormScope::PerHead),
        _ => return Err(bad("qk_norm", v, "none or per_head")),
    })
}

fn dropout(v: &str) -> Result<f64> {
    match v.parse::<f64>() {
        Ok(p) if (0.0..1.0).contains(&p) => Ok(p),
        _ => Err(bad("dropout", v, "a probability in [0, 1)")),
    }
}

/// `E:K` experts of width d_ff on every layer, or `none`.
fn moe(c: &mut ModelConfig, v: &str) -> Result<()> {
    if v == "none" {
        c.ffn.moe = None;
        c.layers.iter_mut().for_each(|l| l.moe = false);
        return Ok(());
    }
    let parse = |s: &str| s.parse::<usize>().ok().filter(|n| *n > 0);
    let (e, k) = v
        .split_once(':')
        .and_then(|(e, k)| Some((parse(e)?, parse(k)?)))
        .ok_or_else(|| bad("moe", v, "E:K, e.g. 8:2, or none"))?;
    c.ffn.moe = Some(MoeConfig {
        n_experts: e,
        top_k: k,
        d_expert: c.ffn.d_ff,
        router: Router::SoftmaxTopK { renormalize: k > 1 },
        router_bias: false,
        expert_bias: c.ffn.bias,
        n_shared_experts: 0,
    });
    c.layers.iter_mut().for_each(|l| l.moe = true);
    Ok(())
}

/// `standard` or `mla:RANK`: DeepSeek-V2 latent attention with a plain q projection,
/// RoPE key width head_dim/4 (even), the rest of head_dim without position, v = head_dim.
fn attention(c: &mut ModelConfig, v: &str) -> Result<()> {
    let hd = c.attention.head_dim;
    if v == "standard" {
        if let AttentionKind::Latent(m) = &c.attention.kind {
            c.attention.head_dim = m.v_head_dim;
        }
        c.attention.kind = AttentionKind::Standard;
        return Ok(());
    }
    let rank = v
        .strip_prefix("mla:")
        .and_then(|r| r.parse::<usize>().ok())
        .filter(|r| *r > 0)
        .ok_or_else(|| bad("attention", v, "standard or mla:RANK, e.g. mla:48"))?;
    let rope = ((hd / 4) & !1).max(2);
    c.attention.kind = AttentionKind::Latent(MlaConfig {
        q_lora_rank: None,
        kv_lora_rank: rank,
        qk_nope_head_dim: hd - rope,
        qk_rope_head_dim: rope,
        v_head_dim: hd,
    });
    c.attention.n_kv_heads = c.attention.n_heads;
    if let Position::Rope(r) = &mut c.position {
        r.rotary_dim = rope;
    } else {
        return Err(Error::invalid(
            "attention",
            "MLA needs position=rope (set it first)",
        ));
    }
    Ok(())
}
