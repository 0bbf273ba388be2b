//! Inference costs of trained variants: greedy decode speed at a long context with the
//! KV-cache size per token (`analysis::kv_cache`, f32 cache), and the forward time of
//! LayerNorm against RMSNorm (Zhang & Sennrich 2019 claim RMSNorm saves 7-64%).
//!
//! Decode runs through `runtime::Backend`, as `lineage bench` does: the fast engine when
//! it takes the config, else the candle model (MLA, MoE, ALiBi); `DecodeResult::path`
//! says which. The norm timing measures the engine's fused row norm (`engine::RowNorm`,
//! what inference runs: rows `layernorm` and `rmsnorm`, which the claim reads) and the
//! candle reference ops of `model::norm` (the training path: rows `... (candle)`).

use std::time::Instant;

use candle_core::{Device, Tensor, D};

use super::results::{DecodeResult, NormTiming};
use super::trained::{by_variant, TrainedRun};
use crate::analysis::kv_cache::{self, KvDtype};
use crate::config::{AttentionKind, ModelConfig, NormConfig, NormKind};
use crate::engine::RowNorm;
use crate::model::ops;
use crate::runtime::backend::Backend;
use crate::weights::Weights;
use crate::{Error, Result};

/// Decode tok/s after a `context`-token prompt, over `new_tokens` greedy tokens, for
/// each variant in `runs` (the median over its runs: weights do not change the work),
/// with the KV bytes one token adds at f32 (`kv_cache::size(..).bytes_per_token`).
/// `context + new_tokens` must fit the models' `context_len`.
pub fn decode(runs: &[TrainedRun], context: usize, new_tokens: usize) -> Result<Vec<DecodeResult>> {
    if context == 0 || new_tokens == 0 {
        return Err(Error::invalid(
            "context",
            "decode needs a prompt and at least one new token",
        ));
    }
    let mut out = Vec::new();
    for (variant, group) in by_variant(runs) {
        let mut speeds = Vec::new();
        let mut last = None;
        for run in group {
            let m = run.open()?;
            if context + new_tokens > m.cfg.context_len {
                return Err(Error::ContextOverflow {
                    len: context + new_tokens,
                    context_len: m.cfg.context_len,
                });
            }
            let backend = Backend::new(&m.cfg, &m.weights)?;
            speeds.push(decode_tok_s(&backend, context, new_tokens)?);
            last = Some((m.cfg, backend.name()));
        }
        let Some((cfg, path)) = last else { continue };
        out.push(DecodeResult {
            variant: variant.to_string(),
            attention: attention_name(&cfg),
            context,
            kv_bytes_per_token: kv_cache::size(&cfg, KvDtype::F32, context)?.bytes_per_token,
            decode_tok_s: median(&mut speeds),
            path: path.to_string(),
        });
    }
    Ok(out)
}

/// Prefill of `context` deterministic ids spread over the vocabulary (as `lineage
/// bench`), then `new_tokens` greedy steps, timed.
fn decode_tok_s(backend: &Backend, context: usize, new_tokens: usize) -> Result<f64> {
    let vocab = backend.config().vocab_size as u64;
    let ids: Vec<u32> = (0..context as u64)
        .map(|i| ((i * 7919 + 13) % vocab) as u32)
        .collect();
    let mut seq = backend.start();
    let mut next = ops::argmax(seq.forward(&ids)?) as u32;
    let t = Instant::now();
    for _ in 0..new_tokens {
        next = ops::argmax(seq.forward(&[next])?) as u32;
    }
    Ok(new_tokens as f64 / t.elapsed().as_secs_f64().max(1e-9))
}

/// `mha 8q`, `gqa 8q/2kv`, `mqa 8q/1kv`, `mla latent 60 + rope 4`.
fn attention_name(c: &ModelConfig) -> String {
    let a = &c.attention;
    match &a.kind {
        AttentionKind::Latent(m) => {
            format!(
                "mla latent {} + rope {}",
                m.kv_lora_rank, m.qk_rope_head_dim
            )
        }
        AttentionKind::Standard if a.n_kv_heads == a.n_heads => format!("mha {}q", a.n_heads),
        AttentionKind::Standard if a.n_kv_heads == 1 => format!("mqa {}q/1kv", a.n_heads),
        AttentionKind::Standard => format!("gqa {}q/{}kv", a.n_heads, a.n_kv_heads),
    }
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => 0.5 * (xs[n / 2 - 1] + xs[n / 2]),
    }
}

/// Forward time of LayerNorm (with gain and bias) and RMSNorm (with gain) in f32 on one
/// `[rows, d_model]` activation: the median of `reps` timed runs after one warm-up, as
/// `layernorm (candle)` and `rmsnorm (candle)`. The ops are those of `model::norm`
/// (eps 1e-5), op for op, on candle's CPU backend.
pub fn norm_timing(d_model: usize, rows: usize, reps: usize) -> Result<Vec<NormTiming>> {
    if d_model == 0 || rows == 0 || reps == 0 {
        return Err(Error::invalid(
            "norm_timing",
            "d_model, rows and reps must be at least 1",
        ));
    }
    let dev = Device::Cpu;
    // Deterministic activations with a non-zero mean, so LayerNorm's centring matters.
    let xs: Vec<f32> = (0..rows * d_model)
        .map(|i| (i.wrapping_mul(2654435761) % 1000) as f32 / 500.0 - 0.9)
        .collect();
    let x = Tensor::from_vec(xs, (rows, d_model), &dev)?;
    let gain = Tensor::ones(d_model, candle_core::DType::F32, &dev)?;
    let bias = Tensor::zeros(d_model, candle_core::DType::F32, &dev)?;
    let layer = |x: &Tensor| -> Result<Tensor> {
        let xc = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
        let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
        let y = xc.broadcast_div(&(var + 1e-5)?.sqrt()?)?;
        Ok(y.broadcast_mul(&gain)?.broadcast_add(&bias)?)
    };
    let rms = |x: &Tensor| -> Result<Tensor> {
        let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
        Ok(x.broadcast_div(&(ms + 1e-5)?.sqrt()?)?
            .broadcast_mul(&gain)?)
    };
    let (ln_engine, rms_engine) =
        engine_norm_timing(&x.flatten_all()?.to_vec1::<f32>()?, d_model, reps)?;
    let ln_us = time_us(reps, || layer(&x))?;
    let rms_us = time_us(reps, || rms(&x))?;
    let row = |norm: &str, (microseconds, samples_us): (f64, Vec<f64>)| NormTiming {
        norm: norm.to_string(),
        rows,
        d_model,
        microseconds,
        samples_us,
    };
    Ok(vec![
        row("layernorm", ln_engine),
        row("rmsnorm", rms_engine),
        row("layernorm (candle)", ln_us),
        row("rmsnorm (candle)", rms_us),
    ])
}

/// The engine's LayerNorm (gain and bias) and RMSNorm (gain) over the rows of `x`, into
/// a preallocated output as the engine runs them: (median, samples) per norm.
fn engine_norm_timing(
    x: &[f32],
    d_model: usize,
    reps: usize,
) -> Result<((f64, Vec<f64>), (f64, Vec<f64>))> {
    let mut w = Weights::default();
    w.insert(
        "n.weight",
        Tensor::ones(d_model, candle_core::DType::F32, &Device::Cpu)?,
    );
    w.insert(
        "n.bias",
        Tensor::zeros(d_model, candle_core::DType::F32, &Device::Cpu)?,
    );
    let cfg = |kind| NormConfig { kind, eps: 1e-5 };
    let ln = RowNorm::load(&w, "n", cfg(NormKind::LayerNorm { bias: true }), d_model)?;
    let rms = RowNorm::load(
        &w,
        "n",
        cfg(NormKind::RmsNorm { offset_one: false }),
        d_model,
    )?;
    let mut out = vec![0f32; x.len()];
    let mut time = |n: &RowNorm| {
        n.apply(x, &mut out);
        let mut times: Vec<f64> = (0..reps)
            .map(|_| {
                let t = Instant::now();
                n.apply(x, &mut out);
                std::hint::black_box(&out);
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        let all = times.clone();
        (median(&mut times), all)
    };
    Ok((time(&ln), time(&rms)))
}

/// Median microseconds of `reps` calls of `f` after one warm-up call, and every call's.
fn time_us(reps: usize, f: impl Fn() -> Result<Tensor>) -> Result<(f64, Vec<f64>)> {
    f()?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        let y = f()?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
        drop(y);
    }
    let all = times.clone();
    Ok((median(&mut times), all))
}
