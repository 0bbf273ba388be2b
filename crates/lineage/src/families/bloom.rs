//! BLOOM: ALiBi, LayerNorm on the embeddings, per-head fused qkv, tanh-GELU MLP, biases.
//! HF `modeling_bloom.py`.

use super::common::{skeleton, tied, Dims};
use super::fused_qkv::{take_fused_qkv, QkvLayout};
use super::hf_config::HfConfig;
use super::tensor_map::TensorMap;
use super::Family;
use crate::config::*;
use crate::Result;

pub struct Bloom;

impl Family for Bloom {
    fn model_types(&self) -> &'static [&'static str] {
        &["bloom"]
    }

    fn config(&self, hf: &HfConfig) -> Result<ModelConfig> {
        let d_model = hf.usize_any(&["hidden_size", "n_embed"])?;
        let n_heads = hf.usize_any(&["n_head", "num_attention_heads"])?;
        let dims = Dims {
            vocab_size: hf.usize("vocab_size")?,
            d_model,
            n_layers: hf.usize_any(&["n_layer", "num_hidden_layers"])?,
            n_heads,
            n_kv_heads: n_heads,
            head_dim: d_model / n_heads.max(1),
            d_ff: 4 * d_model,
            // ALiBi has no trained length limit; HF BLOOM configs carry `seq_length` at most.
            context_len: hf.opt_usize("seq_length")?.unwrap_or(2048),
        };
        let norm = NormConfig {
            kind: NormKind::LayerNorm { bias: true },
            eps: hf.f64("layer_norm_epsilon")?,
        };
        let mut c = skeleton(
            hf,
            dims,
            norm,
            Position::Alibi,
            FfnKind::Mlp(Activation::GeluTanh),
        )?;
        c.embedding.norm = Some(norm);
        c.embedding.tied_lm_head = tied(hf, true)?;
        c.attention.bias = ProjBias::all(true);
        c.ffn.bias = true;
        if hf.bool_or("apply_residual_connection_post_layernorm", false)? {
            return Err(hf.unsupported("apply_residual_connection_post_layernorm", "true"));
        }
        hf.value("slow_but_exact");
        Ok(c)
    }

    fn tensors(&self, cfg: &ModelConfig, _hf: &HfConfig, m: &mut TensorMap) -> Result<()> {
        m.rename("transformer.word_embeddings.weight", "token_embd.weight")?;
        m.rename_wb("transformer.word_embeddings_layernorm", "token_embd_norm")?;
        m.rename_wb("transformer.ln_f", "output_norm")?;
        m.rename("lm_head.weight", "output.weight")?;
        let table = [
            ("input_layernorm", "attn_norm"),
            ("post_attention_layernorm", "ffn_norm"),
            ("self_attention.dense", "attn_output"),
            ("mlp.dense_h_to_4h", "ffn_up"),
            ("mlp.dense_4h_to_h", "ffn_down"),
        ];
        m.rename_layers(cfg.n_layers(), "transformer.h", &table)?;
        let a = &cfg.attention;
        for i in 0..cfg.n_layers() {
            let hf = format!("transformer.h.{i}.self_attention.query_key_value");
            take_fused_qkv(
                m,
                &hf,
                i,
                QkvLayout::PerHead,
                (a.n_heads, a.n_kv_heads, a.head_dim),
            )?;
        }
        Ok(())
    }
}
