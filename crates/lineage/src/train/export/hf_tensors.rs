//! Canonical weights -> the HF family's tensor names and layouts: the inverse of the
//! adapters `families/gpt2.rs` (Conv1D `[in, out]`, fused `c_attn = [q | k | v]`),
//! `families/common.rs` (`llama_tensors`) and `families/moe.rs` (per-expert matrices).
//! Tied heads are left out, as `save_pretrained` does.

use candle_core::Tensor;

use super::hf_family::HfFamily;
use super::pairing;
use super::take::Taker;
use crate::config::{ModelConfig, NormKind, Position, RopePairing};
use crate::weights::Weights;
use crate::Result;

pub(super) type Named = Vec<(String, Tensor)>;

/// Every tensor of the HF checkpoint, f32.
pub(super) fn tensors(cfg: &ModelConfig, fam: HfFamily, w: &Weights) -> Result<Named> {
    let mut t = Taker::new(w);
    let out = match fam {
        HfFamily::Gpt2 => gpt2(cfg, &mut t)?,
        _ => llama_like(cfg, fam, &mut t)?,
    };
    t.finish()?;
    Ok(out)
}

fn gpt2(cfg: &ModelConfig, t: &mut Taker) -> Result<Named> {
    let (v, d, f) = (cfg.vocab_size, cfg.d_model, cfg.ffn.d_ff);
    let norm_bias = matches!(cfg.block.norm.kind, NormKind::LayerNorm { bias: true });
    let (ab, fb) = (cfg.attention.bias, cfg.ffn.bias);
    let mut out: Named = vec![
        (
            "transformer.wte.weight".into(),
            t.get("token_embd.weight", &[v, d])?,
        ),
        (
            "transformer.wpe.weight".into(),
            t.get("position_embd.weight", &[cfg.context_len, d])?,
        ),
    ];
    let norm = |out: &mut Named, t: &mut Taker, canon: &str, hf: &str| -> Result<()> {
        out.push((
            format!("{hf}.weight"),
            t.get(&format!("{canon}.weight"), &[d])?,
        ));
        out.push((
            format!("{hf}.bias"),
            t.get_or_zeros(norm_bias, &format!("{canon}.bias"), &[d])?,
        ));
        Ok(())
    };
    for i in 0..cfg.n_layers() {
        let (p, c) = (format!("transformer.h.{i}"), format!("blk.{i}"));
        norm(&mut out, t, &format!("{c}.attn_norm"), &format!("{p}.ln_1"))?;
        let mut qkv_w = Vec::new();
        let mut qkv_b = Vec::new();
        for (n, on) in [("attn_q", ab.q), ("attn_k", ab.k), ("attn_v", ab.v)] {
            qkv_w.push(t.get(&format!("{c}.{n}.weight"), &[d, d])?);
            qkv_b.push(t.get_or_zeros(on, &format!("{c}.{n}.bias"), &[d])?);
        }
        // Conv1D stores [in, out]: transpose the [out, in] matrices.
        out.push((
            format!("{p}.attn.c_attn.weight"),
            Tensor::cat(&qkv_w, 0)?.t()?.contiguous()?,
        ));
        out.push((format!("{p}.attn.c_attn.bias"), Tensor::cat(&qkv_b, 0)?));
        for (canon, hf, shape, on) in [
            ("attn_output", "attn.c_proj", [d, d], ab.o),
            ("ffn_up", "mlp.c_fc", [f, d], fb),
            ("ffn_down", "mlp.c_proj", [d, f], fb),
        ] {
            let w = t.get(&format!("{c}.{canon}.weight"), &shape)?;
            out.push((format!("{p}.{hf}.weight"), w.t()?.contiguous()?));
            let b = t.get_or_zeros(on, &format!("{c}.{canon}.bias"), &[shape[0]])?;
            out.push((format!("{p}.{hf}.bias"), b));
        }
        norm(&mut out, t, &format!("{c}.ffn_norm"), &format!("{p}.ln_2"))?;
    }
    norm(&mut out, t, "output_norm", "transformer.ln_f")?;
    if !cfg.embedding.tied_lm_head {
        out.push(("lm_head.weight".into(), t.get("output.weight", &[v, d])?));
    }
    Ok(out)
}

/// q/k rows (and per-head norm gains) reordered to HF's rotate-half pairs.
struct ToHf {
    pairing: RopePairing,
    head_dim: usize,
    rotary_dim: usize,
}

impl ToHf {
    fn rows(&self, x: &Tensor, heads: usize) -> Result<Tensor> {
        pairing::convert(
            x,
            heads,
            self.head_dim,
            self.rotary_dim,
            self.pairing,
            RopePairing::RotateHalf,
        )
    }
}

fn llama_like(cfg: &ModelConfig, fam: HfFamily, t: &mut Taker) -> Result<Named> {
    let (v, d) = (cfg.vocab_size, cfg.d_model);
    let Position::Rope(r) = &cfg.position else {
        unreachable!("checked by hf_family")
    };
    let fix = ToHf {
        pairing: r.pairing,
        head_dim: cfg.attention.head_dim,
        rotary_dim: r.rotary_dim,
    };
    let embd = t.get("token_embd.weight", &[v, d])?;
    let mut out: Named = vec![("model.embed_tokens.weight".into(), embd)];
    for i in 0..cfg.n_layers() {
        let (p, c) = (format!("model.layers.{i}"), format!("blk.{i}"));
        let norm = t.get(&format!("{c}.attn_norm.weight"), &[d])?;
        out.push((format!("{p}.input_layernorm.weight"), norm));
        attention(cfg, t, &fix, i, &mut out)?;
        let norm = t.get(&format!("{c}.ffn_norm.weight"), &[d])?;
        out.push((format!("{p}.post_attention_layernorm.weight"), norm));
        if cfg.layers[i].moe && cfg.ffn.moe.is_some() {
            experts(cfg, fam, t, i, &mut out)?;
        } else {
            dense_mlp(cfg, t, i, &mut out)?;
        }
    }
    out.push((
        "model.norm.weight".into(),
        t.get("output_norm.weight", &[d])?,
    ));
    if !cfg.embedding.tied_lm_head {
        out.push(("lm_head.weight".into(), t.get("output.weight", &[v, d])?));
    }
    Ok(out)
}

/// `self_attn.{q,k,v,o}_proj` (+ biases) and `q_norm`/`k_norm` of layer `i`.
fn attention(
    cfg: &ModelConfig,
    t: &mut Taker,
    fix: &ToHf,
    i: usize,
    out: &mut Named,
) -> Result<()> {
    let (d, a) = (cfg.d_model, &cfg.attention);
    let (hd, h, kv) = (a.head_dim, a.n_heads, a.n_kv_heads);
    let (p, c) = (format!("model.layers.{i}.self_attn"), format!("blk.{i}"));
    for (canon, hf, rows, cols, heads, bias) in [
        ("attn_q", "q_proj", h * hd, d, Some(h), a.bias.q),
        ("attn_k", "k_proj", kv * hd, d, Some(kv), a.bias.k),
        ("attn_v", "v_proj", kv * hd, d, None, a.bias.v),
        ("attn_output", "o_proj", d, h * hd, None, a.bias.o),
    ] {
        let mut w = t.get(&format!("{c}.{canon}.weight"), &[rows, cols])?;
        let mut b = t.get_if(bias, &format!("{c}.{canon}.bias"), &[rows])?;
        if let Some(heads) = heads {
            w = fix.rows(&w, heads)?;
            b = b.map(|b| fix.rows(&b, heads)).transpose()?;
        }
        out.push((format!("{p}.{hf}.weight"), w));
        if let Some(b) = b {
            out.push((format!("{p}.{hf}.bias"), b));
        }
    }
    if a.qk_norm.is_some() {
        for (canon, hf) in [("attn_q_norm", "q_norm"), ("attn_k_norm", "k_norm")] {
            let g = fix.rows(&t.get(&format!("{c}.{canon}.weight"), &[hd])?, 1)?;
            out.push((format!("{p}.{hf}.weight"), g));
        }
    }
    Ok(())
}

/// `mlp.{gate,up,down}_proj` (+ biases) of dense layer `i`.
fn dense_mlp(cfg: &ModelConfig, t: &mut Taker, i: usize, out: &mut Named) -> Result<()> {
    let (d, f) = (cfg.d_model, cfg.ffn.d_ff);
    let (p, c) = (format!("model.layers.{i}.mlp"), format!("blk.{i}"));
    for (canon, hf, shape) in [
        ("ffn_gate", "gate_proj", [f, d]),
        ("ffn_up", "up_proj", [f, d]),
        ("ffn_down", "down_proj", [d, f]),
    ] {
        let w = t.get(&format!("{c}.{canon}.weight"), &shape)?;
        out.push((format!("{p}.{hf}.weight"), w));
        if let Some(b) = t.get_if(cfg.ffn.bias, &format!("{c}.{canon}.bias"), &[shape[0]])? {
            out.push((format!("{p}.{hf}.bias"), b));
        }
    }
    Ok(())
}

/// Router and per-expert matrices of MoE layer `i` (expert stacks `[E, out, in]` split).
fn experts(
    cfg: &ModelConfig,
    fam: HfFamily,
    t: &mut Taker,
    i: usize,
    out: &mut Named,
) -> Result<()> {
    let (p, c) = (format!("model.layers.{i}"), format!("blk.{i}"));
    let m = cfg.ffn.moe.as_ref().expect("checked by the caller");
    let (e, f, d) = (m.n_experts, m.d_expert, cfg.d_model);
    let (router, prefix, names) = match fam {
        HfFamily::Mixtral => (
            "block_sparse_moe.gate",
            "block_sparse_moe.experts",
            ["w1", "w3", "w2"],
        ),
        _ => (
            "mlp.gate",
            "mlp.experts",
            ["gate_proj", "up_proj", "down_proj"],
        ),
    };
    out.push((
        format!("{p}.{router}.weight"),
        t.get(&format!("{c}.ffn_gate_inp.weight"), &[e, d])?,
    ));
    let stacks = [
        t.get(&format!("{c}.ffn_gate_exps.weight"), &[e, f, d])?,
        t.get(&format!("{c}.ffn_up_exps.weight"), &[e, f, d])?,
        t.get(&format!("{c}.ffn_down_exps.weight"), &[e, d, f])?,
    ];
    for k in 0..e {
        for (stack, name) in stacks.iter().zip(names) {
            out.push((
                format!("{p}.{prefix}.{k}.{name}.weight"),
                stack.get(k)?.contiguous()?,
            ));
        }
    }
    Ok(())
}
