//! One entry point for loading a model from a path: an HF checkpoint folder (config.json
//! + safetensors) or a GGUF file.

use std::path::Path;

use crate::config::ModelConfig;
use crate::families::{self, GgufPrecision};
use crate::weights::Weights;
use crate::{Error, Result};

/// Numerics of the loaded weights.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// GGUF: keep matrices quantized (default) or dequantise everything to f32.
    pub gguf: GgufPrecision,
}

/// Loads config and canonical weights from `path` with default options.
pub fn load(path: &Path) -> Result<(ModelConfig, Weights)> {
    load_with(path, LoadOptions::default())
}

pub fn load_with(path: &Path, opts: LoadOptions) -> Result<(ModelConfig, Weights)> {
    if !path.exists() {
        return Err(Error::Io {
            path: path.into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    if path.is_dir() {
        return families::load_hf_dir(path);
    }
    if is_gguf(path)? {
        let (cfg, w, _) = families::load_gguf(path, opts.gguf)?;
        return Ok((cfg, w));
    }
    Err(Error::bad_file(
        path,
        "neither a checkpoint folder (config.json + *.safetensors) nor a GGUF file",
    ))
}

fn is_gguf(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|e| Error::Io {
        path: path.into(),
        source: e,
    })?;
    Ok(f.read_exact(&mut magic).is_ok() && &magic == b"GGUF"
        || path.extension().is_some_and(|e| e == "gguf"))
}

/// The tokenizer of a model: GGUF metadata, or `tokenizer.json` (+ `tokenizer_config.json`)
/// in a checkpoint folder.
pub fn load_tokenizer(path: &Path) -> Result<crate::text::Tokenizer> {
    if path.is_dir() {
        let json = path.join("tokenizer.json");
        if !json.is_file() {
            return Err(Error::bad_file(
                path,
                "no tokenizer.json in this folder (needed for text input)",
            ));
        }
        let cfg = path.join("tokenizer_config.json");
        return crate::text::Tokenizer::from_files(&json, cfg.is_file().then_some(cfg.as_path()));
    }
    let file = crate::weights::gguf::GgufFile::open(path)?;
    crate::text::Tokenizer::from_vocab(&families::gguf_vocab_spec(&file)?)
}
