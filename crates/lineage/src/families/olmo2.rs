//! OLMo 2: Llama with norms after each sublayer only (no input norm) and QK-norm over the
//! full projection width. HF `modeling_olmo2.py`.

use super::common::{llama_like, llama_tensors};
use super::hf_config::HfConfig;
use super::tensor_map::TensorMap;
use super::Family;
use crate::config::{ModelConfig, NormPlacement, QkNormScope};
use crate::Result;

pub struct Olmo2;

impl Family for Olmo2 {
    fn model_types(&self) -> &'static [&'static str] {
        &["olmo2"]
    }

    fn config(&self, hf: &HfConfig) -> Result<ModelConfig> {
        let mut c = llama_like(hf)?;
        c.block.placement = NormPlacement::PostSublayer;
        c.attention.qk_norm = Some(QkNormScope::FullWidth);
        Ok(c)
    }

    fn tensors(&self, cfg: &ModelConfig, _hf: &HfConfig, m: &mut TensorMap) -> Result<()> {
        llama_tensors(
            cfg,
            m,
            &[
                ("post_attention_layernorm", "attn_post_norm"),
                ("post_feedforward_layernorm", "ffn_post_norm"),
            ],
        )
    }
}
