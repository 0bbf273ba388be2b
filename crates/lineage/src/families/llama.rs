//! Llama and its near-identical descendants: Mistral (sliding window), Qwen2 (q/k/v
//! biases), Qwen3 (per-head QK-norm). HF `modeling_llama.py`, `modeling_qwen2.py`, ...

use super::common::{llama_like, llama_tensors};
use super::hf_config::HfConfig;
use super::tensor_map::TensorMap;
use super::Family;
use crate::config::{ModelConfig, ProjBias, QkNormScope};
use crate::Result;

pub struct Llama;

impl Family for Llama {
    fn model_types(&self) -> &'static [&'static str] {
        &["llama", "mistral", "qwen2", "qwen3", "smollm3"]
    }

    fn config(&self, hf: &HfConfig) -> Result<ModelConfig> {
        let mut c = llama_like(hf)?;
        match hf.family.as_str() {
            // Qwen2 always has q/k/v biases and no o bias.
            "qwen2" => {
                c.attention.bias = ProjBias {
                    q: true,
                    k: true,
                    v: true,
                    o: false,
                }
            }
            "qwen3" => c.attention.qk_norm = Some(QkNormScope::PerHead),
            _ => {}
        }
        Ok(c)
    }

    fn tensors(&self, cfg: &ModelConfig, _hf: &HfConfig, m: &mut TensorMap) -> Result<()> {
        llama_tensors(cfg, m, &[("post_attention_layernorm", "ffn_norm")])
    }
}
