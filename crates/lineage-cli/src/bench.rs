//! `lineage bench [--model M]`: load time, prefill tok/s for a P-token prompt, decode
//! tok/s over N tokens with the KV cache, peak RSS and threads, through the same forward
//! `lineage run` uses (the engine when the config is in its scope). The same work as
//! `bench/compare_llama_cpp.py` runs through llama.cpp.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use lineage::model::ops;

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
    /// Overrides a config value after loading (repeatable), e.g. `window=4096` for a
    /// llama-arch Mistral GGUF; the keys of `inspect --set`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(a: BenchArgs) -> Result<()> {
    let path = model_source::resolve(a.model.as_deref())?;
    let t0 = Instant::now();
    let model = io::load_backend(&path, a.precision, &a.set)?;
    let load_s = t0.elapsed().as_secs_f64();
    let vocab = model.config().vocab_size as u32;
    // Deterministic ids spread over the vocabulary.
    let ids: Vec<u32> = (0..a.prompt_tokens as u32)
        .map(|i| (i * 7919 + 13) % vocab)
        .collect();
    let mut seq = model.start();
    let t1 = Instant::now();
    let mut next = ops::argmax(seq.forward(&ids)?) as u32;
    let prefill_s = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    for _ in 0..a.gen_tokens {
        next = ops::argmax(seq.forward(&[next])?) as u32;
    }
    let decode_s = t2.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "model": path.display().to_string(),
        "forward": model.name(),
        "load_s": load_s,
        "prompt_tokens": a.prompt_tokens,
        "prefill_tok_s": a.prompt_tokens as f64 / prefill_s,
        "gen_tokens": a.gen_tokens,
        "decode_tok_s": a.gen_tokens as f64 / decode_s,
        "peak_rss_mib": peak_rss_mib(),
        "threads": lineage::kernels::pool::global().n_threads(),
    });
    if a.json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// Peak resident set (VmHWM) from /proc, where available.
fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
