//! What both export targets refuse alike: components that neither transformers' decoder
//! families nor llama.cpp's `llama`/`gpt2`/`qwen3` graphs compute, and the error that names
//! them.

use crate::config::{
    Activation, AttentionKind, ModelConfig, NormConfig, NormPlacement, Residual, Rope,
};
use crate::Error;
use crate::Result;

/// An export target, for error messages (`export --format hf: ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    Hf,
    Gguf,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Hf => "hf",
            Target::Gguf => "gguf",
        }
    }
}

/// `component` of the config has no equivalent in `target`; `what` says which value and why.
pub(super) fn unsupported(target: Target, component: &str, what: impl Into<String>) -> Error {
    Error::UnsupportedValue {
        family: format!("export --format {}", target.name()),
        key: component.to_string(),
        value: what.into(),
    }
}

/// Components no target family computes; checked before choosing a family.
pub(super) fn check_common(cfg: &ModelConfig, t: Target) -> Result<()> {
    let a = &cfg.attention;
    if let AttentionKind::Latent(_) = a.kind {
        return Err(unsupported(
            t,
            "attention.kind",
            "Latent (MLA is not exported)",
        ));
    }
    if let Some(cap) = a.softcap {
        return Err(unsupported(t, "attention.softcap", format!("{cap}")));
    }
    if a.sinks {
        return Err(unsupported(t, "attention.sinks", "true"));
    }
    if let Some(cap) = cfg.final_logit_softcap {
        return Err(unsupported(t, "final_logit_softcap", format!("{cap}")));
    }
    if let Some(s) = cfg.embedding.scale {
        return Err(unsupported(t, "embedding.scale", format!("{s}")));
    }
    if cfg.embedding.norm.is_some() {
        return Err(unsupported(t, "embedding.norm", "an embedding norm"));
    }
    if cfg.block.placement != NormPlacement::Pre {
        let p = cfg.block.placement;
        return Err(unsupported(
            t,
            "block.placement",
            format!("{p:?} (only pre-norm blocks are exported)"),
        ));
    }
    if let Residual::Parallel { .. } = cfg.block.residual {
        return Err(unsupported(
            t,
            "block.residual",
            "Parallel (only sequential blocks are exported)",
        ));
    }
    if cfg.layers.iter().any(|l| l.rope.is_some()) {
        return Err(unsupported(t, "layers[].rope", "a per-layer RoPE override"));
    }
    if let Some(s) = cfg.attention.scale {
        let default = (a.head_dim as f64).powf(-0.5);
        if (s - default).abs() > 1e-12 * default {
            return Err(unsupported(
                t,
                "attention.scale",
                format!("{s} (only head_dim^-0.5 = {default} is exported)"),
            ));
        }
    }
    Ok(())
}

/// The block and final norms must be the same function (one `*_eps` key in both formats).
pub(super) fn same_norms(cfg: &ModelConfig, t: Target) -> Result<NormConfig> {
    if cfg.block.norm != cfg.final_norm {
        return Err(unsupported(
            t,
            "final_norm",
            format!(
                "{:?} differs from the block norm {:?}",
                cfg.final_norm, cfg.block.norm
            ),
        ));
    }
    Ok(cfg.block.norm)
}

/// The one sliding window every windowed layer uses (None: no layer has one). Windows
/// that span the whole context are no windows.
pub(super) fn single_window(cfg: &ModelConfig, t: Target) -> Result<Option<usize>> {
    let mut found = None;
    for w in cfg.layers.iter().filter_map(|l| l.window) {
        if w >= cfg.context_len {
            continue;
        }
        match found {
            None => found = Some(w),
            Some(f) if f == w => {}
            Some(f) => {
                return Err(unsupported(
                    t,
                    "layers[].window",
                    format!("windows {f} and {w} (one sliding_window for all layers is exported)"),
                ))
            }
        }
    }
    Ok(found)
}

/// Whether layer `i` attends through a window shorter than the context.
pub(super) fn is_windowed(cfg: &ModelConfig, i: usize) -> bool {
    cfg.layers[i].window.is_some_and(|w| w < cfg.context_len)
}

/// The model's RoPE, or an error naming the position encoding.
pub(super) fn rope(cfg: &ModelConfig, t: Target) -> Result<&Rope> {
    match &cfg.position {
        crate::config::Position::Rope(r) => Ok(r),
        other => Err(unsupported(
            t,
            "position",
            format!("{other:?} here (this family needs RoPE)"),
        )),
    }
}

/// HF `hidden_act` / `activation_function` spelling of an activation.
pub(super) fn hf_act(a: Activation) -> &'static str {
    match a {
        Activation::Gelu => "gelu",
        Activation::GeluTanh => "gelu_pytorch_tanh",
        Activation::Silu => "silu",
        Activation::Relu => "relu",
    }
}
