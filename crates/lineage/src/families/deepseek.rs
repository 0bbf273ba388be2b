//! DeepSeek-V3: multi-head latent attention (q LoRA, compressed KV, decoupled interleaved
//! RoPE key, YaRN with mscale) and sigmoid group-limited MoE with shared experts and
//! first-k dense layers. HF `modeling_deepseek_v3.py`.

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
        &["deepseek_v3"]
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
        let pairing = if hf.bool_or("rope_interleave", true)? {
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
    if let Some(s) = hf.opt_str("scoring_func")? {
        if s != "sigmoid" {
            return Err(hf.unsupported("scoring_func", format!("\"{s}\"")));
        }
    }
    hf.value("topk_method");
    Ok(MoeConfig {
        n_experts: hf.usize("n_routed_experts")?,
        top_k: hf.usize("num_experts_per_tok")?,
        d_expert: hf.usize("moe_intermediate_size")?,
        router: Router::SigmoidGrouped {
            n_groups: hf.opt_usize("n_group")?.unwrap_or(1),
            topk_groups: hf.opt_usize("topk_group")?.unwrap_or(1),
            normalize: hf.bool_or("norm_topk_prob", true)?,
            scaling: hf.opt_f64("routed_scaling_factor")?.unwrap_or(1.0),
            group_score: GroupScore::Top2Sum,
        },
        router_bias: false,
        expert_bias: false,
        n_shared_experts: hf.opt_usize("n_shared_experts")?.unwrap_or(0),
    })
}
