//! GGUF tensors -> canonical weights: 1-D and float tensors become dense f32, quantized
//! matrices and expert stacks stay in their blocks (or are dequantised exactly in f32
//! mode), MXFP4 expert stacks stay packed, a few names differ from ours, fused projections are split by rows and
//! DeepSeek's split `attn_k_b`/`attn_v_b` are joined back into `attn_kv_b`.

use candle_core::{Device, Tensor};

use super::GgufPrecision;
use crate::config::{AttentionKind, ModelConfig};
use crate::kernels::quant::{GgmlType, QMatrix};
use crate::weights::gguf::GgufFile;
use crate::weights::{Mxfp4Tensor, Weight, Weights};
use crate::Result;

/// GGUF names that differ from the canonical vocabulary. gpt-oss has no `ffn_norm`:
/// its pre-FFN norm is `post_attention_norm` (llama.cpp `attn_post_norm`, used as the
/// FFN's input norm); in Gemma it is the sandwich norm after attention. Falcon-40B's
/// converter maps `ln_attn` to `attn_norm_2` and `ln_mlp` to `attn_norm`: llama.cpp feeds
/// attention from `attn_norm_2` and the MLP from `attn_norm`.
fn canonical(name: &str, arch: &str, falcon_two_norms: bool) -> String {
    let post_attn = if arch == "gpt-oss" {
        ".ffn_norm."
    } else {
        ".attn_post_norm."
    };
    let name = if falcon_two_norms {
        name.replace(".attn_norm.", ".ffn_norm.")
            .replace(".attn_norm_2.", ".attn_norm.")
    } else {
        name.to_string()
    };
    name.replace(".post_attention_norm.", post_attn)
        .replace(".post_ffw_norm.", ".ffn_post_norm.")
}

pub fn weights(file: &GgufFile, cfg: &ModelConfig, precision: GgufPrecision) -> Result<Weights> {
    let arch = file.metadata().get_str("general.architecture")?;
    let mut w = Weights::default();
    let two_norms = arch == "falcon" && file.tensor("blk.0.attn_norm_2.weight").is_ok();
    for t in file.tensors() {
        if t.name.starts_with("rope_") {
            continue; // rope factors: read into the config (gguf/rope.rs)
        }
        let weight = load_one(file, &t.name, precision)?;
        w.insert_weight(canonical(&t.name, arch, two_norms), weight);
    }
    split_fused(&mut w, cfg)?;
    join_kv_b(&mut w, cfg)?;
    Ok(w)
}

fn is_float(ty: GgmlType) -> bool {
    matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16)
}

fn load_one(file: &GgufFile, name: &str, precision: GgufPrecision) -> Result<Weight> {
    let t = file.tensor(name)?;
    let dims: Vec<usize> = t.dims.iter().rev().map(|&d| d as usize).collect(); // row-major
    let quantized = precision == GgufPrecision::Quantized;
    if quantized && dims.len() == 3 && t.ggml_type == GgmlType::MXFP4 {
        return Ok(Weight::Mxfp4(Mxfp4Tensor::from_ggml_blocks(
            name,
            file.tensor_bytes(name)?,
            [dims[0], dims[1], dims[2]],
        )?));
    }
    if quantized && dims.len() == 3 && !is_float(t.ggml_type) {
        return Ok(Weight::QuantStack(file.qstack(name)?));
    }
    if quantized && dims.len() == 2 && !is_float(t.ggml_type) {
        return Ok(Weight::Quant(file.qmatrix(name)?));
    }
    let n: usize = dims.iter().product();
    let mut out = vec![0f32; n];
    crate::kernels::quant::dequantize_row(name, t.ggml_type, file.tensor_bytes(name)?, &mut out)?;
    Ok(Weight::Dense(Tensor::from_vec(out, dims, &Device::Cpu)?))
}

/// Fused `attn_qkv` (`[q; k; v]` rows) and Phi-3's `ffn_up` (`[gate; up]` rows).
fn split_fused(w: &mut Weights, cfg: &ModelConfig) -> Result<()> {
    let a = &cfg.attention;
    let (q, kv) = (a.n_heads * a.head_dim, a.n_kv_heads * a.head_dim);
    for i in 0..cfg.n_layers() {
        for suffix in ["weight", "bias"] {
            if let Some(fused) = w.remove(&format!("blk.{i}.attn_qkv.{suffix}")) {
                let name = format!("blk.{i}.attn_qkv.{suffix}");
                let parts = split_rows(&name, fused, &[q, kv, kv])?;
                for (p, n) in parts.into_iter().zip(["attn_q", "attn_k", "attn_v"]) {
                    w.insert_weight(format!("blk.{i}.{n}.{suffix}"), p);
                }
            }
        }
        let up = format!("blk.{i}.ffn_up.weight");
        if w.get(&up).map(|x| x.shape()[0]).unwrap_or(0) == 2 * cfg.ffn.d_ff
            && !w.contains(&format!("blk.{i}.ffn_gate.weight"))
        {
            let fused = w.remove(&up).expect("checked");
            let parts = split_rows(&up, fused, &[cfg.ffn.d_ff, cfg.ffn.d_ff])?;
            for (p, n) in parts.into_iter().zip(["ffn_gate", "ffn_up"]) {
                w.insert_weight(format!("blk.{i}.{n}.weight"), p);
            }
        }
    }
    Ok(())
}

/// llama.cpp's converter splits DeepSeek's `kv_b_proj` `[H·(nope+v), kv_lora]` per head
/// into `attn_k_b` `[H, kv_lora, nope]` (transposed, for weight absorption) and `attn_v_b`
/// `[H, v, kv_lora]`; rebuild the canonical `attn_kv_b` (head h: `[k_b[h]ᵀ; v_b[h]]` rows).
fn join_kv_b(w: &mut Weights, cfg: &ModelConfig) -> Result<()> {
    let AttentionKind::Latent(m) = &cfg.attention.kind else {
        return Ok(());
    };
    let h = cfg.attention.n_heads;
    for i in 0..cfg.n_layers() {
        let (kn, vn) = (
            format!("blk.{i}.attn_k_b.weight"),
            format!("blk.{i}.attn_v_b.weight"),
        );
        if w.contains(&format!("blk.{i}.attn_kv_b.weight")) || !w.contains(&kn) {
            continue;
        }
        let k_b = w.tensor(&kn, &[h, m.kv_lora_rank, m.qk_nope_head_dim])?; // [H, kv_lora, nope]
        let v_b = w.tensor(&vn, &[h, m.v_head_dim, m.kv_lora_rank])?; // [H, v, kv_lora]
        let kv_b = Tensor::cat(&[&k_b.transpose(1, 2)?, &v_b], 1)? // [H, nope + v, kv_lora]
            .reshape((h * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank))?;
        w.remove(&kn);
        w.remove(&vn);
        w.insert(format!("blk.{i}.attn_kv_b.weight"), kv_b);
    }
    Ok(())
}

/// Splits by rows, which must add up to the tensor's rows (the dense path checks this in
/// `TensorMap::split_rows`; a hostile file must not make the byte slicing panic).
fn split_rows(name: &str, w: Weight, rows: &[usize]) -> Result<Vec<Weight>> {
    match w {
        Weight::Dense(t) => Ok(
            crate::families::tensor_map::TensorMap::split_rows(&t, rows)?
                .into_iter()
                .map(Weight::Dense)
                .collect(),
        ),
        Weight::Quant(q) => {
            let want: usize = rows.iter().sum();
            if want != q.rows() {
                return Err(crate::Error::ShapeMismatch {
                    name: format!("{name} (fused, split into rows {rows:?})"),
                    expected: vec![want, q.cols()],
                    found: vec![q.rows(), q.cols()],
                });
            }
            let rb = q.row_bytes();
            let mut start = 0;
            let mut out = Vec::new();
            for &r in rows {
                let bytes = q.bytes()[start * rb..(start + r) * rb].to_vec();
                out.push(Weight::Quant(QMatrix::from_vec(
                    name,
                    q.ggml_type(),
                    r,
                    q.cols(),
                    bytes,
                )?));
                start += r;
            }
            Ok(out)
        }
        Weight::Mxfp4(_) | Weight::QuantStack(_) => Err(crate::Error::BadInput(format!(
            "`{name}`: cannot split an expert stack"
        ))),
    }
}
