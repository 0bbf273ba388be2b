//! The parts of HF `tokenizer_config.json` the engine uses: BOS/EOS token text and the
//! chat template. Tokens may be plain strings or `{"content": ...}` objects (AddedToken).
//!
//! Reference: transformers `tokenization_utils_base.py` (`PreTrainedTokenizerBase`).

use std::path::Path;

use serde_json::Value;

use crate::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct HfTokenizerConfig {
    /// `bos_token`.
    pub bos_token: Option<String>,
    /// `eos_token`.
    pub eos_token: Option<String>,
    /// `chat_template`: a string, or the template named "default" of a list of {name, template}.
    pub chat_template: Option<String>,
}

impl HfTokenizerConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::limits::read_json_text(path)?;
        let json: Value =
            serde_json::from_str(&text).map_err(|e| Error::bad_file(path, e.to_string()))?;
        Ok(Self::from_json(&json))
    }

    pub fn from_json(json: &Value) -> Self {
        Self {
            bos_token: token_text(json.get("bos_token")),
            eos_token: token_text(json.get("eos_token")),
            chat_template: template(json.get("chat_template")),
        }
    }
}

fn token_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

fn template(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Array(list) => list
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
            .and_then(|t| t.get("template")?.as_str().map(str::to_string)),
        _ => None,
    }
}
