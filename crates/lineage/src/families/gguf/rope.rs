//! GGUF RoPE: `rope.scaling.*` keys and the precomputed factor tensors the converter
//! writes instead of keys (`rope_freqs` for llama3 scaling, `rope_factors_{short,long}`
//! for Phi-3 LongRoPE). Reference: llama.cpp `llama_model_base::load_hparams`,
//! `llama_model::get_rope_factors`, `llama_context` (YaRN attention factor).

use super::keys::Hp;
use crate::config::RopeScaling;
use crate::weights::gguf::GgufFile;
use crate::Result;

/// The scaling the file describes, for a model whose training context is `context_len`.
pub(super) fn scaling(hp: &Hp, file: &GgufFile, context_len: usize) -> Result<RopeScaling> {
    // llama.cpp: a factor without a type is linear (its default type), `scale_linear` is
    // the old name of the factor, and 0 means none.
    let factor = match hp.opt_f64("rope.scaling.factor")? {
        Some(f) => Some(f),
        None => hp.opt_f64("rope.scale_linear")?,
    }
    .filter(|&f| f != 0.0)
    .unwrap_or(1.0);
    let orig = hp
        .opt_usize("rope.scaling.original_context_length")?
        .unwrap_or(context_len);
    let attn_factor = hp.opt_f64("rope.scaling.attn_factor")?;
    if let Some(long) = longrope(hp, file, orig, attn_factor)? {
        return Ok(long);
    }
    if let Some(factors) = factor_tensor(file, "rope_freqs.weight")? {
        return Ok(RopeScaling::FreqFactors { factors });
    }
    let s = match hp.opt_str("rope.scaling.type")? {
        None | Some("linear") if factor == 1.0 => RopeScaling::None,
        None | Some("linear") => RopeScaling::Linear { factor },
        Some("none") => RopeScaling::None,
        Some("yarn") => yarn(hp, factor, orig)?,
        Some(other) => return Err(hp.unsupported("rope.scaling.type", other.into())),
    };
    let mut s = s;
    if let Some(a) = attn_factor.filter(|&a| a != 1.0) {
        let RopeScaling::Yarn {
            attention_factor, ..
        } = &mut s
        else {
            let msg = format!("{a} (only with YaRN or LongRoPE factors)");
            return Err(hp.unsupported("rope.scaling.attn_factor", msg));
        };
        *attention_factor *= a;
    }
    Ok(s)
}

fn yarn(hp: &Hp, factor: f64, original_max: usize) -> Result<RopeScaling> {
    for k in [
        "rope.scaling.yarn_ext_factor",
        "rope.scaling.yarn_attn_factor",
    ] {
        if let Some(v) = hp.opt_f64(k)? {
            return Err(hp.unsupported(k, v.to_string()));
        }
    }
    Ok(RopeScaling::Yarn {
        factor,
        original_max,
        beta_fast: hp.opt_f64("rope.scaling.yarn_beta_fast")?.unwrap_or(32.0),
        beta_slow: hp.opt_f64("rope.scaling.yarn_beta_slow")?.unwrap_or(1.0),
        attention_factor: if factor <= 1.0 {
            1.0
        } else {
            0.1 * factor.ln() + 1.0
        },
        truncate: true,
    })
}

/// Phi-3 LongRoPE: the converter writes the short and long factors as tensors and the
/// magnitude as `rope.scaling.attn_factor`. Short factors apply up to the original
/// context, long ones beyond it. llama.cpp picks one set per context *size*
/// (`n_ctx > original`); lineage picks per sequence length, as transformers does, so the
/// file computes the checkpoint's function.
fn longrope(
    hp: &Hp,
    file: &GgufFile,
    original_max: usize,
    attn_factor: Option<f64>,
) -> Result<Option<RopeScaling>> {
    let short = factor_tensor(file, "rope_factors_short.weight")?;
    let long = factor_tensor(file, "rope_factors_long.weight")?;
    match (short, long) {
        (None, None) => Ok(None),
        (Some(short_factor), Some(long_factor)) => Ok(Some(RopeScaling::LongRope {
            short_factor,
            long_factor,
            original_max,
            attention_factor: attn_factor.unwrap_or(1.0),
        })),
        _ => Err(hp.unsupported(
            "rope_factors_short/long",
            "only one of the two LongRoPE factor tensors".into(),
        )),
    }
}

/// A 1-D factor tensor as f64 values, if the file has it.
fn factor_tensor(file: &GgufFile, name: &str) -> Result<Option<Vec<f64>>> {
    let Ok(t) = file.tensor(name) else {
        return Ok(None);
    };
    let mut f = vec![0f32; t.n_elements() as usize];
    crate::kernels::quant::dequantize_row(name, t.ggml_type, file.tensor_bytes(name)?, &mut f)?;
    Ok(Some(f.into_iter().map(f64::from).collect()))
}
