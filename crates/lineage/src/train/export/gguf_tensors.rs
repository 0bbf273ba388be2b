//! Canonical weights -> GGUF tensors, f32 and row-major, in llama.cpp's names (which are
//! our canonical ones). What differs per arch: `llama` q/k rows permuted to adjacent RoPE
//! pairs (convert_hf_to_gguf `LlamaModel.permute`, biases too), `gpt2` q/k/v fused into
//! `attn_qkv` and its tied head written out (`GPT2Model.modify_tensors`), llama3 RoPE
//! scaling as `rope_freqs.weight`.

use candle_core::{Device, Tensor};

use super::gguf_arch::{rope_freqs, GgufArch};
use super::pairing;
use super::take::Taker;
use crate::config::{ModelConfig, NormKind, Position};
use crate::weights::Weights;
use crate::Result;

pub(super) type Named = Vec<(String, Tensor)>;

pub(super) fn tensors(cfg: &ModelConfig, arch: GgufArch, w: &Weights) -> Result<Named> {
    let mut t = Taker::new(w);
    let (v, d) = (cfg.vocab_size, cfg.d_model);
    let mut out: Named = vec![(
        "token_embd.weight".into(),
        t.get("token_embd.weight", &[v, d])?,
    )];
    if arch == GgufArch::Gpt2 {
        out.push((
            "position_embd.weight".into(),
            t.get("position_embd.weight", &[cfg.context_len, d])?,
        ));
    }
    if let Some(f) = rope_freqs(cfg) {
        let n = f.len();
        out.push((
            "rope_freqs.weight".into(),
            Tensor::from_vec(f, n, &Device::Cpu)?,
        ));
    }
    for i in 0..cfg.n_layers() {
        match arch {
            GgufArch::Gpt2 => gpt2_layer(cfg, &mut t, i, &mut out)?,
            _ => rope_layer(cfg, arch, &mut t, i, &mut out)?,
        }
    }
    norm(cfg, &mut t, "output_norm", &mut out)?;
    let tied = cfg.embedding.tied_lm_head;
    if !tied {
        out.push(("output.weight".into(), t.get("output.weight", &[v, d])?));
    } else if arch == GgufArch::Gpt2 {
        let e = out[0].1.clone();
        out.push(("output.weight".into(), e));
    }
    t.finish()?;
    Ok(out)
}

/// A norm's gain (and for LayerNorm its bias, zeros when the config has none).
fn norm(cfg: &ModelConfig, t: &mut Taker, name: &str, out: &mut Named) -> Result<()> {
    let d = cfg.d_model;
    out.push((
        format!("{name}.weight"),
        t.get(&format!("{name}.weight"), &[d])?,
    ));
    if let NormKind::LayerNorm { bias } = cfg.block.norm.kind {
        out.push((
            format!("{name}.bias"),
            t.get_or_zeros(bias, &format!("{name}.bias"), &[d])?,
        ));
    }
    Ok(())
}

fn gpt2_layer(cfg: &ModelConfig, t: &mut Taker, i: usize, out: &mut Named) -> Result<()> {
    let (d, f, b, p) = (
        cfg.d_model,
        cfg.ffn.d_ff,
        cfg.attention.bias,
        format!("blk.{i}"),
    );
    norm(cfg, t, &format!("{p}.attn_norm"), out)?;
    let mut ws = Vec::new();
    let mut bs = Vec::new();
    for (n, on) in [("attn_q", b.q), ("attn_k", b.k), ("attn_v", b.v)] {
        ws.push(t.get(&format!("{p}.{n}.weight"), &[d, d])?);
        bs.push(t.get_or_zeros(on, &format!("{p}.{n}.bias"), &[d])?);
    }
    out.push((format!("{p}.attn_qkv.weight"), Tensor::cat(&ws, 0)?));
    out.push((format!("{p}.attn_qkv.bias"), Tensor::cat(&bs, 0)?));
    let o = t.get(&format!("{p}.attn_output.weight"), &[d, d])?;
    out.push((format!("{p}.attn_output.weight"), o));
    out.push((
        format!("{p}.attn_output.bias"),
        t.get_or_zeros(b.o, &format!("{p}.attn_output.bias"), &[d])?,
    ));
    norm(cfg, t, &format!("{p}.ffn_norm"), out)?;
    for (n, shape) in [("ffn_up", [f, d]), ("ffn_down", [d, f])] {
        out.push((
            format!("{p}.{n}.weight"),
            t.get(&format!("{p}.{n}.weight"), &shape)?,
        ));
        let bias = t.get_or_zeros(cfg.ffn.bias, &format!("{p}.{n}.bias"), &[shape[0]])?;
        out.push((format!("{p}.{n}.bias"), bias));
    }
    Ok(())
}

fn rope_layer(
    cfg: &ModelConfig,
    arch: GgufArch,
    t: &mut Taker,
    i: usize,
    out: &mut Named,
) -> Result<()> {
    let (d, p) = (cfg.d_model, format!("blk.{i}"));
    let norm = t.get(&format!("{p}.attn_norm.weight"), &[d])?;
    out.push((format!("{p}.attn_norm.weight"), norm));
    rope_attention(cfg, arch, t, i, out)?;
    let norm = t.get(&format!("{p}.ffn_norm.weight"), &[d])?;
    out.push((format!("{p}.ffn_norm.weight"), norm));
    let (f, e) = match cfg.ffn.moe.as_ref().filter(|_| cfg.layers[i].moe) {
        Some(m) => (m.d_expert, Some(m.n_experts)),
        None => (cfg.ffn.d_ff, None),
    };
    let ffn: Vec<(&str, Vec<usize>)> = match e {
        Some(e) => vec![
            ("ffn_gate_inp", vec![e, d]),
            ("ffn_gate_exps", vec![e, f, d]),
            ("ffn_up_exps", vec![e, f, d]),
            ("ffn_down_exps", vec![e, d, f]),
        ],
        None => vec![
            ("ffn_gate", vec![f, d]),
            ("ffn_up", vec![f, d]),
            ("ffn_down", vec![d, f]),
        ],
    };
    let dense_bias = e.is_none() && cfg.ffn.bias;
    for (n, shape) in ffn {
        out.push((
            format!("{p}.{n}.weight"),
            t.get(&format!("{p}.{n}.weight"), &shape)?,
        ));
        if let Some(b) = t.get_if(dense_bias, &format!("{p}.{n}.bias"), &shape[..1])? {
            out.push((format!("{p}.{n}.bias"), b));
        }
    }
    Ok(())
}

/// q/k/v/output (+ biases) and QK-norm gains, q/k rows in the arch's RoPE pair order.
fn rope_attention(
    cfg: &ModelConfig,
    arch: GgufArch,
    t: &mut Taker,
    i: usize,
    out: &mut Named,
) -> Result<()> {
    let (d, a, p) = (cfg.d_model, &cfg.attention, format!("blk.{i}"));
    let (hd, h, kv) = (a.head_dim, a.n_heads, a.n_kv_heads);
    let Position::Rope(r) = &cfg.position else {
        unreachable!("checked by gguf_arch")
    };
    let fix = |x: &Tensor, heads: usize| {
        pairing::convert(x, heads, hd, r.rotary_dim, r.pairing, arch.pairing())
    };
    for (n, rows, cols, heads, bias) in [
        ("attn_q", h * hd, d, Some(h), a.bias.q),
        ("attn_k", kv * hd, d, Some(kv), a.bias.k),
        ("attn_v", kv * hd, d, None, a.bias.v),
        ("attn_output", d, h * hd, None, a.bias.o),
    ] {
        let mut w = t.get(&format!("{p}.{n}.weight"), &[rows, cols])?;
        let mut b = t.get_if(bias, &format!("{p}.{n}.bias"), &[rows])?;
        if let Some(heads) = heads {
            w = fix(&w, heads)?;
            b = b.map(|b| fix(&b, heads)).transpose()?;
        }
        out.push((format!("{p}.{n}.weight"), w));
        if let Some(b) = b {
            out.push((format!("{p}.{n}.bias"), b));
        }
    }
    if a.qk_norm.is_some() {
        for n in ["attn_q_norm", "attn_k_norm"] {
            let g = fix(&t.get(&format!("{p}.{n}.weight"), &[hd])?, 1)?;
            out.push((format!("{p}.{n}.weight"), g));
        }
    }
    Ok(())
}
