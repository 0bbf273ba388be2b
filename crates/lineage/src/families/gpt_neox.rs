//! GPT-NeoX / Pythia: parallel residual `x + attn(ln1(x)) + mlp(ln2(x))`, partial rotary,
//! per-head fused qkv. HF `modeling_gpt_neox.py`.

use super::common::{activation, skeleton, tied, Dims};
use super::fused_qkv::{take_fused_qkv, QkvLayout};
use super::hf_config::HfConfig;
use super::rope_params::RopeParams;
use super::tensor_map::TensorMap;
use super::Family;
use crate::config::*;
use crate::Result;

pub struct GptNeox;

impl Family for GptNeox {
    fn model_types(&self) -> &'static [&'static str] {
        &["gpt_neox"]
    }

    fn config(&self, hf: &HfConfig) -> Result<ModelConfig> {
        let d_model = hf.usize("hidden_size")?;
        let n_heads = hf.usize("num_attention_heads")?;
        let head_dim = d_model / n_heads.max(1);
        let dims = Dims {
            vocab_size: hf.usize("vocab_size")?,
            d_model,
            n_layers: hf.usize("num_hidden_layers")?,
            n_heads,
            n_kv_heads: n_heads,
            head_dim,
            d_ff: hf.usize("intermediate_size")?,
            context_len: hf.usize("max_position_embeddings")?,
        };
        let norm = NormConfig {
            kind: NormKind::LayerNorm { bias: true },
            eps: hf.f64("layer_norm_eps")?,
        };
        let act = activation(
            hf,
            "hidden_act",
            hf.opt_str("hidden_act")?.unwrap_or("gelu"),
        )?;
        let rope = RopeParams::from_config(hf)?.rope(
            head_dim,
            dims.context_len,
            RopePairing::RotateHalf,
        )?;
        let mut c = skeleton(hf, dims, norm, Position::Rope(rope), FfnKind::Mlp(act))?;
        c.embedding.tied_lm_head = tied(hf, false)?;
        c.attention.bias = ProjBias::all(hf.bool_or("attention_bias", true)?);
        c.ffn.bias = true;
        if hf.bool_or("use_parallel_residual", true)? {
            c.block.residual = Residual::Parallel { shared_norm: false };
        }
        Ok(c)
    }

    fn tensors(&self, cfg: &ModelConfig, _hf: &HfConfig, m: &mut TensorMap) -> Result<()> {
        m.rename("gpt_neox.embed_in.weight", "token_embd.weight")?;
        m.rename_wb("gpt_neox.final_layer_norm", "output_norm")?;
        m.rename("embed_out.weight", "output.weight")?;
        let a = &cfg.attention;
        let table = [
            ("input_layernorm", "attn_norm"),
            ("post_attention_layernorm", "ffn_norm"),
            ("attention.dense", "attn_output"),
            ("mlp.dense_h_to_4h", "ffn_up"),
            ("mlp.dense_4h_to_h", "ffn_down"),
        ];
        m.rename_layers(cfg.n_layers(), "gpt_neox.layers", &table)?;
        for i in 0..cfg.n_layers() {
            let hf = format!("gpt_neox.layers.{i}.attention.query_key_value");
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
