//! Family adapters: each maps one HF `model_type` (config.json keys and tensor names) onto
//! the canonical [`ModelConfig`] and canonical tensor names, and nothing more.

mod bloom;
mod common;
mod deepseek;
mod falcon;
mod fused_qkv;
mod gemma;
mod gguf;
mod gpt2;
mod gpt_neox;
mod gpt_oss;
pub use gguf::{
    config_of as gguf_config, key_report as gguf_key_report, key_report_of as gguf_key_report_of,
    load_file as load_gguf_file, load_gguf, supported as gguf_supported,
    vocab_spec as gguf_vocab_spec, GgufPrecision, KeyReport,
};
pub mod hf_config;
mod llama;
mod moe;
mod olmo2;
mod palm;
mod phi3;
pub mod rope_params;
pub mod tensor_map;

use std::path::Path;

use serde_json::Value;

use crate::config::ModelConfig;
use crate::weights::safetensors::Checkpoint;
use crate::weights::Weights;
use crate::{Error, Result};
use hf_config::HfConfig;
use tensor_map::TensorMap;

/// An adapter from one checkpoint family onto the canonical description.
pub trait Family: Sync {
    /// The HF `model_type` values it reads.
    fn model_types(&self) -> &'static [&'static str];
    /// config.json -> canonical config (validated by the caller).
    fn config(&self, hf: &HfConfig) -> Result<ModelConfig>;
    /// Checkpoint tensors -> canonical names.
    fn tensors(&self, cfg: &ModelConfig, hf: &HfConfig, m: &mut TensorMap) -> Result<()>;
}

static FAMILIES: &[&dyn Family] = &[
    &llama::Llama,
    &gpt2::Gpt2,
    &gpt_neox::GptNeox,
    &falcon::Falcon,
    &bloom::Bloom,
    &phi3::Phi3,
    &olmo2::Olmo2,
    &gemma::Gemma,
    &moe::SoftmaxMoe,
    &deepseek::DeepSeek,
    &gpt_oss::GptOss,
    &palm::Palm,
];

/// Every supported `model_type`.
pub fn supported() -> Vec<&'static str> {
    let mut v: Vec<_> = FAMILIES
        .iter()
        .flat_map(|f| f.model_types().iter().copied())
        .collect();
    v.sort();
    v
}

fn find(model_type: &str) -> Result<&'static dyn Family> {
    FAMILIES
        .iter()
        .copied()
        .find(|f| f.model_types().contains(&model_type))
        .ok_or_else(|| Error::UnknownArchitecture {
            model_type: model_type.to_string(),
            supported: supported().into_iter().map(String::from).collect(),
        })
}

/// Parses a config.json value into the canonical config.
pub fn config_from_json(v: Value) -> Result<ModelConfig> {
    let hf = HfConfig::new(v)?;
    let fam = find(&hf.family)?;
    let mut cfg = fam.config(&hf)?;
    cfg.unknown_keys = hf.unread_keys();
    cfg.validate()?;
    Ok(cfg)
}

/// Reads `config.json` of a checkpoint folder (or a config file itself).
pub fn read_config_file(path: &Path) -> Result<Value> {
    let file = if path.is_dir() {
        path.join("config.json")
    } else {
        path.to_path_buf()
    };
    let text = crate::limits::read_json_text(&file)?;
    serde_json::from_str(&text).map_err(|e| Error::bad_file(&file, format!("invalid JSON: {e}")))
}

/// Loads an HF checkpoint folder: canonical config and canonical weights.
pub fn load_hf_dir(dir: &Path) -> Result<(ModelConfig, Weights)> {
    load_hf_dir_with_config(dir, &dir.join("config.json"))
}

/// Like [`load_hf_dir`] with an explicit config file (e.g. `config.legacy.json`).
pub fn load_hf_dir_with_config(dir: &Path, config: &Path) -> Result<(ModelConfig, Weights)> {
    let hf = HfConfig::new(read_config_file(config)?)?;
    let fam = find(&hf.family)?;
    let mut cfg = fam.config(&hf)?;
    cfg.unknown_keys = hf.unread_keys();
    cfg.validate()?;
    let ck = Checkpoint::open_dir(dir)?;
    let mut map = TensorMap::new(&ck);
    fam.tensors(&cfg, &hf, &mut map)?;
    Ok((cfg, map.finish()?))
}
