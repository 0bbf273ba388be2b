//! GGUF tensor infos: name, dims (ggml `ne` order: `ne[0]` is the contiguous axis),
//! type and offset into the aligned data section; checked against the file length.
//!
//! Reference: ggml `docs/gguf.md` (`gguf_tensor_info_t`), llama.cpp `gguf.cpp`
//! (offset alignment and size checks).

use super::cursor::Cursor;
use crate::kernels::quant::GgmlType;
use crate::limits::{MAX_TENSORS, MAX_TENSOR_ELEMENTS};
use crate::{Error, Result};

/// ggml's GGML_MAX_DIMS.
pub const MAX_DIMS: u32 = 4;
/// Smallest possible tensor info: empty name (8) + n_dims (4) + type (4) + offset (8).
const MIN_INFO_SIZE: u64 = 24;

/// Where one tensor lives.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// Dims in GGUF `ne` order (`dims[0]` varies fastest, i.e. columns of a matrix).
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Offset from the start of the data section (a multiple of the alignment).
    pub offset: u64,
    /// Bytes of data.
    pub size: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

fn read_one(c: &mut Cursor<'_>, alignment: u64) -> Result<TensorInfo> {
    let name = c.string("tensor name")?;
    let n_dims = c.u32("tensor dims")?;
    if n_dims > MAX_DIMS {
        return Err(c.error(format!(
            "tensor `{name}`: {n_dims} dims, at most {MAX_DIMS} are allowed"
        )));
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        dims.push(c.u64("tensor dim")?);
    }
    let id = c.u32("tensor type")?;
    let ggml_type = GgmlType::from_id(id).ok_or_else(|| Error::UnsupportedTensorType {
        tensor: name.clone(),
        ggml_type: id,
    })?;
    let offset = c.u64("tensor offset")?;
    let n_elements = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    if n_elements.is_none_or(|n| n > MAX_TENSOR_ELEMENTS) {
        return Err(c.error(format!(
            "tensor `{name}`: dims {dims:?} make more than the {MAX_TENSOR_ELEMENTS} elements any real model has"
        )));
    }
    let size = n_elements
        .filter(|_| {
            dims.first()
                .is_none_or(|&d0| d0.is_multiple_of(ggml_type.block_size() as u64))
        })
        .and_then(|n| ggml_type.bytes_for(n))
        .ok_or_else(|| {
            c.error(format!(
                "tensor `{name}`: dims {dims:?} do not make whole {ggml_type} blocks or overflow"
            ))
        })?;
    if offset % alignment != 0 {
        return Err(c.error(format!(
            "tensor `{name}`: offset {offset} is not a multiple of the alignment {alignment}"
        )));
    }
    Ok(TensorInfo {
        name,
        dims,
        ggml_type,
        offset,
        size,
    })
}

/// Reads `n` tensor infos; duplicate names are an error.
pub(crate) fn read_tensor_infos(
    c: &mut Cursor<'_>,
    n: u64,
    alignment: u64,
) -> Result<Vec<TensorInfo>> {
    if n > MAX_TENSORS as u64 {
        return Err(c.error(format!(
            "{n} tensors, more than the {MAX_TENSORS} any real model has"
        )));
    }
    let n = c.check_fits(n, MIN_INFO_SIZE, "tensor")?;
    let mut infos = Vec::with_capacity(n);
    let mut seen = std::collections::HashSet::with_capacity(n);
    for _ in 0..n {
        let info = read_one(c, alignment)?;
        if !seen.insert(info.name.clone()) {
            return Err(c.error(format!("duplicate tensor name `{}`", info.name)));
        }
        infos.push(info);
    }
    Ok(infos)
}

/// Errors unless every tensor's data lies inside the file.
pub(crate) fn check_in_file(
    c: &Cursor<'_>,
    infos: &[TensorInfo],
    data_start: u64,
    file_len: u64,
) -> Result<()> {
    for t in infos {
        let end = data_start
            .checked_add(t.offset)
            .and_then(|s| s.checked_add(t.size));
        if end.is_none_or(|e| e > file_len) {
            return Err(Error::bad_file(
                c.path(),
                format!(
                    "tensor `{}`: data at offset {} + {} bytes (data section starts at {data_start}) lies outside the file of {file_len} bytes: truncated download?",
                    t.name, t.offset, t.size
                ),
            ));
        }
    }
    Ok(())
}
