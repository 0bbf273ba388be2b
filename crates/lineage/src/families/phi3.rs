//! Phi-3: Llama with fused `qkv_proj` (`[q; k; v]` rows) and `gate_up_proj`
//! (`[gate; up]` rows), partial rotary and LongRoPE. HF `modeling_phi3.py`.

use super::common::{llama_like, llama_tensors};
use super::hf_config::HfConfig;
use super::tensor_map::TensorMap;
use super::Family;
use crate::config::ModelConfig;
use crate::Result;

pub struct Phi3;

impl Family for Phi3 {
    fn model_types(&self) -> &'static [&'static str] {
        &["phi3"]
    }

    fn config(&self, hf: &HfConfig) -> Result<ModelConfig> {
        llama_like(hf)
    }

    fn tensors(&self, cfg: &ModelConfig, _hf: &HfConfig, m: &mut TensorMap) -> Result<()> {
        llama_tensors(cfg, m, &[("post_attention_layernorm", "ffn_norm")])?;
        let a = &cfg.attention;
        let (q, kv) = (a.n_heads * a.head_dim, a.n_kv_heads * a.head_dim);
        for i in 0..cfg.n_layers() {
            let p = format!("model.layers.{i}");
            let qkv = m.take(&format!("{p}.self_attn.qkv_proj.weight"))?;
            let parts = TensorMap::split_rows(&qkv, &[q, kv, kv])?;
            for (t, n) in parts.into_iter().zip(["attn_q", "attn_k", "attn_v"]) {
                m.put(format!("blk.{i}.{n}.weight"), t);
            }
            let gu = m.take(&format!("{p}.mlp.gate_up_proj.weight"))?;
            let parts = TensorMap::split_rows(&gu, &[cfg.ffn.d_ff, cfg.ffn.d_ff])?;
            for (t, n) in parts.into_iter().zip(["ffn_gate", "ffn_up"]) {
                m.put(format!("blk.{i}.{n}.weight"), t);
            }
        }
        Ok(())
    }
}
