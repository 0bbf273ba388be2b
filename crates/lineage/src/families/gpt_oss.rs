//! gpt-oss: alternating sliding/full attention with sinks, q/k/v/o biases, top-k-then-
//! softmax routing with router bias, clamped interleaved SwiGLU experts with biases, YaRN;
//! experts as dense `[E, in, out]` tensors or MXFP4 `*_blocks`/`*_scales`.
//! HF `modeling_gpt_oss.py`, `integrations/mxfp4.py`.

use super::common::{llama_like, llama_tensors};
use super::hf_config::HfConfig;
use super::tensor_map::{deinterleave_last, TensorMap};
use super::Family;
use crate::config::*;
use crate::Result;

pub struct GptOss;

impl Family for GptOss {
    fn model_types(&self) -> &'static [&'static str] {
        &["gpt_oss"]
    }

    fn config(&self, hf: &HfConfig) -> Result<ModelConfig> {
        let mut c = llama_like(hf)?;
        c.attention.sinks = true;
        // Trained on harmony; its Jinja template is a rendering of the same format.
        c.chat = ChatFormat::Harmony;
        c.ffn.kind = FfnKind::ClampedSwiGlu {
            alpha: hf.opt_f64("swiglu_alpha")?.unwrap_or(1.702),
            limit: hf.opt_f64("swiglu_limit")?.unwrap_or(7.0),
        };
        c.ffn.moe = Some(MoeConfig {
            n_experts: hf.usize_any(&["num_local_experts", "num_experts"])?,
            top_k: hf.usize_any(&["num_experts_per_tok", "experts_per_token"])?,
            d_expert: c.ffn.d_ff,
            router: Router::TopKSoftmax,
            router_bias: true,
            expert_bias: true,
            n_shared_experts: 0,
        });
        for l in c.layers.iter_mut() {
            l.moe = true;
        }
        if let Some(q) = hf.value("quantization_config") {
            let method = q.get("quant_method").and_then(|m| m.as_str()).unwrap_or("");
            if method != "mxfp4" {
                return Err(
                    hf.unsupported("quantization_config.quant_method", format!("\"{method}\""))
                );
            }
        }
        Ok(c)
    }

    fn tensors(&self, cfg: &ModelConfig, _hf: &HfConfig, m: &mut TensorMap) -> Result<()> {
        let table = [
            ("post_attention_layernorm", "ffn_norm"),
            ("mlp.router", "ffn_gate_inp"),
        ];
        llama_tensors(cfg, m, &table)?;
        for i in 0..cfg.n_layers() {
            let p = format!("model.layers.{i}");
            m.rename(
                &format!("{p}.self_attn.sinks"),
                &format!("blk.{i}.attn_sinks.weight"),
            )?;
            experts(m, &format!("{p}.mlp.experts"), i)?;
        }
        Ok(())
    }
}

/// `gate_up_proj` columns (dense, `[E, in, 2I]`) or rows (MXFP4, `[E, 2I, in]`)
/// alternate gate/up; split them into canonical `[E, out, in]` stacks.
fn experts(m: &mut TensorMap, p: &str, i: usize) -> Result<()> {
    let bias = m.take(&format!("{p}.gate_up_proj_bias"))?;
    let (gb, ub) = deinterleave_last(&bias)?;
    m.put(format!("blk.{i}.ffn_gate_exps.bias"), gb);
    m.put(format!("blk.{i}.ffn_up_exps.bias"), ub);
    m.rename(
        &format!("{p}.down_proj_bias"),
        &format!("blk.{i}.ffn_down_exps.bias"),
    )?;
    if m.has(&format!("{p}.gate_up_proj_blocks")) {
        m.take_mxfp4(
            &format!("{p}.gate_up_proj"),
            &format!("blk.{i}.ffn_gate_up_exps.weight"),
        )?;
        m.split_mxfp4_rows(
            &format!("blk.{i}.ffn_gate_up_exps.weight"),
            [
                format!("blk.{i}.ffn_gate_exps.weight"),
                format!("blk.{i}.ffn_up_exps.weight"),
            ],
        )?;
        return m.take_mxfp4(
            &format!("{p}.down_proj"),
            &format!("blk.{i}.ffn_down_exps.weight"),
        );
    }
    let gu = m.take(&format!("{p}.gate_up_proj"))?;
    let (g, u) = deinterleave_last(&gu)?;
    m.put(
        format!("blk.{i}.ffn_gate_exps.weight"),
        g.transpose(1, 2)?.contiguous()?,
    );
    m.put(
        format!("blk.{i}.ffn_up_exps.weight"),
        u.transpose(1, 2)?.contiguous()?,
    );
    let down = m.take(&format!("{p}.down_proj"))?;
    m.put(
        format!("blk.{i}.ffn_down_exps.weight"),
        down.transpose(1, 2)?.contiguous()?,
    );
    Ok(())
}
