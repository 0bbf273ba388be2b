//! Typed library errors. Every variant names the file, key or tensor at fault.

use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown architecture `{model_type}`; supported: {}", supported.join(", "))]
    UnknownArchitecture {
        model_type: String,
        supported: Vec<String>,
    },

    #[error("{family}: unsupported value {value} for `{key}`")]
    UnsupportedValue {
        family: String,
        key: String,
        value: String,
    },

    #[error("{family}: config is missing required key `{key}`")]
    MissingKey { family: String, key: String },

    #[error("invalid config: `{key}` {message}")]
    InvalidConfig { key: String, message: String },

    #[error("missing tensor `{name}`")]
    MissingTensor { name: String },

    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    #[error("{}: {message}", path.display())]
    BadFile { path: PathBuf, message: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("token id {id} is out of the vocabulary (size {vocab_size})")]
    TokenOutOfVocab { id: i64, vocab_size: usize },

    #[error("sequence of {len} tokens exceeds the model's context of {context_len}")]
    ContextOverflow { len: usize, context_len: usize },

    #[error("tensor `{tensor}`: ggml type {ggml_type} is not supported{}", hint_for_type(*ggml_type))]
    UnsupportedTensorType { tensor: String, ggml_type: u32 },

    #[error("{}: metadata key `{key}` {message}", path.display())]
    Metadata {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error(
        "unknown preset `{name}`{}; `lineage inspect --list` shows all",
        suggest(suggestions)
    )]
    UnknownPreset {
        name: String,
        suggestions: Vec<String>,
    },

    #[error("unknown config key `{key}`{}; keys: {valid}", suggest(suggestions))]
    UnknownConfigKey {
        key: String,
        suggestions: Vec<String>,
        valid: String,
    },

    #[error("bad input: {0}")]
    BadInput(String),

    #[error("training: {0}")]
    Train(String),

    #[error("tokenizer: {0}")]
    Tokenizer(String),

    #[error("chat template: {0}")]
    Template(String),

    #[error("chat template raised an exception: {0}")]
    TemplateException(String),

    #[error("tensor op: {0}")]
    Candle(#[from] candle_core::Error),
}

/// A short hint for the fix, shown after an unsupported ggml type id.
fn hint_for_type(id: u32) -> &'static str {
    match crate::kernels::quant::GgmlType::from_id(id) {
        Some(_) => " by the kernels yet; re-quantize to Q4_0/Q4_1/Q5_0/Q8_0 or a K-quant",
        None => " (unknown id: the file may be newer than this build, or corrupt)",
    }
}

fn suggest(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", names.join(", "))
    }
}

impl Error {
    pub(crate) fn invalid(key: &str, message: impl Into<String>) -> Self {
        Self::InvalidConfig {
            key: key.to_string(),
            message: message.into(),
        }
    }
    pub(crate) fn bad_file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::BadFile {
            path: path.into(),
            message: message.into(),
        }
    }
}
