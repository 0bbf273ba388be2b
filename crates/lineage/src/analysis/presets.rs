//! Built-in presets: the published HF config.json of well-known models (files under
//! `crates/lineage/presets/`, written from the official hub configs), parsed through
//! `families::config_from_json` like any other config. Each preset names the published
//! parameter counts it should reproduce and notes what a count includes.

use serde_json::Value;

use super::nearest;
use crate::config::ModelConfig;
use crate::{families, Error, Result};

/// One preset: its config text, what it is, and any config rewrite needed before parsing.
pub struct Preset {
    pub name: &'static str,
    pub json: &'static str,
    /// One line: the model and its published sizes.
    pub about: &'static str,
    /// What the counts include or where the preset departs from the published config.
    pub note: Option<&'static str>,
    /// `(key, JSON value)` replacements applied before parsing (documented in `note`).
    pub rewrite: &'static [(&'static str, &'static str)],
}

macro_rules! preset {
    ($name:literal, $about:literal $(, note = $note:literal)? $(, rewrite = $rw:expr)?) => {
        Preset {
            name: $name,
            json: include_str!(concat!("../../presets/", $name, ".json")),
            about: $about,
            note: preset!(@opt $($note)?),
            rewrite: preset!(@rw $($rw)?),
        }
    };
    (@opt) => { None };
    (@opt $n:literal) => { Some($n) };
    (@rw) => { &[] };
    (@rw $r:expr) => { $r };
}

pub static PRESETS: &[Preset] = &[
    preset!("gpt2", "GPT-2 small (OpenAI 2019): 124M with the tied head counted once"),
    preset!("gpt2-medium", "GPT-2 medium: 355M"),
    preset!("gpt2-large", "GPT-2 large: 774M"),
    preset!("gpt2-xl", "GPT-2 XL: 1.56B"),
    preset!("gpt3-175b", "GPT-3 175B (Brown et al. 2020, Table 2.1) as a GPT-2-family config: 96 x 12288, 96 heads, ctx 2048",
        note = "GPT-3 alternates dense and locally banded sparse attention layers; the band does not change parameters and is not modelled in the KV/FLOP figures"),
    preset!("palm-540b", "PaLM 540B (Chowdhery et al. 2022, Table 1): 118 x 18432, 48 heads x 256, MQA, SwiGLU d_ff 73728, vocab 256k",
        note = "no HF config exists: synthetic `palm` model_type (parallel block, shared LayerNorm without bias, SwiGLU, MQA, RoPE, tied embeddings)"),
    preset!("llama-2-7b", "Llama 2 7B (Touvron et al. 2023): 6.74B"),
    preset!("llama-2-70b", "Llama 2 70B: 68.98B, GQA 8 KV heads"),
    preset!("llama-3.1-8b", "Llama 3.1 8B: 8.03B"),
    preset!("llama-3.1-70b", "Llama 3.1 70B: 70.55B"),
    preset!("llama-3.1-405b", "Llama 3.1 405B (Llama 3 paper, Table 3): 405B"),
    preset!("mistral-7b", "Mistral 7B v0.1: 7.24B, sliding window 4096 on every layer"),
    preset!("mixtral-8x7b", "Mixtral 8x7B: 46.7B total, 12.9B active (embeddings included)"),
    preset!("qwen2.5-7b", "Qwen2.5 7B: 7.61B"),
    preset!("qwen3-8b", "Qwen3 8B: 8.2B"),
    preset!("qwen3-235b-a22b", "Qwen3-235B-A22B: 235B total, 22B active"),
    preset!("deepseek-v2", "DeepSeek-V2: 236B total, 21B active"),
    preset!("deepseek-v3", "DeepSeek-V3: 671B total, 37B active",
        note = "counts the main model only: the multi-token-prediction module (num_nextn_predict_layers = 1, 14B more in the HF checkpoint's 685B) is not part of the causal LM"),
    preset!("gemma-3-27b", "Gemma 3 27B text model (gemma3_text): 27B, 5 local (1024) : 1 global layers",
        note = "text decoder only; the 0.4B SigLIP vision tower of the multimodal checkpoint is not counted"),
    preset!("gpt-oss-20b", "gpt-oss-20b: 20.91B total, 3.61B active (model card counts active without the embedding table)"),
    preset!("gpt-oss-120b", "gpt-oss-120b: 116.83B total, 5.13B active (model card counts active without the embedding table)"),
    preset!("smollm2-135m", "SmolLM2 135M: 134.5M, tied embeddings"),
];

/// Names of every preset, in listing order.
pub fn names() -> impl Iterator<Item = &'static str> {
    PRESETS.iter().map(|p| p.name)
}

/// The preset called `name` (case-insensitive), or an error suggesting near names.
pub fn find(name: &str) -> Result<&'static Preset> {
    PRESETS
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| Error::UnknownPreset {
            name: name.to_string(),
            suggestions: nearest(name, names()),
        })
}

impl Preset {
    /// The config.json value, with the preset's rewrite applied.
    pub fn value(&self) -> Result<Value> {
        let bad = |e: String| Error::BadInput(format!("preset `{}`: {e}", self.name));
        let mut v: Value = serde_json::from_str(self.json).map_err(|e| bad(e.to_string()))?;
        let obj = v
            .as_object_mut()
            .ok_or_else(|| bad("not a JSON object".into()))?;
        for (k, raw) in self.rewrite {
            obj.insert(
                k.to_string(),
                serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?,
            );
        }
        Ok(v)
    }

    /// The canonical config.
    pub fn config(&self) -> Result<ModelConfig> {
        families::config_from_json(self.value()?)
    }
}

/// Canonical config of the preset called `name`.
pub fn config(name: &str) -> Result<ModelConfig> {
    find(name)?.config()
}
