//! GGUF files (v2, v3): memory-mapped, every size and offset checked against the file
//! length before anything is allocated or sliced.
//!
//! Reference: ggml `docs/gguf.md`, llama.cpp `ggml/src/gguf.cpp`, gguf-py `gguf_reader.py`.
//! Layout: header, metadata pairs, tensor infos, padding to `general.alignment`
//! (default 32), then the data section that tensor offsets are relative to.

mod cursor;
mod header;
mod meta_array;
mod metadata;
mod tensor_info;
pub mod writer;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use meta_array::MetaArray;
pub use metadata::{MetaType, MetaValue, Metadata};
pub use tensor_info::TensorInfo;
pub use writer::GgufWriter;

use crate::kernels::quant::{QMatrix, SharedBytes};
use crate::{Error, Result};
use cursor::Cursor;

/// The alignment GGUF uses when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// An opened GGUF file: parsed metadata and tensor infos over the mapped bytes.
pub struct GgufFile {
    path: PathBuf,
    bytes: SharedBytes,
    version: u32,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    index: HashMap<String, usize>,
    alignment: u64,
    data_start: u64,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GgufFile({}, v{}, {} tensors)",
            self.path.display(),
            self.version,
            self.tensors.len()
        )
    }
}

impl GgufFile {
    /// Maps and parses `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the map is read-only; as with every mmap-based loader, the file must
        // not be truncated or modified while it is open.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::from_shared(path, Arc::new(map))
    }

    /// Parses bytes already in memory; `path` labels errors.
    pub fn from_vec(path: impl AsRef<Path>, bytes: Vec<u8>) -> Result<Self> {
        Self::from_shared(path.as_ref(), Arc::new(bytes))
    }

    fn from_shared(path: &Path, bytes: SharedBytes) -> Result<Self> {
        let buf: &[u8] = (*bytes).as_ref();
        let mut c = Cursor::new(buf, path);
        let h = header::read_header(&mut c)?;
        let metadata = header::read_metadata(&mut c, h.n_kv)?;
        let alignment = read_alignment(&metadata)?;
        let tensors = tensor_info::read_tensor_infos(&mut c, h.n_tensors, alignment)?;
        let data_start = (c.pos() as u64).div_ceil(alignment) * alignment;
        tensor_info::check_in_file(&c, &tensors, data_start, buf.len() as u64)?;
        let index = tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        let path = path.to_path_buf();
        Ok(Self {
            path,
            bytes,
            version: h.version,
            metadata,
            tensors,
            index,
            alignment,
            data_start,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn version(&self) -> u32 {
        self.version
    }
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }
    pub fn alignment(&self) -> u64 {
        self.alignment
    }
    /// Byte offset of the data section in the file.
    pub fn data_start(&self) -> u64 {
        self.data_start
    }
    /// Tensor infos in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The info of tensor `name`, or `MissingTensor`.
    pub fn tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.index
            .get(name)
            .map(|&i| &self.tensors[i])
            .ok_or_else(|| Error::MissingTensor { name: name.into() })
    }

    /// Absolute byte range of a tensor's data (checked in range at open).
    fn range(&self, t: &TensorInfo) -> (usize, usize) {
        let start = (self.data_start + t.offset) as usize;
        (start, start + t.size as usize)
    }

    /// The raw bytes of tensor `name` (blocks of its ggml type).
    pub fn tensor_bytes(&self, name: &str) -> Result<&[u8]> {
        let (start, end) = self.range(self.tensor(name)?);
        Ok(&(*self.bytes).as_ref()[start..end])
    }

    /// 3-D tensor `name` (GGUF `ne = [cols, rows, experts]`) as one quantized matrix per
    /// expert, each sharing its slice of the mapped bytes: an expert stack kept in its
    /// blocks. Each slice is checked to lie inside the tensor's data.
    pub fn qstack(&self, name: &str) -> Result<Vec<QMatrix>> {
        let t = self.tensor(name)?;
        let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
        let [cols, rows, experts] = dims[..] else {
            return Err(Error::ShapeMismatch {
                name: name.into(),
                expected: vec![0, 0, 0],
                found: dims,
            });
        };
        let (start, end) = self.range(t);
        let per = (end - start) / experts.max(1);
        (0..experts)
            .map(|e| {
                let q = QMatrix::from_shared(
                    name,
                    t.ggml_type,
                    [rows, cols],
                    Arc::clone(&self.bytes),
                    start + e * per,
                )?;
                if q.bytes().len() != per {
                    return Err(Error::BadInput(format!(
                        "tensor `{name}`: {} bytes per expert, its blocks need {}",
                        per,
                        q.bytes().len()
                    )));
                }
                Ok(q)
            })
            .collect()
    }

    /// Tensor `name` as a quantized matrix sharing the mapped bytes: GGUF `ne = [cols,
    /// rows, 1, 1]`; a 1-D tensor is one row.
    pub fn qmatrix(&self, name: &str) -> Result<QMatrix> {
        let t = self.tensor(name)?;
        let shape_err = || Error::ShapeMismatch {
            name: name.into(),
            expected: vec![0, 0],
            found: t.dims.iter().map(|&d| d as usize).collect(),
        };
        if t.dims.iter().skip(2).any(|&d| d != 1) || t.dims.is_empty() {
            return Err(shape_err());
        }
        let cols = usize::try_from(t.dims[0]).map_err(|_| shape_err())?;
        let rows = usize::try_from(*t.dims.get(1).unwrap_or(&1)).map_err(|_| shape_err())?;
        let (start, _) = self.range(t);
        QMatrix::from_shared(
            name,
            t.ggml_type,
            [rows, cols],
            Arc::clone(&self.bytes),
            start,
        )
    }
}

fn read_alignment(meta: &Metadata) -> Result<u64> {
    const KEY: &str = "general.alignment";
    if meta.get(KEY).is_none() {
        return Ok(DEFAULT_ALIGNMENT);
    }
    let a = meta.get_u32(KEY)? as u64;
    if a == 0 || !a.is_power_of_two() {
        return Err(meta.err(KEY, format!("{a} is not a power of two")));
    }
    Ok(a)
}
