//! GPT-2: learned positions, LayerNorm pre-norm, tanh-GELU MLP, biases everywhere, tied
//! head; `Conv1D` weights stored `[in, out]`, `c_attn` = `[q | k | v]`. HF `modeling_gpt2.py`.

use super::common::{activation, skeleton, tied, Dims};
use super::hf_config::HfConfig;
use super::tensor_map::TensorMap;
use super::Family;
use crate::config::*;
use crate::Result;

pub struct Gpt2;

impl Family for Gpt2 {
    fn model_types(&self) -> &'static [&'static str] {
        &["gpt2"]
    }

    fn config(&self, hf: &HfConfig) -> Result<ModelConfig> {
        let d_model = hf.usize("n_embd")?;
        let n_heads = hf.usize("n_head")?;
        let dims = Dims {
            vocab_size: hf.usize("vocab_size")?,
            d_model,
            n_layers: hf.usize("n_layer")?,
            n_heads,
            n_kv_heads: n_heads,
            head_dim: d_model / n_heads.max(1),
            d_ff: hf.opt_usize("n_inner")?.unwrap_or(4 * d_model),
            context_len: hf.usize("n_positions")?,
        };
        let norm = NormConfig {
            kind: NormKind::LayerNorm { bias: true },
            eps: hf.f64("layer_norm_epsilon")?,
        };
        let act = activation(
            hf,
            "activation_function",
            hf.opt_str("activation_function")?.unwrap_or("gelu_new"),
        )?;
        let mut c = skeleton(hf, dims, norm, Position::Learned, FfnKind::Mlp(act))?;
        c.embedding.tied_lm_head = tied(hf, true)?;
        c.attention.bias = ProjBias::all(true);
        c.ffn.bias = true;
        if !hf.bool_or("scale_attn_weights", true)? {
            c.attention.scale = Some(1.0);
        }
        for key in ["scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"] {
            if hf.bool_or(key, false)? {
                return Err(hf.unsupported(key, "true"));
            }
        }
        Ok(c)
    }

    fn tensors(&self, cfg: &ModelConfig, _hf: &HfConfig, m: &mut TensorMap) -> Result<()> {
        m.rename("transformer.wte.weight", "token_embd.weight")?;
        m.rename("transformer.wpe.weight", "position_embd.weight")?;
        m.rename_wb("transformer.ln_f", "output_norm")?;
        m.rename("lm_head.weight", "output.weight")?;
        let d = cfg.d_model;
        for i in 0..cfg.n_layers() {
            let p = format!("transformer.h.{i}");
            m.rename_wb(&format!("{p}.ln_1"), &format!("blk.{i}.attn_norm"))?;
            m.rename_wb(&format!("{p}.ln_2"), &format!("blk.{i}.ffn_norm"))?;
            let w = m.take_transposed(&format!("{p}.attn.c_attn.weight"))?;
            let b = m.take(&format!("{p}.attn.c_attn.bias"))?;
            let ws = TensorMap::split_rows(&w, &[d, d, d])?;
            let bs = TensorMap::split_rows(&b, &[d, d, d])?;
            for ((w, b), n) in ws.into_iter().zip(bs).zip(["attn_q", "attn_k", "attn_v"]) {
                m.put(format!("blk.{i}.{n}.weight"), w);
                m.put(format!("blk.{i}.{n}.bias"), b);
            }
            for (hf, canon) in [
                ("attn.c_proj", "attn_output"),
                ("mlp.c_fc", "ffn_up"),
                ("mlp.c_proj", "ffn_down"),
            ] {
                let w = m.take_transposed(&format!("{p}.{hf}.weight"))?;
                m.put(format!("blk.{i}.{canon}.weight"), w);
                m.rename(&format!("{p}.{hf}.bias"), &format!("blk.{i}.{canon}.bias"))?;
            }
        }
        Ok(())
    }
}
