//! `lineage bench [--model M]`: load time, prefill tok/s for a P-token prompt, decode
//! tok/s over N tokens with the KV cache, peak RSS and threads, through the same forward
//! `lineage run` uses (the engine when the config is in its scope). The same work as
//! `bench/compare_llama_cpp.py` runs through llama.cpp. With `--batch N`, also the
//! aggregate decode tok/s of N sequences stepped together in one batched forward per
//! token (what `lineage serve` does with N streams).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use lineage::engine::KvType;
use lineage::model::ops;
use lineage::runtime::backend::Backend;

use crate::{io, model_source};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Model path (default: SmolLM2-135M-Instruct Q4_1).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Prompt length for the prefill measurement.
    #[arg(long, default_value_t = 128)]
    prompt_tokens: usize,
    /// Tokens generated for the decode measurement.
    #[arg(long, default_value_t = 128)]
    gen_tokens: usize,
    #[arg(long, value_enum, default_value_t = io::PrecisionArg::Quantized)]
    precision: io::PrecisionArg,
    /// What the KV cache stores: f32 (exact) or f16 (half the memory, llama.cpp's
    /// default cache type).
    #[arg(long, default_value = "f32")]
    kv_type: KvType,
    /// Overrides a config value after loading (repeatable), e.g. `window=4096` for a
    /// llama-arch Mistral GGUF; the keys of `inspect --set`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Also decode this many sequences together (one batched forward per step).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Also decode greedily with speculative drafts: `lookup` (prompt lookup) or the path
    /// of a draft model with the same vocabulary; reports acceptance and speed-up.
    #[arg(long, value_name = "lookup|DRAFT_MODEL")]
    speculative: Option<String>,
    /// Also measure this machine's read bandwidth and FMA peak and say how close decode
    /// and prefill came to the limits they set.
    #[arg(long)]
    roofline: bool,
    /// Tokens per draft (at most 15).
    #[arg(long, default_value_t = 8)]
    draft_k: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(a: BenchArgs) -> Result<()> {
    let path = model_source::resolve(a.model.as_deref())?;
    let t0 = Instant::now();
    let (cfg, w) = io::load_weights(&path, a.precision, &a.set)?;
    let model = Backend::new(&cfg, &w)?.with_kv_type(a.kv_type)?;
    eprintln!("forward: {}", model.name());
    let load_s = t0.elapsed().as_secs_f64();
    let vocab = model.config().vocab_size as u32;
    // Deterministic ids spread over the vocabulary.
    let ids: Vec<u32> = (0..a.prompt_tokens as u32)
        .map(|i| (i * 7919 + 13) % vocab)
        .collect();
    // Warm-up, as llama-bench's: the same prompt and one decode step on a sequence of its
    // own, so the timed runs find the weights paged in and the buffers grown.
    let mut warm = model.start();
    let first = ops::argmax(warm.forward(&ids)?) as u32;
    warm.forward(&[first])?;
    drop(warm);
    let mut seq = model.start();
    let t1 = Instant::now();
    let mut next = ops::argmax(seq.forward(&ids)?) as u32;
    let prefill_s = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    for _ in 0..a.gen_tokens {
        next = ops::argmax(seq.forward(&[next])?) as u32;
    }
    let decode_s = t2.elapsed().as_secs_f64();
    let kv_bytes = seq.kv_bytes_per_token();
    drop(seq);
    let batch = (a.batch > 1)
        .then(|| batch_decode(&model, a.batch, a.prompt_tokens, a.gen_tokens))
        .transpose()?;
    let mut report = serde_json::json!({
        "model": path.display().to_string(),
        "forward": model.name(),
        "load_s": load_s,
        "prompt_tokens": a.prompt_tokens,
        "prefill_tok_s": a.prompt_tokens as f64 / prefill_s,
        "gen_tokens": a.gen_tokens,
        "decode_tok_s": a.gen_tokens as f64 / decode_s,
        "peak_rss_mib": peak_rss_mib(),
        "threads": lineage::kernels::pool::global().n_threads(),
        "kv_bytes_per_token": kv_bytes,
        "kv_type": a.kv_type.to_string(),
        "act": match lineage::kernels::quant::ActPrecision::for_linear() {
            lineage::kernels::quant::ActPrecision::Int8 => "int8",
            lineage::kernels::quant::ActPrecision::F32 => "f32",
        },
    });
    if let Some(tok_s) = batch {
        report["batch"] = a.batch.into();
        report["batch_decode_tok_s"] = tok_s.into();
    }
    if let Some(spec) = &a.speculative {
        let draft = match spec.as_str() {
            "lookup" => None,
            p => Some(io::load_backend(
                std::path::Path::new(p),
                a.precision,
                &[],
                a.kv_type,
            )?),
        };
        report["speculative"] = crate::bench_spec::run(
            &model,
            draft.as_ref(),
            a.draft_k,
            a.prompt_tokens,
            a.gen_tokens,
        )?;
    }
    if a.roofline {
        let (prefill, decode) = (
            report["prefill_tok_s"].clone(),
            report["decode_tok_s"].clone(),
        );
        let (p, d) = (
            prefill.as_f64().unwrap_or(0.0),
            decode.as_f64().unwrap_or(0.0),
        );
        report["roofline"] =
            crate::roofline::report(&cfg, &w, a.kv_type, a.prompt_tokens, a.gen_tokens, p, d)?;
    }
    if a.json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// Aggregate decode tok/s of `n` sequences (distinct prompts of `prompt` ids) decoded
/// `gen` greedy steps together, each step one batched forward.
fn batch_decode(model: &Backend, n: usize, prompt: usize, gen: usize) -> Result<f64> {
    let vocab = model.config().vocab_size as u32;
    let mut seqs: Vec<_> = (0..n).map(|_| model.start()).collect();
    let mut next = Vec::with_capacity(n);
    // Prefilled through the batch's scratch too, as the server does: the sequences then
    // hold only their caches.
    let mut scratch = model.new_batch();
    for (s, seq) in seqs.iter_mut().enumerate() {
        let ids: Vec<u32> = (0..prompt as u32)
            .map(|i| (i * 7919 + 13 + 101 * s as u32) % vocab)
            .collect();
        let logits = model.forward_batch(&mut scratch, &mut [(seq, &ids[..])])?;
        next.push(ops::argmax(logits) as u32);
    }
    let t = Instant::now();
    for _ in 0..gen {
        let ids: Vec<[u32; 1]> = next.iter().map(|&t| [t]).collect();
        let mut items: Vec<_> = seqs
            .iter_mut()
            .zip(&ids)
            .map(|(s, i)| (s, &i[..]))
            .collect();
        let logits = model.forward_batch(&mut scratch, &mut items)?;
        let v = logits.len() / n;
        for (k, t) in next.iter_mut().enumerate() {
            *t = ops::argmax(&logits[k * v..(k + 1) * v]) as u32;
        }
    }
    Ok((n * gen) as f64 / t.elapsed().as_secs_f64())
}

/// Peak resident set (VmHWM) from /proc, where available.
fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
