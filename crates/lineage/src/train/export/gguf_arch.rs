//! Which llama.cpp architecture computes a canonical config, and its `{arch}.*` metadata.
//! `llama` (RoPE on adjacent pairs, optional biases, Mixtral-style MoE), `qwen3` /
//! `qwen3moe` (per-head QK-norm, NeoX RoPE), `gpt2` (learned positions, LayerNorm, fused
//! qkv). Keys and types: convert_hf_to_gguf.py `set_gguf_parameters` (`TextModel`,
//! `LlamaModel`, `Qwen2MoeModel`, `GPT2Model`), gguf-py `constants.py`; what
//! `families::gguf::arch` reads back is the test.

use super::common::{check_common, is_windowed, rope, same_norms, unsupported, Target};
use crate::config::*;
use crate::weights::gguf::MetaValue;
use crate::Result;

const T: Target = Target::Gguf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgufArch {
    Llama,
    Qwen3,
    Qwen3Moe,
    Gpt2,
}

impl GgufArch {
    /// `general.architecture`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Qwen3 => "qwen3",
            Self::Qwen3Moe => "qwen3moe",
            Self::Gpt2 => "gpt2",
        }
    }

    /// The RoPE pair order llama.cpp applies for this arch (`LLAMA_ROPE_TYPE_NORM` / `NEOX`).
    pub fn pairing(self) -> RopePairing {
        match self {
            Self::Llama => RopePairing::Interleaved,
            _ => RopePairing::RotateHalf,
        }
    }
}

/// The llama.cpp architecture for `cfg`, or an error naming the component it lacks.
pub fn gguf_arch(cfg: &ModelConfig) -> Result<GgufArch> {
    check_common(cfg, T)?;
    if let Some(i) = (0..cfg.n_layers()).find(|&i| is_windowed(cfg, i)) {
        let why = "the llama/qwen3/gpt2 graphs attend to the whole context";
        return Err(unsupported(
            T,
            "layers[].window",
            format!("a sliding window on layer {i} ({why})"),
        ));
    }
    let moe = cfg.ffn.moe.is_some() && cfg.layers.iter().any(|l| l.moe);
    match cfg.position {
        Position::Learned => gpt2_arch(cfg, moe),
        _ => rope_arch(cfg, moe),
    }
}

/// `gpt2`: LayerNorm, tanh-GELU MLP, MHA with head_dim = d_model / n_heads.
fn gpt2_arch(cfg: &ModelConfig, moe: bool) -> Result<GgufArch> {
    let a = &cfg.attention;
    if !matches!(same_norms(cfg, T)?.kind, NormKind::LayerNorm { .. }) {
        let n = cfg.block.norm.kind;
        return Err(unsupported(
            T,
            "block.norm",
            format!("{n:?} with learned positions (gpt2 has LayerNorm)"),
        ));
    }
    if cfg.ffn.kind != FfnKind::Mlp(Activation::GeluTanh) {
        let k = cfg.ffn.kind;
        return Err(unsupported(
            T,
            "ffn.kind",
            format!("{k:?} with learned positions (gpt2 has a tanh-GELU MLP)"),
        ));
    }
    if a.n_kv_heads != a.n_heads
        || a.n_heads * a.head_dim != cfg.d_model
        || a.qk_norm.is_some()
        || moe
    {
        let what = "GQA, a free head_dim, QK-norm or MoE with learned positions (gpt2 has none)";
        return Err(unsupported(T, "attention", what));
    }
    Ok(GgufArch::Gpt2)
}

/// `llama` / `qwen3` / `qwen3moe`: RMSNorm, SwiGLU, RoPE.
fn rope_arch(cfg: &ModelConfig, moe: bool) -> Result<GgufArch> {
    let a = &cfg.attention;
    let r = rope(cfg, T)?;
    if same_norms(cfg, T)?.kind != (NormKind::RmsNorm { offset_one: false }) {
        let n = cfg.block.norm.kind;
        return Err(unsupported(
            T,
            "block.norm",
            format!("{n:?} with RoPE (llama/qwen3 have RMSNorm)"),
        ));
    }
    if cfg.ffn.kind != FfnKind::Glu(Activation::Silu) {
        let k = cfg.ffn.kind;
        return Err(unsupported(
            T,
            "ffn.kind",
            format!("{k:?} (llama/qwen3 have SwiGLU)"),
        ));
    }
    check_scaling(&r.scaling)?;
    if moe {
        check_moe(cfg)?;
    }
    match a.qk_norm {
        None => Ok(GgufArch::Llama),
        Some(QkNormScope::FullWidth) => Err(unsupported(T, "attention.qk_norm", "FullWidth")),
        Some(QkNormScope::PerHead) if a.bias != ProjBias::default() || cfg.ffn.bias => Err(
            unsupported(T, "attention.bias", "biases with QK-norm (qwen3 has none)"),
        ),
        Some(QkNormScope::PerHead) if moe => Ok(GgufArch::Qwen3Moe),
        Some(QkNormScope::PerHead) => Ok(GgufArch::Qwen3),
    }
}

fn check_scaling(s: &RopeScaling) -> Result<()> {
    match s {
        RopeScaling::None
        | RopeScaling::Linear { .. }
        | RopeScaling::Llama3 { .. }
        | RopeScaling::FreqFactors { .. } => Ok(()),
        RopeScaling::Yarn {
            factor,
            beta_fast,
            beta_slow,
            attention_factor,
            truncate,
            ..
        } => {
            let mscale = if *factor <= 1.0 {
                1.0
            } else {
                0.1 * factor.ln() + 1.0
            };
            if *beta_fast != 32.0
                || *beta_slow != 1.0
                || !truncate
                || (attention_factor - mscale).abs() > 1e-9
            {
                return Err(unsupported(T, "position.scaling", format!("{s:?} (llama.cpp's YaRN defaults are beta 32/1, attention factor 0.1 ln(factor) + 1 = {mscale}, truncated)")));
            }
            Ok(())
        }
        other => Err(unsupported(
            T,
            "position.scaling",
            format!("{other:?} (llama.cpp has none, linear, yarn and rope_freqs factors)"),
        )),
    }
}

fn check_moe(cfg: &ModelConfig) -> Result<()> {
    let m = cfg.ffn.moe.as_ref().expect("checked by the caller");
    if m.router != (Router::SoftmaxTopK { renormalize: true }) {
        return Err(unsupported(
            T,
            "ffn.moe.router",
            format!(
                "{:?} (llama/qwen3moe renormalise the softmax top-k)",
                m.router
            ),
        ));
    }
    if m.router_bias || m.expert_bias || m.n_shared_experts > 0 {
        return Err(unsupported(
            T,
            "ffn.moe",
            "router/expert biases or shared experts",
        ));
    }
    if cfg.layers.iter().any(|l| !l.moe) {
        return Err(unsupported(
            T,
            "layers[].moe",
            "dense layers between MoE layers (every layer is MoE in these graphs)",
        ));
    }
    Ok(())
}

/// `{arch}.*` hyperparameters plus `general.*` (without the tokenizer).
pub(super) fn arch_kvs(
    cfg: &ModelConfig,
    arch: GgufArch,
    file_type: u32,
    name: &str,
) -> Vec<(String, MetaValue)> {
    let a = &cfg.attention;
    let u = |v: usize| MetaValue::U32(v as u32);
    let key = |k: &str| format!("{}.{k}", arch.name());
    let mut kv: Vec<(String, MetaValue)> = vec![
        (
            "general.architecture".into(),
            MetaValue::String(arch.name().into()),
        ),
        ("general.name".into(), MetaValue::String(name.into())),
        ("general.file_type".into(), MetaValue::U32(file_type)),
        ("general.quantization_version".into(), MetaValue::U32(2)),
        (key("vocab_size"), u(cfg.vocab_size)),
        (key("context_length"), u(cfg.context_len)),
        (key("embedding_length"), u(cfg.d_model)),
        (key("block_count"), u(cfg.n_layers())),
        (key("attention.head_count"), u(a.n_heads)),
        (key("attention.head_count_kv"), u(a.n_kv_heads)),
    ];
    let moe = cfg
        .ffn
        .moe
        .as_ref()
        .filter(|_| cfg.layers.iter().any(|l| l.moe));
    // llama (Mixtral) has no expert length key: its experts use feed_forward_length.
    let ff = match (arch, moe) {
        (GgufArch::Llama, Some(m)) => m.d_expert,
        _ => cfg.ffn.d_ff,
    };
    kv.push((key("feed_forward_length"), u(ff)));
    if let Some(m) = moe {
        kv.push((key("expert_count"), u(m.n_experts)));
        kv.push((key("expert_used_count"), u(m.top_k)));
        if arch == GgufArch::Qwen3Moe {
            kv.push((key("expert_feed_forward_length"), u(m.d_expert)));
        }
    }
    let eps = MetaValue::F32(cfg.block.norm.eps as f32);
    if arch == GgufArch::Gpt2 {
        kv.push((key("attention.layer_norm_epsilon"), eps));
        return kv;
    }
    kv.push((key("attention.layer_norm_rms_epsilon"), eps));
    kv.push((key("attention.key_length"), u(a.head_dim)));
    kv.push((key("attention.value_length"), u(a.head_dim)));
    if let Position::Rope(r) = &cfg.position {
        kv.push((key("rope.freq_base"), MetaValue::F32(r.theta as f32)));
        kv.push((key("rope.dimension_count"), u(r.rotary_dim)));
        rope_scaling_kvs(&mut kv, &key, &r.scaling);
    }
    kv
}

fn rope_scaling_kvs(
    kv: &mut Vec<(String, MetaValue)>,
    key: &dyn Fn(&str) -> String,
    s: &RopeScaling,
) {
    let (ty, factor) = match s {
        RopeScaling::Linear { factor } => ("linear", *factor),
        RopeScaling::Yarn { factor, .. } => ("yarn", *factor),
        _ => return, // none, or the factors written as the `rope_freqs.weight` tensor
    };
    kv.push((key("rope.scaling.type"), MetaValue::String(ty.into())));
    kv.push((key("rope.scaling.factor"), MetaValue::F32(factor as f32)));
    if let RopeScaling::Yarn {
        original_max,
        beta_fast,
        beta_slow,
        ..
    } = s
    {
        kv.push((
            key("rope.scaling.original_context_length"),
            MetaValue::U32(*original_max as u32),
        ));
        kv.push((
            key("rope.scaling.yarn_beta_fast"),
            MetaValue::F32(*beta_fast as f32),
        ));
        kv.push((
            key("rope.scaling.yarn_beta_slow"),
            MetaValue::F32(*beta_slow as f32),
        ));
    }
}

/// llama.cpp's `rope_freqs.weight`: one divisor per rotated pair, for llama3 scaling
/// (convert_hf_to_gguf `LlamaModel.generate_extra_tensors`) or factors already given.
pub(super) fn rope_freqs(cfg: &ModelConfig) -> Option<Vec<f32>> {
    let Position::Rope(r) = &cfg.position else {
        return None;
    };
    match &r.scaling {
        RopeScaling::FreqFactors { factors } => Some(factors.iter().map(|&f| f as f32).collect()),
        RopeScaling::Llama3 {
            factor,
            low_freq_factor: low,
            high_freq_factor: high,
            original_max,
        } => {
            let old = *original_max as f64;
            let dim = r.rotary_dim;
            Some(
                (0..dim / 2)
                    .map(|i| {
                        let f = 1.0 / r.theta.powf((2 * i) as f64 / dim as f64);
                        let wl = 2.0 * std::f64::consts::PI / f;
                        if wl < old / high {
                            1.0
                        } else if wl > old / low {
                            *factor as f32
                        } else {
                            let s = (old / wl - low) / (high - low);
                            (1.0 / ((1.0 - s) / factor + s)) as f32
                        }
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}
