//! `lineage generate MODEL --input IN --max-new-tokens N --greedy --out OUT`: appends N
//! greedy tokens per row using the KV cache and writes `ids` (int64 `[B, T + N]`).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use candle_core::{Device, Tensor};

use crate::io;

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Checkpoint folder (config.json + safetensors).
    model: PathBuf,
    /// safetensors file with `input_ids` (int64 [B, T]).
    #[arg(long)]
    input: PathBuf,
    #[arg(long, default_value_t = 16)]
    max_new_tokens: usize,
    /// Greedy decoding (argmax, ties to the lowest id); the only mode for id files.
    #[arg(long)]
    greedy: bool,
    #[arg(long)]
    out: PathBuf,
    /// Weight numerics (GGUF): quantized (fast) or f32 (exact reference).
    #[arg(long, value_enum, default_value_t = io::PrecisionArg::Quantized)]
    precision: io::PrecisionArg,
    /// Overrides a config value after loading (repeatable), e.g. `window=4096` for a
    /// llama-arch Mistral GGUF; the keys of `inspect --set`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

pub fn run(a: GenerateArgs) -> Result<()> {
    if !a.greedy {
        bail!("`generate` on id files supports --greedy only; use `lineage run` for sampling");
    }
    let model = io::load_model(&a.model, a.precision, &a.set)?;
    let ids = io::read_ids(&a.input)?;
    let rows = lineage::runtime::generate::greedy(&model, &ids, a.max_new_tokens)?;
    let (b, n) = (rows.len(), rows.first().map_or(0, Vec::len));
    let flat: Vec<i64> = rows.into_iter().flatten().map(i64::from).collect();
    let mut t = HashMap::new();
    t.insert(
        "ids".to_string(),
        Tensor::from_vec(flat, (b, n), &Device::Cpu)?,
    );
    io::write(&a.out, t)
}
