//! Reading ids and writing results as safetensors, and loading a model by path.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use lineage::engine::KvType;
use lineage::model::Model;
use lineage::runtime::backend::Backend;

/// Reads `input_ids` (int64 `[B, T]`) from a safetensors file.
pub fn read_ids(path: &Path) -> Result<Tensor> {
    let map = candle_core::safetensors::load(path, &Device::Cpu)
        .with_context(|| format!("reading {}", path.display()))?;
    let ids = map
        .get("input_ids")
        .with_context(|| format!("{}: no tensor `input_ids`", path.display()))?;
    if ids.rank() != 2 {
        bail!(
            "{}: `input_ids` must be [batch, seq], found {:?}",
            path.display(),
            ids.dims()
        );
    }
    if !matches!(ids.dtype(), DType::I64 | DType::U32 | DType::U8) {
        bail!(
            "{}: `input_ids` must be int64, found {:?}",
            path.display(),
            ids.dtype()
        );
    }
    Ok(ids.to_dtype(DType::I64)?)
}

pub fn write(path: &Path, tensors: HashMap<String, Tensor>) -> Result<()> {
    candle_core::safetensors::save(&tensors, path)
        .with_context(|| format!("writing {}", path.display()))
}

/// Weight numerics for GGUF models.
#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
pub enum PrecisionArg {
    /// Quantized weights stay quantized; activations are quantized per block for the dot
    /// products (like llama.cpp).
    #[default]
    Quantized,
    /// Weights dequantised exactly to f32, f32 activations: the reference mode.
    F32,
}

/// Loads config and weights, applies the `--set` edits (values a GGUF cannot state,
/// e.g. `window=4096` for a llama-arch Mistral file), and prints what was loaded.
pub fn load_weights(
    path: &Path,
    precision: PrecisionArg,
    sets: &[String],
) -> Result<(lineage::ModelConfig, lineage::weights::Weights)> {
    let gguf = match precision {
        PrecisionArg::Quantized => lineage::families::GgufPrecision::Quantized,
        PrecisionArg::F32 => lineage::families::GgufPrecision::F32,
    };
    let opts = lineage::LoadOptions { gguf };
    let (mut cfg, w) =
        lineage::load_with(path, opts).with_context(|| format!("loading {}", path.display()))?;
    for s in sets {
        lineage::analysis::edit::apply_assignment(&mut cfg, s)
            .with_context(|| format!("--set {s}"))?;
        eprintln!("set {s}");
    }
    eprintln!(
        "loaded {} ({}): {}",
        path.display(),
        cfg.family,
        w.summary()
    );
    if !cfg.unknown_keys.is_empty() {
        eprintln!(
            "note: config keys not interpreted: {}",
            cfg.unknown_keys.join(", ")
        );
    }
    Ok((cfg, w))
}

/// Loads the candle model (every op differentiable; hidden states for `forward`).
pub fn load_model(path: &Path, precision: PrecisionArg, sets: &[String]) -> Result<Model> {
    let (cfg, w) = load_weights(path, precision, sets)?;
    Ok(Model::new(&cfg, &w)?)
}

/// Loads the inference engine, its KV cache storing `kv`.
pub fn load_backend(
    path: &Path,
    precision: PrecisionArg,
    sets: &[String],
    kv: KvType,
) -> Result<Backend> {
    let (cfg, w) = load_weights(path, precision, sets)?;
    let b = Backend::new(&cfg, &w)?.with_kv_type(kv)?;
    eprintln!("forward: {}", b.name());
    Ok(b)
}
