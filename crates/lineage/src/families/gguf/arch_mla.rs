//! GGUF `deepseek2` metadata -> multi-head latent attention and the sigmoid grouped
//! router. Reference: llama.cpp `src/models/deepseek2.cpp` (hparams, `kq_scale`),
//! `src/llama-context.cpp` (YaRN attention factor), `convert_hf_to_gguf.py`
//! `DeepseekV2Model` (keys written). The HF side is `families/deepseek.rs`.

use super::keys::Hp;
use crate::config::*;
use crate::weights::gguf::GgufFile;
use crate::{Error, Result};

/// llama.cpp `LLAMA_EXPERT_GATING_FUNC_TYPE_{SOFTMAX,SIGMOID}`.
const GATING_SOFTMAX: usize = 1;
const GATING_SIGMOID: usize = 2;

/// DeepSeek-V2/V3. Files written since llama.cpp's MLA rework store the MQA form
/// (`key_length` = kv_lora_rank + rope dims) and put the per-head sizes in
/// `key_length_mla` / `value_length_mla`; older files have only `key_length` /
/// `value_length` with the per-head sizes.
pub(super) fn deepseek2(hp: &Hp, c: &mut ModelConfig, file: &GgufFile) -> Result<()> {
    let head_k = match hp.opt_usize("attention.key_length_mla")? {
        Some(k) => k,
        None => hp.usize("attention.key_length")?,
    };
    // In the MQA form `value_length` is the latent width (kv_lora_rank): implied.
    let value_length = hp.opt_usize("attention.value_length")?;
    let head_v = match hp.opt_usize("attention.value_length_mla")? {
        Some(v) => v,
        None => {
            value_length.ok_or_else(|| hp.unsupported("attention.value_length", "absent".into()))?
        }
    };
    let rope_dim = hp.usize("rope.dimension_count")?;
    let nope = head_k
        .checked_sub(rope_dim)
        .ok_or_else(|| Error::UnsupportedValue {
            family: hp.arch.clone(),
            key: hp.key("rope.dimension_count"),
            value: format!("{rope_dim} > key length {head_k}"),
        })?;
    let mla = MlaConfig {
        q_lora_rank: hp.opt_usize("attention.q_lora_rank")?.filter(|&r| r > 0),
        kv_lora_rank: hp.usize("attention.kv_lora_rank")?,
        qk_nope_head_dim: nope,
        qk_rope_head_dim: rope_dim,
        v_head_dim: head_v,
    };
    c.attention.head_dim = head_k;
    c.attention.n_kv_heads = c.attention.n_heads; // the file's 1 is the absorbed MQA form
    c.attention.kind = AttentionKind::Latent(mla);
    c.attention.scale = Some((head_k as f64).powf(-0.5) * yarn_mscale(hp, c)?.powi(2));
    let correction =
        (0..c.n_layers()).any(|i| file.tensor(&format!("blk.{i}.exp_probs_b.bias")).is_ok());
    router(hp, c, correction)?;
    let dense = hp.opt_usize("leading_dense_block_count")?.unwrap_or(0);
    for (i, l) in c.layers.iter_mut().enumerate() {
        l.moe = c.ffn.moe.is_some() && i >= dense;
    }
    Ok(())
}

/// YaRN magnitude for DeepSeek: llama.cpp cancels the rotary mscale (its
/// `yarn_attn_factor` is `get_mscale(f, m) / get_mscale(f, m)` = 1 for deepseek2) and
/// instead scales the scores by `mscale²`, `mscale = 1 + 0.1·m·ln(factor)`, with
/// `m` = `rope.scaling.yarn_log_multiplier / 0.1` (the converter writes `0.1 ·
/// mscale_all_dim`; llama.cpp divides it back, TAG_DEEPSEEK2_YARN_LOG_MUL_FIX). This is
/// HF's `(0.1·mscale_all_dim·ln f + 1)²` when `mscale == mscale_all_dim`.
fn yarn_mscale(hp: &Hp, c: &mut ModelConfig) -> Result<f64> {
    let Position::Rope(rope) = &mut c.position else {
        return Ok(1.0);
    };
    let RopeScaling::Yarn {
        factor,
        attention_factor,
        ..
    } = &mut rope.scaling
    else {
        return Ok(1.0);
    };
    *attention_factor = 1.0;
    let m = hp
        .opt_f64("rope.scaling.yarn_log_multiplier")?
        .unwrap_or(0.0)
        / 0.1;
    Ok(if *factor <= 1.0 {
        1.0
    } else {
        1.0 + 0.1 * m * factor.ln()
    })
}

/// The router. llama.cpp reads a missing `expert_gating_func` as softmax: the DeepSeek-V2
/// and V2.5 files written before the key existed.
fn router(hp: &Hp, c: &mut ModelConfig, correction_bias: bool) -> Result<()> {
    let Some(moe) = c.ffn.moe.as_mut() else {
        return Ok(());
    };
    let n_groups = hp.opt_usize("expert_group_count")?.unwrap_or(1).max(1);
    let topk_groups = hp.opt_usize("expert_group_used_count")?.unwrap_or(1).max(1);
    let normalize = hp.opt_bool("expert_weights_norm")?.unwrap_or(false);
    let scaling = hp.opt_f64("expert_weights_scale")?.unwrap_or(1.0);
    moe.router = match hp
        .opt_usize("expert_gating_func")?
        .unwrap_or(GATING_SOFTMAX)
    {
        GATING_SOFTMAX => Router::SoftmaxGrouped {
            n_groups,
            topk_groups,
            normalize,
            scaling,
            correction_bias,
            group_score: GroupScore::Top2Sum,
        },
        GATING_SIGMOID => Router::SigmoidGrouped {
            n_groups,
            topk_groups,
            normalize,
            scaling,
            group_score: GroupScore::Top2Sum,
        },
        other => {
            return Err(Error::UnsupportedValue {
                family: hp.arch.clone(),
                key: hp.key("expert_gating_func"),
                value: format!("{other} (1 = softmax and 2 = sigmoid are supported)"),
            })
        }
    };
    moe.n_shared_experts = hp.opt_usize("expert_shared_count")?.unwrap_or(0);
    Ok(())
}
