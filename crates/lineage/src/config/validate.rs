//! All invariants of a [`ModelConfig`], checked in one place.

use super::{AttentionKind, ModelConfig, Position, RopeScaling};
use crate::{Error, Result};

pub(super) fn validate(c: &ModelConfig) -> Result<()> {
    positive("vocab_size", c.vocab_size)?;
    positive("d_model", c.d_model)?;
    positive("n_layers", c.layers.len())?;
    positive("context_len", c.context_len)?;
    attention(c)?;
    rope(c)?;
    windows(c)?;
    moe(c)?;
    Ok(())
}

fn positive(key: &str, v: usize) -> Result<()> {
    if v == 0 {
        return Err(Error::invalid(key, "must be positive"));
    }
    Ok(())
}

fn attention(c: &ModelConfig) -> Result<()> {
    let a = &c.attention;
    positive("n_heads", a.n_heads)?;
    positive("n_kv_heads", a.n_kv_heads)?;
    positive("head_dim", a.head_dim)?;
    if a.n_heads % a.n_kv_heads != 0 {
        return Err(Error::invalid(
            "n_kv_heads",
            format!("= {} must divide n_heads = {}", a.n_kv_heads, a.n_heads),
        ));
    }
    if let AttentionKind::Latent(m) = &a.kind {
        positive("kv_lora_rank", m.kv_lora_rank)?;
        if m.qk_rope_head_dim % 2 != 0 {
            return Err(Error::invalid("qk_rope_head_dim", "must be even"));
        }
    }
    Ok(())
}

fn rope(c: &ModelConfig) -> Result<()> {
    let ropes = std::iter::once(&c.position)
        .filter_map(|p| match p {
            Position::Rope(r) => Some(r),
            _ => None,
        })
        .chain(c.layers.iter().filter_map(|l| l.rope.as_ref()));
    let max_dim = match &c.attention.kind {
        AttentionKind::Latent(m) => m.qk_rope_head_dim,
        AttentionKind::Standard => c.attention.head_dim,
    };
    for r in ropes {
        if r.rotary_dim == 0 || r.rotary_dim % 2 != 0 || r.rotary_dim > max_dim {
            return Err(Error::invalid(
                "rotary_dim",
                format!("= {} must be even and within 1..={max_dim}", r.rotary_dim),
            ));
        }
        if r.theta <= 0.0 {
            return Err(Error::invalid(
                "rope_theta",
                format!("= {} must be positive", r.theta),
            ));
        }
        let factors = match &r.scaling {
            RopeScaling::FreqFactors { factors } => vec![("rope_freqs", factors)],
            RopeScaling::LongRope {
                short_factor,
                long_factor,
                ..
            } => vec![("short_factor", short_factor), ("long_factor", long_factor)],
            _ => vec![],
        };
        for (key, f) in factors {
            if f.len() != r.rotary_dim / 2 || f.iter().any(|&x| !(x > 0.0)) {
                return Err(Error::invalid(
                    key,
                    format!(
                        "has {} factors, rotary_dim {} needs {} positive ones",
                        f.len(),
                        r.rotary_dim,
                        r.rotary_dim / 2
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn windows(c: &ModelConfig) -> Result<()> {
    for (i, l) in c.layers.iter().enumerate() {
        if let Some(w) = l.window {
            if w == 0 || w > c.context_len {
                return Err(Error::invalid(
                    "sliding_window",
                    format!(
                        "= {w} on layer {i} must be within 1..={} (context_len)",
                        c.context_len
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn moe(c: &ModelConfig) -> Result<()> {
    let uses_moe = c.layers.iter().any(|l| l.moe);
    let Some(m) = &c.ffn.moe else {
        if uses_moe {
            return Err(Error::invalid(
                "moe",
                "a layer is marked MoE but no MoE config is given",
            ));
        }
        return Ok(());
    };
    positive("n_experts", m.n_experts)?;
    positive("d_expert", m.d_expert)?;
    if m.top_k == 0 || m.top_k > m.n_experts {
        return Err(Error::invalid(
            "num_experts_per_tok",
            format!(
                "= {} must be within 1..={} (n_experts)",
                m.top_k, m.n_experts
            ),
        ));
    }
    if let Some(g) = m.router.group_limit() {
        let (n_groups, topk_groups) = (g.n_groups, g.keep);
        if n_groups == 0 || m.n_experts % n_groups != 0 {
            return Err(Error::invalid(
                "n_group",
                format!(
                    "= {n_groups} must divide n_routed_experts = {}",
                    m.n_experts
                ),
            ));
        }
        if topk_groups == 0 || topk_groups > n_groups {
            return Err(Error::invalid(
                "topk_group",
                format!("= {topk_groups} must be within 1..={n_groups} (n_group)"),
            ));
        }
        let per_group = m.n_experts / n_groups;
        if m.top_k > topk_groups * per_group {
            return Err(Error::invalid(
                "num_experts_per_tok",
                format!(
                    "= {} exceeds the {} experts in the selected groups",
                    m.top_k,
                    topk_groups * per_group
                ),
            ));
        }
    }
    Ok(())
}
