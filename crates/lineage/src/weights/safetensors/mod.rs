//! Memory-mapped safetensors checkpoints: one file, or shards listed in
//! `model.safetensors.index.json`. Format: 8-byte LE header length, JSON header
//! (`dtype`, `shape`, `data_offsets` per tensor), then the data. Every offset is checked
//! against the file before use.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use memmap2::Mmap;
use serde_json::Value;

mod header;

use crate::limits::{
    self, MAX_SAFETENSORS_HEADER, MAX_TENSORS, MAX_TENSOR_DIMS, MAX_TENSOR_ELEMENTS,
};
use crate::{Error, Result};

/// Location and type of one tensor inside a file.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub dtype: DType,
    pub shape: Vec<usize>,
    start: usize,
    end: usize,
    file: usize,
}

/// All tensors of a checkpoint, by their names in the files.
pub struct Checkpoint {
    files: Vec<(PathBuf, Mmap)>,
    tensors: HashMap<String, TensorInfo>,
}

impl Checkpoint {
    /// Opens `model.safetensors`, the shards of `model.safetensors.index.json`, or every
    /// `*.safetensors` file of a folder.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        let index = dir.join("model.safetensors.index.json");
        let paths = if index.exists() {
            shard_paths(&index)?
        } else if dir.join("model.safetensors").exists() {
            vec![dir.join("model.safetensors")]
        } else {
            let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| Error::Io {
                    path: dir.into(),
                    source: e,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
                .collect();
            v.sort();
            v
        };
        if paths.is_empty() {
            return Err(Error::bad_file(dir, "no *.safetensors file in this folder"));
        }
        Self::open_files(&paths)
    }

    pub fn open_files(paths: &[PathBuf]) -> Result<Self> {
        let mut ck = Self {
            files: Vec::new(),
            tensors: HashMap::new(),
        };
        for p in paths {
            let file = File::open(p).map_err(|e| Error::Io {
                path: p.clone(),
                source: e,
            })?;
            // SAFETY: read-only map; the file is not modified while the checkpoint lives.
            let mmap = unsafe { Mmap::map(&file) }.map_err(|e| Error::Io {
                path: p.clone(),
                source: e,
            })?;
            let idx = ck.files.len();
            for (name, info) in parse_header(p, &mmap, idx)? {
                if ck.tensors.contains_key(&name) {
                    let msg = format!(
                        "tensor `{name}` is stored twice (in this file or an earlier shard)"
                    );
                    return Err(Error::bad_file(p, msg));
                }
                ck.tensors.insert(name, info);
            }
            let n = ck.tensors.len() as u64;
            limits::check_count(p, "tensor count of the checkpoint", n, MAX_TENSORS as u64)?;
            ck.files.push((p.clone(), mmap));
        }
        Ok(ck)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    pub fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors.get(name).ok_or_else(|| Error::MissingTensor {
            name: name.to_string(),
        })
    }

    /// Raw little-endian bytes of a tensor.
    pub fn bytes(&self, name: &str) -> Result<&[u8]> {
        let info = self.info(name)?;
        Ok(&self.files[info.file].1[info.start..info.end])
    }

    /// A tensor converted to f32 on the CPU.
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let info = self.info(name)?;
        let t = Tensor::from_raw_buffer(self.bytes(name)?, info.dtype, &info.shape, &Device::Cpu)?;
        Ok(t.to_dtype(DType::F32)?)
    }
}

fn shard_paths(index: &Path) -> Result<Vec<PathBuf>> {
    shard_files(index, &crate::limits::read_json_text(index)?)
}

/// The shard files that `model.safetensors.index.json` (read from `index`, text `text`)
/// lists, each once, beside the index. A shard name that leaves the folder is refused.
pub fn shard_files(index: &Path, text: &str) -> Result<Vec<PathBuf>> {
    let v: Value = serde_json::from_str(text).map_err(|e| Error::bad_file(index, e.to_string()))?;
    let map = v
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::bad_file(index, "missing `weight_map` object"))?;
    let mut files = Vec::new();
    for (tensor, f) in map {
        let f = f.as_str().ok_or_else(|| {
            Error::bad_file(
                index,
                format!("`weight_map` entry `{tensor}` is not a file name"),
            )
        })?;
        let p = Path::new(f);
        let plain = p
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain || f.is_empty() {
            return Err(Error::bad_file(
                index,
                format!(
                    "shard `{f}` of `{tensor}` is not a file name inside the checkpoint folder"
                ),
            ));
        }
        files.push(f.to_string());
    }
    files.sort();
    files.dedup();
    let dir = index.parent().unwrap_or(Path::new("."));
    Ok(files.into_iter().map(|f| dir.join(f)).collect())
}

fn parse_dtype(path: &Path, name: &str, s: &str) -> Result<DType> {
    Ok(match s {
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "F64" => DType::F64,
        "U8" => DType::U8,
        "I64" => DType::I64,
        "U32" => DType::U32,
        other => {
            return Err(Error::bad_file(
                path,
                format!("tensor `{name}` has unsupported dtype {other}"),
            ))
        }
    })
}

/// The tensors a safetensors file's bytes describe, each checked to lie in the data.
pub fn read_header(path: &Path, buf: &[u8]) -> Result<Vec<(String, TensorInfo)>> {
    parse_header(path, buf, 0)
}

fn parse_header(path: &Path, buf: &[u8], file: usize) -> Result<Vec<(String, TensorInfo)>> {
    let bad = |m: String| Error::bad_file(path, m);
    if buf.len() < 8 {
        return Err(bad(format!(
            "truncated: {} bytes, no safetensors header",
            buf.len()
        )));
    }
    let n = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
    limits::check_count(path, "header bytes", n, MAX_SAFETENSORS_HEADER as u64)?;
    let n = n as usize;
    if n > buf.len() - 8 {
        return Err(bad(format!(
            "truncated: header of {n} bytes but file has {}",
            buf.len()
        )));
    }
    let header: header::Header =
        serde_json::from_slice(&buf[8..8 + n]).map_err(|e| bad(format!("corrupt header: {e}")))?;
    let data_len = buf.len() - 8 - n;
    let mut out = Vec::with_capacity(header.0.len());
    for (name, raw) in header.0 {
        let (dtype, shape, (s, e)) = check_entry(path, &name, raw)?;
        let need = shape
            .iter()
            .product::<usize>()
            .saturating_mul(dtype.size_in_bytes());
        if e < s || e > data_len || e - s != need {
            return Err(bad(format!(
                "tensor `{name}`: data [{s}, {e}) does not fit {need} bytes within the {data_len} data bytes (truncated or corrupt)"
            )));
        }
        out.push((
            name,
            TensorInfo {
                dtype,
                shape,
                start: 8 + n + s,
                end: 8 + n + e,
                file,
            },
        ));
    }
    Ok(out)
}

type Entry = (DType, Vec<usize>, (usize, usize));

fn check_entry(path: &Path, name: &str, raw: header::RawEntry) -> Result<Entry> {
    let dtype = parse_dtype(path, name, &raw.dtype)?;
    let what = format!("tensor `{name}` dims");
    limits::check_count(path, &what, raw.shape.len() as u64, MAX_TENSOR_DIMS as u64)?;
    let elements = raw.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    let elements = elements.unwrap_or(u64::MAX);
    let what = format!("tensor `{name}` elements");
    limits::check_count(path, &what, elements, MAX_TENSOR_ELEMENTS)?;
    let shape = raw.shape.iter().map(|&d| d as usize).collect();
    let [s, e] = raw.data_offsets;
    let offset = |o: u64| {
        usize::try_from(o).map_err(|_| {
            Error::bad_file(path, format!("tensor `{name}`: offset {o} is out of range"))
        })
    };
    Ok((dtype, shape, (offset(s)?, offset(e)?)))
}
