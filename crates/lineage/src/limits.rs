//! Sizes no real model reaches. Files come from strangers: a file that claims more is
//! refused, naming the limit, before anything is allocated for it. Each bound sits well
//! above the largest published model it covers, so real files never meet it.

use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

/// Tensors in one file or checkpoint. The largest unmerged-expert checkpoints (Kimi K2,
/// DeepSeek-V3 with their scales) hold ~10^5; GGUF files, with experts merged, ~10^3.
pub const MAX_TENSORS: usize = 1 << 18;
/// Elements of one tensor: 6.9·10^10. The largest merged expert stack published
/// (384 experts x 7168 x 2048) holds 5.6·10^9.
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 36;
/// Dimensions of one tensor (ggml allows 4; safetensors files use up to 5 in practice).
pub const MAX_TENSOR_DIMS: usize = 8;
/// Transformer layers (the deepest published models have ~130): a config claiming more
/// would have lineage build per-layer tables of that length before anything else.
pub const MAX_LAYERS: usize = 1 << 12;
/// Vocabulary entries (tokens, merges). Real vocabularies stop near 2.6·10^5.
pub const MAX_VOCAB: usize = 1 << 22;
/// JSON side files: config.json, tokenizer_config.json, the shard index, tokenizer.json
/// (the largest real tokenizer.json, Gemma 3's, is ~33 MB).
pub const MAX_JSON_BYTES: u64 = 256 << 20;
/// A safetensors JSON header (the `safetensors` crate's own bound).
pub const MAX_SAFETENSORS_HEADER: usize = 100_000_000;
/// A chat template's source (real ones are 1-30 KB).
pub const MAX_TEMPLATE_BYTES: usize = 1 << 20;

/// Errors unless `count <= max`, naming `what` and the limit.
pub fn check_count(path: &Path, what: &str, count: u64, max: u64) -> Result<()> {
    if count > max {
        return Err(Error::bad_file(
            path,
            format!("{what}: {count} is more than the {max} any real model has; refusing the file"),
        ));
    }
    Ok(())
}

/// The layer count of a config, refused past `MAX_LAYERS` before any per-layer table.
pub fn layer_count(n: usize) -> Result<usize> {
    if n > MAX_LAYERS {
        return Err(Error::invalid(
            "n_layers",
            format!("{n} layers, more than the {MAX_LAYERS} any real model has"),
        ));
    }
    Ok(n)
}

/// Reads a text file of at most `MAX_JSON_BYTES`, refusing a larger one before reading.
pub fn read_json_text(path: &Path) -> Result<String> {
    let io = |source| Error::Io {
        path: path.into(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    check_count(path, "file size in bytes", len, MAX_JSON_BYTES)?;
    let mut text = String::with_capacity(len as usize);
    // `take` also bounds a file that grows while it is read.
    file.take(MAX_JSON_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    check_count(
        path,
        "file size in bytes",
        text.len() as u64,
        MAX_JSON_BYTES,
    )?;
    Ok(text)
}
