//! `lineage bench --roofline`: how close a measured decode and prefill came to the limits
//! of this machine. Decode reads every weight it uses once per token (routed experts:
//! `top_k` of `n_experts`) and the KV cache, so its limit is those bytes over the read
//! bandwidth; prefill's is the FLOPs per token over the FMA peak, where the LM head runs
//! once per prompt (for the last position's logits), not once per token. Both machine
//! figures are measured here, with every thread of the kernel pool.

use anyhow::Result;
use lineage::analysis::{flops, kv_cache, params, KvDtype};
use lineage::engine::KvType;
use lineage::kernels::probe;
use lineage::weights::Weights;
use lineage::ModelConfig;

pub fn report(
    cfg: &ModelConfig,
    w: &Weights,
    kv_type: KvType,
    prompt: usize,
    gen: usize,
    prefill_tok_s: f64,
    decode_tok_s: f64,
) -> Result<serde_json::Value> {
    let weights = weight_bytes_per_token(cfg, w);
    let kv_dtype = match kv_type {
        KvType::F32 => KvDtype::F32,
        KvType::F16 => KvDtype::F16,
        KvType::Q8_0 => KvDtype::Q8_0,
    };
    let kv = kv_cache::bytes_at(cfg, kv_dtype, prompt + gen / 2)?;
    let bytes = weights + kv;
    let bw = probe::read_bandwidth();
    let head = 2 * (cfg.vocab_size * cfg.d_model) as u64;
    let all = flops::per_token(cfg, &params::count(cfg)?, prompt.div_ceil(2))?.total;
    let fl = all - head + head / prompt.max(1) as u64;
    let peak = probe::fma_peak();
    let (decode_limit, prefill_limit) = (bw / bytes as f64, peak / fl as f64);
    Ok(serde_json::json!({
        "decode_bytes_per_token": bytes,
        "decode_weight_bytes_per_token": weights,
        "decode_kv_bytes_per_token": kv,
        "read_bandwidth_gb_s": bw / 1e9,
        "decode_limit_tok_s": decode_limit,
        "decode_of_limit": decode_tok_s / decode_limit,
        "prefill_flops_per_token": fl,
        "fma_peak_gflop_s": peak / 1e9,
        "prefill_limit_tok_s": prefill_limit,
        "prefill_of_limit": prefill_tok_s / prefill_limit,
    }))
}

/// Resident bytes a decode step reads: every weight, less the embedding lookups (a row
/// each) unless the head shares the table, and only `top_k` of `n_experts` experts.
fn weight_bytes_per_token(cfg: &ModelConfig, w: &Weights) -> u64 {
    let routed = cfg
        .ffn
        .moe
        .as_ref()
        .map_or(1.0, |m| m.top_k as f64 / m.n_experts.max(1) as f64);
    w.iter()
        .map(|(name, wt)| {
            let b = wt.resident_bytes() as f64;
            match name {
                "position_embd.weight" => 0.0,
                "token_embd.weight" if !cfg.embedding.tied_lm_head => 0.0,
                n if n.contains("_exps.") => b * routed,
                _ => b,
            }
        })
        .sum::<f64>() as u64
}
