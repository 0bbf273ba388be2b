//! PaLM (Chowdhery et al. 2022, arXiv:2204.02311 §2): parallel block with one shared
//! LayerNorm, SwiGLU, multi-query attention, RoPE, no biases in dense kernels or norms,
//! shared input/output embeddings. No HF `model_type` exists for PaLM; this adapter reads
//! a synthetic `"model_type": "palm"` config with Llama key names (used by the
//! `palm-540b` analysis preset) and Llama tensor names.

use super::common::{activation, llama_tensors, skeleton, tied, Dims};
use super::hf_config::HfConfig;
use super::rope_params::RopeParams;
use super::tensor_map::TensorMap;
use super::Family;
use crate::config::*;
use crate::Result;

pub struct Palm;

impl Family for Palm {
    fn model_types(&self) -> &'static [&'static str] {
        &["palm"]
    }

    fn config(&self, hf: &HfConfig) -> Result<ModelConfig> {
        let d_model = hf.usize("hidden_size")?;
        let n_heads = hf.usize("num_attention_heads")?;
        let head_dim = hf
            .opt_usize("head_dim")?
            .unwrap_or(d_model / n_heads.max(1));
        let dims = Dims {
            vocab_size: hf.usize("vocab_size")?,
            d_model,
            n_layers: hf.usize("num_hidden_layers")?,
            n_heads,
            n_kv_heads: hf.opt_usize("num_key_value_heads")?.unwrap_or(1),
            head_dim,
            d_ff: hf.usize("intermediate_size")?,
            context_len: hf.usize("max_position_embeddings")?,
        };
        let norm = NormConfig {
            kind: NormKind::LayerNorm { bias: false },
            eps: hf.f64("layer_norm_epsilon")?,
        };
        let act = activation(
            hf,
            "hidden_act",
            hf.opt_str("hidden_act")?.unwrap_or("silu"),
        )?;
        let rope = RopeParams::from_config(hf)?.rope(
            head_dim,
            dims.context_len,
            RopePairing::RotateHalf,
        )?;
        let mut c = skeleton(hf, dims, norm, Position::Rope(rope), FfnKind::Glu(act))?;
        c.embedding.tied_lm_head = tied(hf, true)?;
        c.block.residual = Residual::Parallel { shared_norm: true };
        Ok(c)
    }

    fn tensors(&self, cfg: &ModelConfig, _hf: &HfConfig, m: &mut TensorMap) -> Result<()> {
        llama_tensors(cfg, m, &[])
    }
}
