//! One entry point for loading a model from a path: an HF checkpoint folder (config.json
//! + safetensors) today; GGUF files join here.

use std::path::Path;

use crate::config::ModelConfig;
use crate::weights::Weights;
use crate::{families, Error, Result};

/// Loads config and canonical weights from `path`.
pub fn load(path: &Path) -> Result<(ModelConfig, Weights)> {
    if !path.exists() {
        return Err(Error::Io { path: path.into(), source: std::io::Error::from(std::io::ErrorKind::NotFound) });
    }
    if path.is_dir() {
        return families::load_hf_dir(path);
    }
    Err(Error::bad_file(path, "not a checkpoint folder (expected a folder with config.json and *.safetensors)"))
}
