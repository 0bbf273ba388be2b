//! Softmax-routed MoE families: Mixtral (every layer sparse) and Qwen3-MoE / Qwen2-MoE
//! (`decoder_sparse_step`, `mlp_only_layers`, `norm_topk_prob`).
//! HF `modeling_mixtral.py`, `modeling_qwen3_moe.py`.

use super::common::{llama_like, llama_tensors};
use super::hf_config::HfConfig;
use super::tensor_map::TensorMap;
use super::Family;
use crate::config::*;
use crate::Result;

pub struct SoftmaxMoe;

impl Family for SoftmaxMoe {
    fn model_types(&self) -> &'static [&'static str] {
        &["mixtral", "qwen3_moe"]
    }

    fn config(&self, hf: &HfConfig) -> Result<ModelConfig> {
        let mut c = llama_like(hf)?;
        let mixtral = hf.family == "mixtral";
        let n_experts = hf.usize_any(&["num_local_experts", "num_experts"])?;
        let d_expert = if mixtral {
            c.ffn.d_ff
        } else {
            hf.usize("moe_intermediate_size")?
        };
        c.ffn.moe = Some(MoeConfig {
            n_experts,
            top_k: hf.usize("num_experts_per_tok")?,
            d_expert,
            router: Router::SoftmaxTopK {
                renormalize: mixtral || hf.bool_or("norm_topk_prob", false)?,
            },
            router_bias: false,
            expert_bias: false,
            n_shared_experts: 0,
        });
        if !mixtral {
            c.attention.qk_norm = Some(QkNormScope::PerHead);
        }
        let step = hf.opt_usize("decoder_sparse_step")?.unwrap_or(1).max(1);
        let dense_only = dense_layers(hf)?;
        for (i, l) in c.layers.iter_mut().enumerate() {
            l.moe = !dense_only.contains(&i) && (i + 1) % step == 0;
        }
        Ok(c)
    }

    fn tensors(&self, cfg: &ModelConfig, _hf: &HfConfig, m: &mut TensorMap) -> Result<()> {
        llama_tensors(cfg, m, &[("post_attention_layernorm", "ffn_norm")])?;
        let moe = cfg.ffn.moe.as_ref().expect("set in config");
        let mixtral = cfg.family == "mixtral";
        let (router, experts) = if mixtral {
            ("block_sparse_moe.gate", "block_sparse_moe.experts")
        } else {
            ("mlp.gate", "mlp.experts")
        };
        let names = if mixtral {
            ["w1", "w3", "w2"]
        } else {
            ["gate_proj", "up_proj", "down_proj"]
        };
        for i in (0..cfg.n_layers()).filter(|&i| cfg.layers[i].moe) {
            let p = format!("model.layers.{i}");
            m.rename_wb(&format!("{p}.{router}"), &format!("blk.{i}.ffn_gate_inp"))?;
            for (hf, canon) in names
                .iter()
                .zip(["ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"])
            {
                m.stack_experts(
                    &format!("{p}.{experts}"),
                    hf,
                    moe.n_experts,
                    &format!("blk.{i}.{canon}.weight"),
                )?;
            }
        }
        Ok(())
    }
}

fn dense_layers(hf: &HfConfig) -> Result<Vec<usize>> {
    let Some(v) = hf.value("mlp_only_layers") else {
        return Ok(Vec::new());
    };
    let arr = v.as_array().ok_or_else(|| hf.bad("mlp_only_layers", v))?;
    arr.iter()
        .map(|x| {
            x.as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| hf.bad("mlp_only_layers", v))
        })
        .collect()
}
