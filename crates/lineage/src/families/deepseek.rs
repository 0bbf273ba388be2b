//! DeepSeek-V2/V2.5 and V3: multi-head latent attention (optional q LoRA, compressed KV,
//! decoupled interleaved RoPE key, YaRN with mscale) and group-limited MoE with shared
//! experts and first-k dense layers. The two differ only in the router: V3 is sigmoid
//! with a correction bias, V2 softmax. HF `modeling_deepseek_v3.py`,
//! `modeling_deepseek_v2.py`.

use super::common::{llama_like, llama_tensors};
use super::hf_config::HfConfig;
use super::rope_params::RopeParams;
use super::tensor_map::TensorMap;
use super::Family;
use crate::config::*;
use crate::Result;

pub struct DeepSeek;

impl Family for DeepSeek {
    fn model_types(&self) -> &'static [&'static str] {
        &["deepseek_v3", "deepseek_v2"]
    }

    fn config(&self, hf: &HfConfig) -> Result<ModelConfig> {
        let mut c = llama_like(hf)?;
        let mla = MlaConfig {
            q_lora_rank: hf.opt_usize("q_lora_rank")?,
            kv_lora_rank: hf.usize("kv_lora_rank")?,
            qk_nope_head_dim: hf.usize("qk_nope_head_dim")?,
            qk_rope_head_dim: hf.usize("qk_rope_head_dim")?,
            v_head_dim: hf.usize("v_head_dim")?,
        };
        hf.value("qk_head_dim");
        let params = RopeParams::from_config(hf)?;
        // HF V2 always interleaves (complex-number RoPE); only V3 reads the key.
        let v2 = hf.family == "deepseek_v2";
        let pairing = if v2 || hf.bool_or("rope_interleave", true)? {
            RopePairing::Interleaved
        } else {
            RopePairing::RotateHalf
        };
        let rope = params.rope(mla.qk_rope_head_dim, c.context_len, pairing)?;
        c.position = Position::Rope(rope);
        let mut scale = ((mla.qk_nope_head_dim + mla.qk_rope_head_dim) as f64).powf(-0.5);
        if let Some((factor, m)) = params.mscale_all_dim()? {
            let ms = if factor <= 1.0 {
                1.0
            } else {
                0.1 * m * factor.ln() + 1.0
            };
            scale *= ms * ms;
        }
        c.attention.scale = Some(scale);
        c.attention.head_dim = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
        c.attention.kind = AttentionKind::Latent(mla);
        c.ffn.moe = Some(moe(hf)?);
        let first_dense = hf.opt_usize("first_k_dense_replace")?.unwrap_or(0);
        let freq = hf.opt_usize("moe_layer_freq")?.unwrap_or(1).max(1);
        for (i, l) in c.layers.iter_mut().enumerate() {
            l.moe = i >= first_dense && i % freq == 0;
        }
        // The multi-token-prediction module is not part of the causal LM.
        hf.value("num_nextn_predict_layers");
        Ok(c)
    }

    fn tensors(&self, cfg: &ModelConfig, _hf: &HfConfig, m: &mut TensorMap) -> Result<()> {
        let table = [
            ("post_attention_layernorm", "ffn_norm"),
            ("self_attn.q_a_proj", "attn_q_a"),
            ("self_attn.q_a_layernorm", "attn_q_a_norm"),
            ("self_attn.q_b_proj", "attn_q_b"),
            ("self_attn.kv_a_proj_with_mqa", "attn_kv_a_mqa"),
            ("self_attn.kv_a_layernorm", "attn_kv_a_norm"),
            ("self_attn.kv_b_proj", "attn_kv_b"),
            ("mlp.gate", "ffn_gate_inp"),
            ("mlp.shared_experts.gate_proj", "ffn_gate_shexp"),
            ("mlp.shared_experts.up_proj", "ffn_up_shexp"),
            ("mlp.shared_experts.down_proj", "ffn_down_shexp"),
        ];
        llama_tensors(cfg, m, &table)?;
        let n = cfg.ffn.moe.as_ref().expect("set in config").n_experts;
        for i in (0..cfg.n_layers()).filter(|&i| cfg.layers[i].moe) {
            let p = format!("model.layers.{i}.mlp");
            m.rename(
                &format!("{p}.gate.e_score_correction_bias"),
                &format!("blk.{i}.exp_probs_b.bias"),
            )?;
            for (hf, canon) in [
                ("gate_proj", "ffn_gate_exps"),
                ("up_proj", "ffn_up_exps"),
                ("down_proj", "ffn_down_exps"),
            ] {
                m.stack_experts(
                    &format!("{p}.experts"),
                    hf,
                    n,
                    &format!("blk.{i}.{canon}.weight"),
                )?;
            }
        }
        Ok(())
    }
}

fn moe(hf: &HfConfig) -> Result<MoeConfig> {
    let v2 = hf.family == "deepseek_v2";
    let router = if v2 { v2_router(hf)? } else { v3_router(hf)? };
    // HF's defaults for an absent key differ: V2 builds 2 shared experts.
    let shared_default = if v2 { 2 } else { 0 };
    Ok(MoeConfig {
        n_experts: hf.usize("n_routed_experts")?,
        top_k: hf.usize("num_experts_per_tok")?,
        d_expert: hf.usize("moe_intermediate_size")?,
        router,
        router_bias: false,
        expert_bias: false,
        n_shared_experts: hf.opt_usize("n_shared_experts")?.unwrap_or(shared_default),
    })
}

/// HF `DeepseekV3TopkRouter`: sigmoid + correction bias, groups by top-2 sum.
fn v3_router(hf: &HfConfig) -> Result<Router> {
    if let Some(s) = hf.opt_str("scoring_func")? {
        if s != "sigmoid" {
            return Err(hf.unsupported("scoring_func", format!("\"{s}\"")));
        }
    }
    hf.value("topk_method");
    Ok(Router::SigmoidGrouped {
        n_groups: hf.opt_usize("n_group")?.unwrap_or(1),
        topk_groups: hf.opt_usize("topk_group")?.unwrap_or(1),
        normalize: hf.bool_or("norm_topk_prob", true)?,
        scaling: hf.opt_f64("routed_scaling_factor")?.unwrap_or(1.0),
        group_score: GroupScore::Top2Sum,
    })
}

/// HF `DeepseekV2TopkRouter`: softmax scores; "greedy" is the top-k of all experts,
/// "group_limited_greedy" first keeps the `topk_group` groups whose best expert scores
/// highest. The weights are the scores times `routed_scaling_factor`, never
/// renormalised: HF 5.x reads `norm_topk_prob` but does not use it (DeepSeek's own
/// remote code would renormalise instead of scaling; every released V2 sets it false).
fn v2_router(hf: &HfConfig) -> Result<Router> {
    if let Some(s) = hf.opt_str("scoring_func")? {
        if s != "softmax" {
            return Err(hf.unsupported("scoring_func", format!("\"{s}\"")));
        }
    }
    // Read even when unused, so that `inspect` does not list them as unknown.
    let groups = (hf.opt_usize("n_group")?, hf.opt_usize("topk_group")?);
    hf.value("norm_topk_prob");
    let (n_groups, topk_groups) = match hf.opt_str("topk_method")?.unwrap_or("greedy") {
        "greedy" => (1, 1),
        "group_limited_greedy" => match groups {
            (Some(n), Some(k)) => (n, k),
            (None, _) => return Err(hf.missing("n_group")),
            (_, None) => return Err(hf.missing("topk_group")),
        },
        other => {
            let v = format!("\"{other}\" (\"greedy\" and \"group_limited_greedy\" are supported)");
            return Err(hf.unsupported("topk_method", v));
        }
    };
    Ok(Router::SoftmaxGrouped {
        n_groups,
        topk_groups,
        normalize: false,
        scaling: hf.opt_f64("routed_scaling_factor")?.unwrap_or(1.0),
        correction_bias: false,
        group_score: GroupScore::Max,
    })
}
