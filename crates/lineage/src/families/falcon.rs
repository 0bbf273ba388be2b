//! Falcon: parallel attention + MLP; `new_decoder_architecture` (40B/180B: grouped qkv,
//! `ln_attn` + `ln_mlp`) or `multi_query` (7B: one KV head, one shared norm).
//! HF `modeling_falcon.py`.

use super::common::{activation, skeleton, tied, Dims};
use super::fused_qkv::{take_fused_qkv, QkvLayout};
use super::hf_config::HfConfig;
use super::rope_params::RopeParams;
use super::tensor_map::TensorMap;
use super::Family;
use crate::config::*;
use crate::Result;

pub struct Falcon;

impl Family for Falcon {
    fn model_types(&self) -> &'static [&'static str] {
        &["falcon"]
    }

    fn config(&self, hf: &HfConfig) -> Result<ModelConfig> {
        if hf.bool_or("alibi", false)? {
            return Err(hf.unsupported("alibi", "true"));
        }
        let d_model = hf.usize("hidden_size")?;
        let n_heads = hf.usize("num_attention_heads")?;
        let new_arch = hf.bool_or("new_decoder_architecture", false)?;
        let n_kv_heads = if new_arch {
            hf.opt_usize("num_kv_heads")?.unwrap_or(n_heads)
        } else if hf.bool_or("multi_query", true)? {
            1
        } else {
            n_heads
        };
        let head_dim = d_model / n_heads.max(1);
        let dims = Dims {
            vocab_size: hf.usize("vocab_size")?,
            d_model,
            n_layers: hf.usize("num_hidden_layers")?,
            n_heads,
            n_kv_heads,
            head_dim,
            d_ff: hf.opt_usize("ffn_hidden_size")?.unwrap_or(4 * d_model),
            context_len: hf.opt_usize("max_position_embeddings")?.unwrap_or(2048),
        };
        let norm = NormConfig {
            kind: NormKind::LayerNorm { bias: true },
            eps: hf.f64("layer_norm_epsilon")?,
        };
        let act = activation(
            hf,
            "activation",
            hf.opt_str("activation")?.unwrap_or("gelu"),
        )?;
        let rope = RopeParams::from_config(hf)?.rope(
            head_dim,
            dims.context_len,
            RopePairing::RotateHalf,
        )?;
        let mut c = skeleton(hf, dims, norm, Position::Rope(rope), FfnKind::Mlp(act))?;
        c.embedding.tied_lm_head = tied(hf, true)?;
        let bias = hf.bool_or("bias", false)?;
        c.attention.bias = ProjBias::all(bias);
        c.ffn.bias = bias;
        c.block.residual = residual(hf, new_arch)?;
        Ok(c)
    }

    fn tensors(&self, cfg: &ModelConfig, hf: &HfConfig, m: &mut TensorMap) -> Result<()> {
        m.rename("transformer.word_embeddings.weight", "token_embd.weight")?;
        m.rename_wb("transformer.ln_f", "output_norm")?;
        m.rename("lm_head.weight", "output.weight")?;
        let table = [
            ("ln_attn", "attn_norm"),
            ("ln_mlp", "ffn_norm"),
            ("input_layernorm", "attn_norm"),
            ("post_attention_layernorm", "ffn_norm"),
            ("self_attention.dense", "attn_output"),
            ("mlp.dense_h_to_4h", "ffn_up"),
            ("mlp.dense_4h_to_h", "ffn_down"),
        ];
        m.rename_layers(cfg.n_layers(), "transformer.h", &table)?;
        let a = &cfg.attention;
        let layout = if hf.bool_or("new_decoder_architecture", false)? {
            QkvLayout::Grouped
        } else if a.n_kv_heads == 1 {
            QkvLayout::Blocks
        } else {
            QkvLayout::PerHead
        };
        for i in 0..cfg.n_layers() {
            let name = format!("transformer.h.{i}.self_attention.query_key_value");
            take_fused_qkv(m, &name, i, layout, (a.n_heads, a.n_kv_heads, a.head_dim))?;
        }
        Ok(())
    }
}

fn residual(hf: &HfConfig, new_arch: bool) -> Result<Residual> {
    if new_arch {
        let n_ln = hf.opt_usize("num_ln_in_parallel_attn")?.unwrap_or(2);
        return Ok(Residual::Parallel {
            shared_norm: n_ln == 1,
        });
    }
    Ok(if hf.bool_or("parallel_attn", true)? {
        Residual::Parallel { shared_norm: true }
    } else {
        Residual::Sequential
    })
}
