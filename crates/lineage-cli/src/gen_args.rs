//! Arguments shared by `run` and `chat`: the model, numerics and sampling.

use std::path::PathBuf;

use anyhow::{Context, Result};
use lineage::config::ChatFormat;
use lineage::engine::KvType;
use lineage::runtime::backend::Backend;
use lineage::runtime::sampler::SamplerConfig;
use lineage::text::Tokenizer;

use crate::{io, model_source};

#[derive(clap::Args, Debug, Clone)]
pub struct GenArgs {
    /// GGUF file or HF checkpoint folder (default: SmolLM2-135M-Instruct Q4_1, fetched once).
    #[arg(long, short)]
    pub model: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = io::PrecisionArg::Quantized)]
    pub precision: io::PrecisionArg,
    /// What the KV cache stores: f32 (exact), f16 (half the memory, llama.cpp's
    /// default cache type) or q8_0 (int8 with an f16 scale per 32 values, about a
    /// quarter of f32's memory, llama.cpp's `-ctk q8_0 -ctv q8_0`).
    #[arg(long, default_value = "f32")]
    pub kv_type: KvType,
    /// Overrides a config value after loading (repeatable), e.g. `window=4096` for a
    /// llama-arch Mistral GGUF; the keys of `inspect --set`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    /// 0 = greedy (argmax).
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    /// 0 = off.
    #[arg(long, default_value_t = 40)]
    pub top_k: usize,
    /// 1 = off.
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// 0 = off.
    #[arg(long, default_value_t = 0.05)]
    pub min_p: f32,
    /// 1 = off.
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    #[arg(long, default_value_t = 0.0)]
    pub presence_penalty: f32,
    #[arg(long, default_value_t = 0.0)]
    pub frequency_penalty: f32,
    /// Random seed (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop when this text appears (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    /// System message for the chat template.
    #[arg(long)]
    pub system: Option<String>,
    /// gpt-oss (harmony): do not print the reasoning (by default it goes to stderr,
    /// dimmed on a terminal; the answer goes to stdout).
    #[arg(long)]
    pub hide_reasoning: bool,
}

impl GenArgs {
    pub fn sampler(&self) -> SamplerConfig {
        let seed = self.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
        SamplerConfig {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repetition_penalty: self.repeat_penalty,
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            penalty_last_n: Some(64),
            seed,
        }
    }

    /// `chat`: the loaded model's format; harmony's special tokens stay in its text, where
    /// its channels are read from.
    pub fn options(&self, chat: ChatFormat) -> lineage::runtime::session::GenerateOptions {
        lineage::runtime::session::GenerateOptions {
            max_tokens: self.max_tokens,
            sampler: self.sampler(),
            stop: self.stop.clone(),
            logprobs: None,
            constraint: None,
            keep_special: chat.is_harmony(),
        }
    }

    /// The forward (engine or candle model) and the tokenizer.
    pub fn load(&self) -> Result<(Backend, Tokenizer)> {
        let path = model_source::resolve(self.model.as_deref())?;
        let model = io::load_backend(&path, self.precision, &self.set, self.kv_type)?;
        let tok = lineage::load_tokenizer(&path)
            .with_context(|| format!("loading the tokenizer of {}", path.display()))?;
        Ok((model, tok))
    }
}
