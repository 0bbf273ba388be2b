//! Gemma 2 and Gemma 3 (text): `(1+w)` RMSNorm, sandwich norms, GeGLU, sqrt(d) embedding
//! scale, `query_pre_attn_scalar`, soft-caps (2), QK-norm and per-layer-type RoPE (3).
//! HF `modeling_gemma2.py`, `modeling_gemma3.py`.

use super::common::{activation, llama_like, llama_tensors, tied};
use super::hf_config::HfConfig;
use super::rope_params::RopeParams;
use super::tensor_map::TensorMap;
use super::Family;
use crate::config::*;
use crate::Result;

pub struct Gemma;

impl Family for Gemma {
    fn model_types(&self) -> &'static [&'static str] {
        &["gemma", "gemma2", "gemma3_text"]
    }

    fn config(&self, hf: &HfConfig) -> Result<ModelConfig> {
        let mut c = llama_like(hf)?;
        c.block.norm.kind = NormKind::RmsNorm { offset_one: true };
        c.final_norm = c.block.norm;
        c.block.placement = if hf.family == "gemma" {
            NormPlacement::Pre
        } else {
            NormPlacement::Sandwich
        };
        let act = hf
            .opt_str("hidden_activation")?
            .unwrap_or("gelu_pytorch_tanh");
        c.ffn.kind = FfnKind::Glu(activation(hf, "hidden_activation", act)?);
        // HF multiplies by sqrt(d) cast to the weight dtype.
        c.embedding.scale = Some(round_to_precision((c.d_model as f64).sqrt(), c.precision));
        c.embedding.tied_lm_head = tied(hf, true)?;
        if let Some(s) = hf.opt_f64("query_pre_attn_scalar")? {
            c.attention.scale = Some(s.powf(-0.5));
        }
        c.attention.softcap = hf.opt_f64("attn_logit_softcapping")?;
        c.final_logit_softcap = hf.opt_f64("final_logit_softcapping")?;
        if hf.family == "gemma3_text" {
            c.attention.qk_norm = Some(QkNormScope::PerHead);
            local_global_rope(hf, &mut c)?;
        }
        Ok(c)
    }

    fn tensors(&self, cfg: &ModelConfig, _hf: &HfConfig, m: &mut TensorMap) -> Result<()> {
        llama_tensors(
            cfg,
            m,
            &[
                ("post_attention_layernorm", "attn_post_norm"),
                ("pre_feedforward_layernorm", "ffn_norm"),
                ("post_feedforward_layernorm", "ffn_post_norm"),
            ],
        )
    }
}

/// Gemma 3: full layers use `rope_parameters.full_attention` (legacy: `rope_theta` +
/// `rope_scaling`), sliding layers `sliding_attention` (legacy: `rope_local_base_freq`).
fn local_global_rope(hf: &HfConfig, c: &mut ModelConfig) -> Result<()> {
    let params = RopeParams::from_config(hf)?;
    let (hd, ctx, pair) = (c.attention.head_dim, c.context_len, RopePairing::RotateHalf);
    let (global, local) = match (
        params.sub("full_attention"),
        params.sub("sliding_attention"),
    ) {
        (Some(g), Some(l)) => (g.rope(hd, ctx, pair)?, l.rope(hd, ctx, pair)?),
        _ => {
            let global = params.rope(hd, ctx, pair)?;
            let theta = hf.opt_f64("rope_local_base_freq")?.unwrap_or(10000.0);
            let local = Rope {
                theta,
                scaling: RopeScaling::None,
                ..global.clone()
            };
            (global, local)
        }
    };
    c.position = Position::Rope(global);
    for l in c.layers.iter_mut().filter(|l| l.window.is_some()) {
        l.rope = Some(local.clone());
    }
    Ok(())
}

fn round_to_precision(v: f64, p: Precision) -> f64 {
    match p {
        Precision::Bf16 => half::bf16::from_f64(v).to_f64(),
        Precision::F16 => half::f16::from_f64(v).to_f64(),
        _ => v as f32 as f64,
    }
}
