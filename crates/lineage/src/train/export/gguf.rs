//! `write_gguf`: a GGUF v3 file for llama.cpp, staged under a temporary name and renamed.
//! Tensor types follow convert_hf_to_gguf.py `prepare_tensors`: 1-D tensors, `*_norm`,
//! the MoE router `ffn_gate_inp`, `position_embd` and `rope_freqs` stay F32; every other
//! matrix gets the requested type, except that Q8_0 rows which are not whole 32-element
//! blocks stay F32.

use std::path::Path;

use super::gguf_arch::{arch_kvs, gguf_arch};
use super::gguf_writer::{write_gguf_file, TensorSpec};
use super::quant::{f16_bytes, q8_0_bytes};
use super::{gguf_tensors, gguf_vocab, out_path, tokenizer_json};
use crate::config::ModelConfig;
use crate::kernels::quant::GgmlType;
use crate::weights::Weights;
use crate::{Error, Result};

/// Storage type of the exported matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GgufDtype {
    #[default]
    F32,
    F16,
    Q8_0,
}

impl GgufDtype {
    /// `general.file_type` (gguf-py `LlamaFileType`: ALL_F32, MOSTLY_F16, MOSTLY_Q8_0).
    fn file_type(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q8_0 => 7,
        }
    }
}

/// The type tensor `name` of row-major `dims` is stored as.
pub(super) fn tensor_type(name: &str, dims: &[usize], dtype: GgufDtype) -> GgmlType {
    const ALWAYS_F32: [&str; 4] = [
        "_norm.weight",
        "ffn_gate_inp.weight",
        "position_embd.weight",
        "rope_freqs.weight",
    ];
    if dims.len() <= 1 || ALWAYS_F32.iter().any(|s| name.ends_with(s)) {
        return GgmlType::F32;
    }
    match dtype {
        GgufDtype::F32 => GgmlType::F32,
        GgufDtype::F16 => GgmlType::F16,
        GgufDtype::Q8_0 if dims[dims.len() - 1].is_multiple_of(32) => GgmlType::Q8_0,
        GgufDtype::Q8_0 => GgmlType::F32,
    }
}

fn encode(values: &[f32], cols: usize, ty: GgmlType) -> Vec<u8> {
    match ty {
        GgmlType::F16 => f16_bytes(values),
        GgmlType::Q8_0 => values.chunks_exact(cols).flat_map(q8_0_bytes).collect(),
        _ => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

/// Writes `cfg` + `w` (and the tokenizer, when given) as the GGUF file `out`, which must
/// not exist.
pub fn write_gguf(
    cfg: &ModelConfig,
    w: &Weights,
    tokenizer: Option<&Path>,
    dtype: GgufDtype,
    out: &Path,
) -> Result<()> {
    cfg.validate()?;
    let arch = gguf_arch(cfg)?;
    if out.is_dir() {
        return Err(Error::bad_file(
            out,
            "is a folder; --format gguf writes one file (e.g. model.gguf)",
        ));
    }
    out_path::check_free(out)?;
    let tok = tokenizer
        .map(|p| tokenizer_json::read(p, cfg.vocab_size))
        .transpose()?;
    let name = out
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("lineage");
    let mut kvs = arch_kvs(cfg, arch, dtype.file_type(), name);
    kvs.extend(gguf_vocab::vocab_kvs(tok.as_ref(), cfg.vocab_size)?);
    let tensors = gguf_tensors::tensors(cfg, arch, w)?;
    let specs: Vec<TensorSpec> = tensors
        .iter()
        .map(|(n, t)| TensorSpec {
            name: n.clone(),
            ne: t.dims().iter().rev().map(|&d| d as u64).collect(),
            ty: tensor_type(n, t.dims(), dtype),
        })
        .collect();
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| crate::train::run_files::io(parent, e))?;
    }
    let tmp = out_path::staging(out);
    let written = write_gguf_file(&tmp, &kvs, &specs, |i| {
        let (_, t) = &tensors[i];
        let cols = *t.dims().last().unwrap_or(&1);
        Ok(encode(
            &t.flatten_all()?.to_vec1::<f32>()?,
            cols,
            specs[i].ty,
        ))
    });
    if let Err(e) = written.and_then(|()| out_path::commit(&tmp, out)) {
        out_path::discard(&tmp);
        return Err(e);
    }
    Ok(())
}
