//! Which transformers family computes a canonical config, decided from its components
//! (never from `cfg.family`): learned positions, LayerNorm and a plain MLP is GPT-2; RoPE,
//! RMSNorm and a gated MLP is Llama, or Mistral with a sliding window, Qwen2 with q/k/v-only
//! biases, Qwen3 with per-head QK-norm; softmax top-k MoE is Mixtral (Qwen3-MoE with QK-norm).
//! References: transformers `modeling_{gpt2,llama,mistral,qwen2,qwen3,mixtral,qwen3_moe}.py`.

use super::common::{check_common, rope, same_norms, single_window, unsupported, Target};
use crate::config::*;
use crate::Result;

const T: Target = Target::Hf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HfFamily {
    Gpt2,
    Llama,
    Mistral,
    Qwen2,
    Qwen3,
    Mixtral,
    Qwen3Moe,
}

impl HfFamily {
    /// config.json `model_type`.
    pub fn model_type(self) -> &'static str {
        match self {
            Self::Gpt2 => "gpt2",
            Self::Llama => "llama",
            Self::Mistral => "mistral",
            Self::Qwen2 => "qwen2",
            Self::Qwen3 => "qwen3",
            Self::Mixtral => "mixtral",
            Self::Qwen3Moe => "qwen3_moe",
        }
    }

    /// config.json `architectures[0]`.
    pub fn architecture(self) -> &'static str {
        match self {
            Self::Gpt2 => "GPT2LMHeadModel",
            Self::Llama => "LlamaForCausalLM",
            Self::Mistral => "MistralForCausalLM",
            Self::Qwen2 => "Qwen2ForCausalLM",
            Self::Qwen3 => "Qwen3ForCausalLM",
            Self::Mixtral => "MixtralForCausalLM",
            Self::Qwen3Moe => "Qwen3MoeForCausalLM",
        }
    }
}

/// The HF family that computes `cfg`, or an error naming the component none has.
pub fn hf_family(cfg: &ModelConfig) -> Result<HfFamily> {
    check_common(cfg, T)?;
    match cfg.position {
        Position::Learned => gpt2(cfg),
        Position::Rope(_) => llama_like(cfg),
        Position::Alibi => Err(unsupported(
            T,
            "position",
            "Alibi (BLOOM/MPT are not exported)",
        )),
        Position::None => Err(unsupported(
            T,
            "position",
            "None (no HF decoder family is NoPE)",
        )),
    }
}

/// GPT-2: LayerNorm, plain MLP, MHA with head_dim = d_model / n_heads, no windows, no MoE.
/// Biases the config lacks are written as zeros (GPT-2 always has them; same function).
fn gpt2(cfg: &ModelConfig) -> Result<HfFamily> {
    let a = &cfg.attention;
    if !matches!(same_norms(cfg, T)?.kind, NormKind::LayerNorm { .. }) {
        return Err(unsupported(
            T,
            "block.norm",
            "RmsNorm with learned positions (GPT-2 has LayerNorm)",
        ));
    }
    if !matches!(cfg.ffn.kind, FfnKind::Mlp(_)) {
        let k = cfg.ffn.kind;
        return Err(unsupported(
            T,
            "ffn.kind",
            format!("{k:?} with learned positions (GPT-2 has a plain MLP)"),
        ));
    }
    if a.n_kv_heads != a.n_heads {
        return Err(unsupported(
            T,
            "attention.n_kv_heads",
            format!(
                "{} < n_heads {} (GPT-2 has no GQA)",
                a.n_kv_heads, a.n_heads
            ),
        ));
    }
    if a.n_heads * a.head_dim != cfg.d_model {
        return Err(unsupported(
            T,
            "attention.head_dim",
            format!(
                "{} (GPT-2 needs d_model / n_heads = {})",
                a.head_dim,
                cfg.d_model / a.n_heads
            ),
        ));
    }
    if a.qk_norm.is_some() {
        return Err(unsupported(
            T,
            "attention.qk_norm",
            "QK-norm with learned positions",
        ));
    }
    if cfg.ffn.moe.is_some() && cfg.layers.iter().any(|l| l.moe) {
        return Err(unsupported(T, "ffn.moe", "MoE with learned positions"));
    }
    if single_window(cfg, T)?.is_some() {
        return Err(unsupported(
            T,
            "layers[].window",
            "a sliding window with learned positions",
        ));
    }
    Ok(HfFamily::Gpt2)
}

/// RoPE + RMSNorm + GLU families.
fn llama_like(cfg: &ModelConfig) -> Result<HfFamily> {
    let r = rope(cfg, T)?;
    let a = &cfg.attention;
    if same_norms(cfg, T)?.kind != (NormKind::RmsNorm { offset_one: false }) {
        let n = cfg.block.norm.kind;
        return Err(unsupported(
            T,
            "block.norm",
            format!("{n:?} with RoPE (Llama-style families have RMSNorm)"),
        ));
    }
    if !matches!(cfg.ffn.kind, FfnKind::Glu(_)) {
        let k = cfg.ffn.kind;
        return Err(unsupported(
            T,
            "ffn.kind",
            format!("{k:?} with RoPE (Llama-style families have a gated MLP)"),
        ));
    }
    if r.rotary_dim != a.head_dim {
        return Err(unsupported(
            T,
            "position.rotary_dim",
            format!(
                "{} < head_dim {} (partial RoPE is not in these families)",
                r.rotary_dim, a.head_dim
            ),
        ));
    }
    if let RopeScaling::FreqFactors { .. } = r.scaling {
        return Err(unsupported(
            T,
            "position.scaling",
            "FreqFactors (llama.cpp rope_freqs) has no HF rope_type",
        ));
    }
    let qk_norm = match a.qk_norm {
        None => false,
        Some(QkNormScope::PerHead) => true,
        Some(QkNormScope::FullWidth) => {
            return Err(unsupported(
                T,
                "attention.qk_norm",
                "FullWidth (OLMo 2 is not exported)",
            ))
        }
    };
    if cfg.ffn.moe.is_some() && cfg.layers.iter().any(|l| l.moe) {
        return moe(cfg, qk_norm);
    }
    dense(cfg, qk_norm)
}

fn dense(cfg: &ModelConfig, qk_norm: bool) -> Result<HfFamily> {
    let b = cfg.attention.bias;
    let uniform = b == ProjBias::all(b.q);
    let qkv_only = b
        == (ProjBias {
            q: true,
            k: true,
            v: true,
            o: false,
        });
    if !uniform && !qkv_only {
        return Err(unsupported(
            T,
            "attention.bias",
            format!("{b:?} (HF has all four, none, or q/k/v only)"),
        ));
    }
    let windowed = single_window(cfg, T)?.is_some();
    let all_windowed = (0..cfg.n_layers()).all(|i| super::common::is_windowed(cfg, i));
    let fam = if qk_norm {
        if !uniform {
            return Err(unsupported(
                T,
                "attention.bias",
                "q/k/v-only biases with QK-norm (Qwen3 has attention_bias for all four)",
            ));
        }
        HfFamily::Qwen3
    } else if qkv_only {
        HfFamily::Qwen2
    } else if windowed {
        if b.q {
            return Err(unsupported(
                T,
                "attention.bias",
                "biases with a sliding window (Mistral has none)",
            ));
        }
        if !all_windowed {
            return Err(unsupported(T, "layers[].window", "windows on some layers only, without QK-norm or q/k/v biases (Mistral windows every layer)"));
        }
        HfFamily::Mistral
    } else {
        HfFamily::Llama
    };
    if cfg.ffn.bias && fam != HfFamily::Llama {
        return Err(unsupported(
            T,
            "ffn.bias",
            format!(
                "true ({} has no mlp_bias; Llama has, without windows/QK-norm)",
                fam.model_type()
            ),
        ));
    }
    Ok(fam)
}

fn moe(cfg: &ModelConfig, qk_norm: bool) -> Result<HfFamily> {
    let renormalize = moe_parts(cfg)?;
    let b = cfg.attention.bias;
    if b != ProjBias::all(b.q) {
        return Err(unsupported(
            T,
            "attention.bias",
            format!("{b:?} (Mixtral has none, Qwen3-MoE all four or none)"),
        ));
    }
    let all_windowed = (0..cfg.n_layers()).all(|i| super::common::is_windowed(cfg, i));
    if single_window(cfg, T)?.is_some() && !all_windowed {
        return Err(unsupported(
            T,
            "layers[].window",
            "windows on some layers only (Mixtral and Qwen3-MoE window every layer)",
        ));
    }
    if qk_norm {
        return Ok(HfFamily::Qwen3Moe);
    }
    if !renormalize {
        return Err(unsupported(
            T,
            "ffn.moe.router",
            "SoftmaxTopK without renormalisation and without QK-norm (Mixtral renormalises)",
        ));
    }
    if b.q {
        return Err(unsupported(T, "attention.bias", "true (Mixtral has none)"));
    }
    if cfg.layers.iter().any(|l| !l.moe) {
        return Err(unsupported(
            T,
            "layers[].moe",
            "dense layers between MoE layers without QK-norm (Mixtral is MoE in every layer)",
        ));
    }
    Ok(HfFamily::Mixtral)
}

/// The MoE components both families share; returns whether the router renormalises.
fn moe_parts(cfg: &ModelConfig) -> Result<bool> {
    let m = cfg.ffn.moe.as_ref().expect("checked by the caller");
    let Router::SoftmaxTopK { renormalize } = m.router else {
        let r = &m.router;
        return Err(unsupported(
            T,
            "ffn.moe.router",
            format!("{r:?} (softmax top-k is exported)"),
        ));
    };
    for (key, on) in [
        ("ffn.moe.router_bias", m.router_bias),
        ("ffn.moe.expert_bias", m.expert_bias),
        ("ffn.bias", cfg.ffn.bias),
    ] {
        if on {
            return Err(unsupported(
                T,
                key,
                "true (Mixtral / Qwen3-MoE have no such bias)",
            ));
        }
    }
    if m.n_shared_experts > 0 {
        return Err(unsupported(
            T,
            "ffn.moe.n_shared_experts",
            format!("{}", m.n_shared_experts),
        ));
    }
    Ok(renormalize)
}
