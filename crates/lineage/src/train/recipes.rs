//! Built-in small models to train from scratch, and how `--model` is resolved: a recipe,
//! an `inspect` preset (scaled down with `--set`), or a config.json path. Recipes are HF
//! config.json texts parsed by the family adapters like any checkpoint's config, so a
//! trained recipe exports back to the same family.

use serde_json::{json, Value};

use crate::analysis::{edit, presets};
use crate::config::ModelConfig;
use crate::{families, Error, Result};

/// `(name, what it is)` of every recipe.
pub const RECIPES: &[(&str, &str)] = &[
    ("gpt2-tiny", "GPT-2 (learned positions, LayerNorm, GELU MLP, MHA, biases, tied): 5 x 384, 6 heads, ~10M params at vocab 4096"),
    ("llama-tiny", "Llama 3 style (RoPE, RMSNorm, SwiGLU, GQA 6:2, no biases, tied): 5 x 384, ~9.5M params at vocab 4096"),
    ("mixtral-tiny", "Mixtral style MoE (8 experts, top-2, softmax router): 4 x 256, ~14M total / ~5M active params at vocab 4096"),
];

/// The HF config.json of a recipe with vocabulary `vocab`.
fn recipe_json(name: &str, vocab: usize) -> Option<Value> {
    let llama = |extra: Value| {
        let mut v = json!({
            "model_type": "llama", "vocab_size": vocab, "hidden_size": 384,
            "intermediate_size": 1024, "num_hidden_layers": 5, "num_attention_heads": 6,
            "num_key_value_heads": 2, "max_position_embeddings": 1024, "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0, "tie_word_embeddings": true, "hidden_act": "silu",
            "attention_bias": false, "mlp_bias": false
        });
        v.as_object_mut()?.extend(extra.as_object()?.clone());
        Some(v)
    };
    match name {
        "gpt2-tiny" => Some(json!({
            "model_type": "gpt2", "vocab_size": vocab, "n_embd": 384, "n_layer": 5,
            "n_head": 6, "n_positions": 1024, "activation_function": "gelu_new",
            "layer_norm_epsilon": 1e-5, "tie_word_embeddings": true
        })),
        "llama-tiny" => llama(json!({})),
        "mixtral-tiny" => llama(json!({
            "model_type": "mixtral", "hidden_size": 256, "intermediate_size": 512,
            "num_hidden_layers": 4, "num_attention_heads": 4, "num_local_experts": 8,
            "num_experts_per_tok": 2, "tie_word_embeddings": false
        })),
        _ => None,
    }
}

/// Resolves `--model` and applies the `--set` edits. `data_vocab` (the data's vocabulary)
/// sizes a recipe's embedding table; presets and files keep theirs unless edited.
pub fn resolve(spec: &str, sets: &[String], data_vocab: Option<usize>) -> Result<ModelConfig> {
    let vocab = data_vocab.unwrap_or(4096);
    let mut cfg = if let Some(v) = recipe_json(spec, vocab) {
        families::config_from_json(v)?
    } else if presets::find(spec).is_ok() {
        presets::config(spec)?
    } else if std::path::Path::new(spec).is_file() {
        families::config_from_json(families::read_config_file(spec.as_ref())?)?
    } else if std::path::Path::new(spec).join("config.json").is_file() {
        let p = std::path::Path::new(spec).join("config.json");
        families::config_from_json(families::read_config_file(&p)?)?
    } else {
        let names: Vec<&str> = RECIPES.iter().map(|(n, _)| *n).collect();
        return Err(Error::BadInput(format!(
            "--model `{spec}` is not a recipe ({}), an inspect preset (`lineage inspect --list`) \
             or a config.json",
            names.join(", ")
        )));
    };
    // All edits first, then one validation: intermediate states may be inconsistent
    // (n_heads=4 before head_dim=16).
    for s in sets {
        let (k, v) = s.split_once('=').ok_or_else(|| {
            Error::BadInput(format!("--set {s}: expected key=value, e.g. n_layers=4"))
        })?;
        edit::apply(&mut cfg, k.trim(), v.trim())?;
    }
    cfg.validate()?;
    Ok(cfg)
}
