//! A config.json reader that remembers which keys an adapter read, so the keys it
//! did not interpret can be reported (`ModelConfig::unknown_keys`) instead of dropped.

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde_json::Value;

use crate::{Error, Result};

/// Keys that carry no architecture (bookkeeping, training-only, generation defaults).
const IGNORED: &[&str] = &[
    "architectures",
    "transformers_version",
    "dtype",
    "torch_dtype",
    "use_cache",
    "initializer_range",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "model_type",
    "output_router_logits",
    "router_aux_loss_coef",
    "router_jitter_noise",
    "tie_word_embeddings",
    "attention_dropout",
    "hidden_dropout",
    "embd_pdrop",
    "resid_pdrop",
    "attn_pdrop",
    "summary_activation",
    "summary_first_dropout",
    "summary_proj_to_labels",
    "summary_type",
    "summary_use_proj",
    "classifier_dropout",
    "pretraining_tp",
    "is_decoder",
    "_name_or_path",
    "add_cross_attention",
    "quantization_config",
    "generation_config",
    "id2label",
    "label2id",
];

/// A parsed config.json with read-tracking.
pub struct HfConfig {
    pub family: String,
    root: Value,
    read: RefCell<BTreeSet<String>>,
}

impl HfConfig {
    pub fn new(root: Value) -> Result<Self> {
        let family = root
            .get("model_type")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::MissingKey {
                family: "config.json".into(),
                key: "model_type".into(),
            })?
            .to_string();
        if !root.is_object() {
            return Err(Error::invalid("config.json", "must be a JSON object"));
        }
        Ok(Self {
            family,
            root,
            read: RefCell::new(BTreeSet::new()),
        })
    }

    /// The raw value of `key`, marking it read. Null counts as absent.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.read.borrow_mut().insert(key.to_string());
        self.root.get(key).filter(|v| !v.is_null())
    }

    pub fn has(&self, key: &str) -> bool {
        self.value(key).is_some()
    }

    pub fn usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?.ok_or_else(|| self.missing(key))
    }

    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| self.bad(key, v)),
        }
    }

    pub fn f64(&self, key: &str) -> Result<f64> {
        self.opt_f64(key)?.ok_or_else(|| self.missing(key))
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| self.bad(key, v)),
        }
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.value(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.bad(key, v)),
        }
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| self.bad(key, v)),
        }
    }

    /// First present key among `keys` (dialects and family spellings differ).
    pub fn usize_any(&self, keys: &[&str]) -> Result<usize> {
        for k in keys {
            if let Some(v) = self.opt_usize(k)? {
                return Ok(v);
            }
        }
        Err(self.missing(keys[0]))
    }

    pub fn missing(&self, key: &str) -> Error {
        Error::MissingKey {
            family: self.family.clone(),
            key: key.to_string(),
        }
    }

    pub fn bad(&self, key: &str, v: &Value) -> Error {
        self.unsupported(key, v.to_string())
    }

    pub fn unsupported(&self, key: &str, value: impl Into<String>) -> Error {
        Error::UnsupportedValue {
            family: self.family.clone(),
            key: key.to_string(),
            value: value.into(),
        }
    }

    /// Keys present in the file that no adapter code read.
    pub fn unread_keys(&self) -> Vec<String> {
        let read = self.read.borrow();
        let obj = self.root.as_object().expect("checked in new");
        obj.iter()
            .filter(|(k, v)| !v.is_null() && !read.contains(*k) && !IGNORED.contains(&k.as_str()))
            .filter(|(k, _)| !k.ends_with("_dropout") && !k.ends_with("_pdrop"))
            .map(|(k, _)| k.clone())
            .collect()
    }
}
