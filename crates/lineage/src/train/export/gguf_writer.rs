//! A streaming GGUF v3 writer: header, metadata pairs and tensor infos first (sizes are
//! known from type and shape), then each tensor's bytes as they are encoded, each padded
//! to the alignment, so a model is never held twice in memory.
//!
//! Reference: ggml `docs/gguf.md`; the layout is that of gguf-py `GGUFWriter` (every
//! tensor padded, the last one too), and otherwise byte-for-byte that of
//! `crate::weights::gguf::GgufWriter` (the in-memory writer, which leaves the last unpadded).

use std::io::Write;
use std::path::Path;

use crate::kernels::quant::GgmlType;
use crate::train::run_files::io;
use crate::weights::gguf::writer::{put_str, put_value};
use crate::weights::gguf::{MetaValue, DEFAULT_ALIGNMENT};
use crate::{Error, Result};

/// One tensor to write: name, dims in GGUF `ne` order (fastest first), type.
#[derive(Debug, Clone)]
pub struct TensorSpec {
    pub name: String,
    pub ne: Vec<u64>,
    pub ty: GgmlType,
}

impl TensorSpec {
    /// Bytes of the data: rows of `ne[0]` elements in whole blocks.
    pub fn n_bytes(&self) -> u64 {
        let n: u64 = self.ne.iter().product();
        n / self.ty.block_size() as u64 * self.ty.type_size() as u64
    }
}

fn padding(len: u64) -> usize {
    (len.div_ceil(DEFAULT_ALIGNMENT) * DEFAULT_ALIGNMENT - len) as usize
}

/// The header, pairs and tensor infos, padded to the alignment.
fn head(kvs: &[(String, MetaValue)], tensors: &[TensorSpec]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"GGUF");
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(kvs.len() as u64).to_le_bytes());
    for (k, v) in kvs {
        put_str(&mut out, k);
        out.extend_from_slice(&(v.meta_type() as u32).to_le_bytes());
        put_value(&mut out, v);
    }
    let mut offset = 0u64;
    for t in tensors {
        put_str(&mut out, &t.name);
        out.extend_from_slice(&(t.ne.len() as u32).to_le_bytes());
        t.ne.iter()
            .for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
        out.extend_from_slice(&t.ty.id().to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        offset += t.n_bytes() + padding(t.n_bytes()) as u64;
    }
    out.resize(out.len() + padding(out.len() as u64), 0);
    out
}

/// Writes a GGUF file to `path` (default 32-byte alignment; `kvs` must not set another).
/// `data(i)` returns the bytes of tensor `i`, which must be `tensors[i].n_bytes()` long.
pub fn write_gguf_file(
    path: &Path,
    kvs: &[(String, MetaValue)],
    tensors: &[TensorSpec],
    mut data: impl FnMut(usize) -> Result<Vec<u8>>,
) -> Result<()> {
    if let Some((_, v)) = kvs.iter().find(|(k, _)| k == "general.alignment") {
        if *v != MetaValue::U32(DEFAULT_ALIGNMENT as u32) {
            return Err(Error::BadInput(format!(
                "general.alignment {v:?}: only {DEFAULT_ALIGNMENT} is written"
            )));
        }
    }
    let file = std::fs::File::create(path).map_err(|e| io(path, e))?;
    let mut f = std::io::BufWriter::new(file);
    let w = |f: &mut std::io::BufWriter<std::fs::File>, b: &[u8]| {
        f.write_all(b).map_err(|e| io(path, e))
    };
    w(&mut f, &head(kvs, tensors))?;
    for (i, t) in tensors.iter().enumerate() {
        let bytes = data(i)?;
        if bytes.len() as u64 != t.n_bytes() {
            return Err(Error::BadInput(format!(
                "tensor `{}`: {} bytes of data for {:?} {:?} ({} expected)",
                t.name,
                bytes.len(),
                t.ty,
                t.ne,
                t.n_bytes()
            )));
        }
        w(&mut f, &bytes)?;
        // Padded after the last tensor too (gguf-py does; ggml's reader sizes the data
        // section as the sum of padded tensor sizes).
        w(&mut f, &vec![0u8; padding(bytes.len() as u64)])?;
    }
    let file = f.into_inner().map_err(|e| io(path, e.into_error()))?;
    file.sync_all().map_err(|e| io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::gguf::{GgufFile, GgufWriter, MetaArray};

    #[test]
    fn write_gguf_file_matches_in_memory_writer_and_pads_the_end() {
        let kvs = vec![
            (
                "general.architecture".to_string(),
                MetaValue::String("llama".into()),
            ),
            (
                "a.list".to_string(),
                MetaValue::Array(MetaArray::i32s([-1, 7])),
            ),
            ("a.f".to_string(), MetaValue::F32(0.5)),
        ];
        let tensors = vec![
            TensorSpec {
                name: "x".into(),
                ne: vec![3],
                ty: GgmlType::F32,
            },
            TensorSpec {
                name: "y".into(),
                ne: vec![32, 2],
                ty: GgmlType::Q8_0,
            },
        ];
        let data = [vec![1u8; 12], vec![2u8; 68]];
        let mut mem = GgufWriter::new();
        for (k, v) in &kvs {
            mem.add_kv(k, v.clone());
        }
        for (t, d) in tensors.iter().zip(&data) {
            mem.add_tensor(&t.name, &t.ne, t.ty, d.clone());
        }
        let path = std::env::temp_dir().join(format!("lineage-writer-{}.gguf", std::process::id()));
        write_gguf_file(&path, &kvs, &tensors, |i| Ok(data[i].clone())).unwrap();
        let ours = std::fs::read(&path).unwrap();
        let theirs = mem.to_bytes();
        assert_eq!(&ours[..theirs.len()], theirs.as_slice());
        assert_eq!(ours.len() % 32, 0, "last tensor padded");
        let f = GgufFile::open(&path).unwrap();
        assert_eq!(f.tensor_bytes("y").unwrap(), data[1].as_slice());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn write_gguf_file_wrong_data_length_is_an_error() {
        let t = [TensorSpec {
            name: "x".into(),
            ne: vec![4],
            ty: GgmlType::F32,
        }];
        let path =
            std::env::temp_dir().join(format!("lineage-writer-bad-{}.gguf", std::process::id()));
        let e = write_gguf_file(&path, &[], &t, |_| Ok(vec![0u8; 3])).unwrap_err();
        assert!(e.to_string().contains("`x`"), "{e}");
        let _ = std::fs::remove_file(&path);
    }
}
