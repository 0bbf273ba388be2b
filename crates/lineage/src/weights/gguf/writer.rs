//! A minimal GGUF v3 writer: for tests (fixtures, corrupt-file cases) and tools.
//!
//! Reference: ggml `docs/gguf.md`; mirrors gguf-py `GGUFWriter` (header, pairs, infos,
//! padding to the alignment, data with each tensor padded to the alignment).

use std::path::Path;

use super::metadata::MetaValue;
use super::DEFAULT_ALIGNMENT;
use crate::kernels::quant::GgmlType;
use crate::{Error, Result};

/// Collects pairs and tensors, then serializes them.
#[derive(Default)]
pub struct GgufWriter {
    kvs: Vec<(String, MetaValue)>,
    tensors: Vec<(String, Vec<u64>, GgmlType, Vec<u8>)>,
}

/// A GGUF string: u64 length, then the bytes (shared with the streaming export writer).
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// One metadata value in GGUF's little-endian encoding.
pub(crate) fn put_value(out: &mut Vec<u8>, v: &MetaValue) {
    match v {
        MetaValue::U8(x) => out.push(*x),
        MetaValue::I8(x) => out.push(*x as u8),
        MetaValue::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::Bool(x) => out.push(*x as u8),
        MetaValue::String(s) => put_str(out, s),
        MetaValue::Array(a) => {
            out.extend_from_slice(&(a.elem_type() as u32).to_le_bytes());
            out.extend_from_slice(&(a.len() as u64).to_le_bytes());
            out.extend_from_slice(a.encoded());
        }
        MetaValue::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
    }
}

fn pad_to(out: &mut Vec<u8>, alignment: usize) {
    out.resize(out.len().div_ceil(alignment) * alignment, 0);
}

impl GgufWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pair (`general.alignment` as U32 changes the padding).
    pub fn add_kv(&mut self, key: &str, value: MetaValue) -> &mut Self {
        self.kvs.push((key.to_string(), value));
        self
    }

    /// Adds a tensor with dims in GGUF `ne` order and its raw block bytes.
    pub fn add_tensor(
        &mut self,
        name: &str,
        dims: &[u64],
        ty: GgmlType,
        data: Vec<u8>,
    ) -> &mut Self {
        self.tensors
            .push((name.to_string(), dims.to_vec(), ty, data));
        self
    }

    fn alignment(&self) -> usize {
        self.kvs
            .iter()
            .find_map(|(k, v)| match (k.as_str(), v) {
                ("general.alignment", MetaValue::U32(a)) if a.is_power_of_two() => {
                    Some(*a as usize)
                }
                _ => None,
            })
            .unwrap_or(DEFAULT_ALIGNMENT as usize)
    }

    /// The file as bytes (GGUF v3).
    pub fn to_bytes(&self) -> Vec<u8> {
        let align = self.alignment();
        let mut out = Vec::new();
        out.extend_from_slice(b"GGUF");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.kvs.len() as u64).to_le_bytes());
        for (k, v) in &self.kvs {
            put_str(&mut out, k);
            out.extend_from_slice(&(v.meta_type() as u32).to_le_bytes());
            put_value(&mut out, v);
        }
        let mut offset = 0u64;
        for (name, dims, ty, data) in &self.tensors {
            put_str(&mut out, name);
            out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            dims.iter()
                .for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
            out.extend_from_slice(&ty.id().to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offset += (data.len() as u64).div_ceil(align as u64) * align as u64;
        }
        pad_to(&mut out, align);
        for (i, (_, _, _, data)) in self.tensors.iter().enumerate() {
            if i > 0 {
                pad_to(&mut out, align);
            }
            out.extend_from_slice(data);
        }
        out
    }

    /// Writes the file to `path`.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_bytes()).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
