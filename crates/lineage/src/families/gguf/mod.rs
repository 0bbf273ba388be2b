//! GGUF adapter: `{arch}.*` metadata -> canonical config, GGUF tensors -> canonical
//! weights. GGUF tensor names already are our canonical vocabulary (llama.cpp's), so the
//! per-architecture differences are data: a few renames, fused splits and flags.
//! Reference: llama.cpp `src/llama-model.cpp` (hparams), `src/llama-arch.cpp` (names),
//! `convert_hf_to_gguf.py` (what the converter changed: Q/K row permutation for llama,
//! `+1` folded into Gemma norms).

mod arch;
mod arch_classic;
mod arch_gemma;
mod arch_mla;
mod keys;
mod rope;
mod swa;
mod tensors;
mod vocab;

pub use keys::KeyReport;

pub use vocab::vocab_spec;

use std::path::Path;

use crate::config::ModelConfig;
use crate::weights::gguf::GgufFile;
use crate::weights::Weights;
use crate::Result;

pub use arch::supported;

/// How to materialise GGUF tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GgufPrecision {
    /// Quantized matrices stay quantized; matmuls run on the blocks (fast path).
    #[default]
    Quantized,
    /// Every tensor is dequantised exactly to f32 (the reference mode for checking).
    F32,
}

/// The canonical config of a GGUF file, without materialising any weight.
pub fn config_of(path: &Path) -> Result<ModelConfig> {
    key_report(path).map(|(cfg, _)| cfg)
}

/// The canonical config of a GGUF file and which `{arch}.*` keys built it (and which,
/// neutral, did not).
pub fn key_report(path: &Path) -> Result<(ModelConfig, KeyReport)> {
    key_report_of(&GgufFile::open(path)?)
}

/// [`key_report`] of a file already opened (or parsed from bytes).
pub fn key_report_of(file: &GgufFile) -> Result<(ModelConfig, KeyReport)> {
    let (cfg, keys) = arch::config_with_keys(file)?;
    cfg.validate()?;
    Ok((cfg, keys))
}

/// Loads a GGUF file: canonical config and weights.
pub fn load_gguf(
    path: &Path,
    precision: GgufPrecision,
) -> Result<(ModelConfig, Weights, GgufFile)> {
    let file = GgufFile::open(path)?;
    let (cfg, weights) = load_file(&file, precision)?;
    Ok((cfg, weights, file))
}

/// Config and weights of a file already opened (or parsed from bytes).
pub fn load_file(file: &GgufFile, precision: GgufPrecision) -> Result<(ModelConfig, Weights)> {
    let cfg = arch::config(file)?;
    cfg.validate()?;
    let weights = tensors::weights(file, &cfg, precision)?;
    Ok((cfg, weights))
}
