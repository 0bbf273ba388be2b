//! `lineage serve`: the OpenAI-compatible server (crates/lineage-serve) on a model.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, Result};
use lineage::engine::KvType;

use crate::{io, model_source};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// GGUF file or HF checkpoint folder (default: SmolLM2-135M-Instruct Q4_1, fetched once).
    #[arg(long, short)]
    model: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = io::PrecisionArg::Quantized)]
    precision: io::PrecisionArg,
    /// What the KV cache stores: f32 (exact) or f16 (half the memory, llama.cpp's
    /// default cache type).
    #[arg(long, default_value = "f32")]
    kv_type: KvType,
    /// Overrides a config value after loading (repeatable); the keys of `inspect --set`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Address to bind: loopback unless you choose otherwise.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Require `Authorization: Bearer KEY` on every /v1 route (also from LINEAGE_API_KEY).
    #[arg(long, env = "LINEAGE_API_KEY")]
    api_key: Option<String>,
    /// Sequences decoded at once.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// Requests that may wait for a slot; more are refused with 429.
    #[arg(long, default_value_t = 64)]
    queue: usize,
    /// Context per sequence (default and maximum: the model's).
    #[arg(long)]
    ctx_size: Option<usize>,
    /// Largest request body in bytes (larger: 413).
    #[arg(long, default_value_t = 2 << 20)]
    max_body: usize,
    /// Positions of earlier prompts kept for reuse by requests that start the same way
    /// (default: one context's worth; 0 turns prefix caching off).
    #[arg(long)]
    prefix_cache: Option<usize>,
}

pub fn run(a: ServeArgs) -> Result<()> {
    let path = model_source::resolve(a.model.as_deref())?;
    let model = io::load_backend(&path, a.precision, &a.set, a.kv_type)?;
    let tok = lineage::load_tokenizer(&path)
        .with_context(|| format!("loading the tokenizer of {}", path.display()))?;
    let model_name = path
        .file_stem()
        .map_or("lineage".into(), |s| s.to_string_lossy().into_owned());
    let cfg = lineage_serve::ServeConfig {
        addr: SocketAddr::new(a.host, a.port),
        api_key: a.api_key,
        parallel: a.parallel,
        queue: a.queue,
        ctx_size: a.ctx_size,
        max_body: a.max_body,
        prefix_cache: a.prefix_cache,
        model_name,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(lineage_serve::serve(cfg, model, tok))
}
