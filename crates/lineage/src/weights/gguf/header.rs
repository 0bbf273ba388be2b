//! The GGUF header and metadata section: magic, version, counts, key-value pairs.
//!
//! Reference: ggml `docs/gguf.md` ("File Structure"), llama.cpp `gguf.cpp`
//! (`gguf_init_from_file_impl`). v1 (u32 counts) is rejected; v2 and v3 are identical
//! on little-endian machines.

use super::cursor::Cursor;
use super::meta_array::MetaArray;
use super::metadata::{MetaType, MetaValue, Metadata};
use crate::Result;

pub const MAGIC: &[u8; 4] = b"GGUF";
/// Deeper nesting than this is treated as corrupt (protects the stack).
const MAX_ARRAY_DEPTH: usize = 8;
/// Smallest possible key-value pair: empty key (8) + type (4) + a 1-byte value.
const MIN_KV_SIZE: u64 = 13;
/// Metadata pairs: real files have 20-60; 10^5 would be a hostile index to build.
const MAX_KV: u64 = 1 << 16;

/// Counts from the fixed header.
pub(crate) struct Header {
    pub version: u32,
    pub n_tensors: u64,
    pub n_kv: u64,
}

pub(crate) fn read_header(c: &mut Cursor<'_>) -> Result<Header> {
    let magic = c.take(4, "magic")?;
    if magic != MAGIC {
        return Err(c.error(format!(
            "not a GGUF file: magic {magic:02x?}, expected \"GGUF\""
        )));
    }
    let version = c.u32("version")?;
    match version {
        2 | 3 => {}
        1 => return Err(c.error("GGUF v1 is not supported (v2, v3 are): re-convert the model")),
        v if v.swap_bytes() == 2 || v.swap_bytes() == 3 => {
            return Err(c.error("big-endian GGUF is not supported: use a little-endian conversion"))
        }
        v => return Err(c.error(format!("unsupported GGUF version {v} (v2, v3 are)"))),
    }
    let n_tensors = c.u64("tensor count")?;
    let n_kv = c.u64("metadata count")?;
    Ok(Header {
        version,
        n_tensors,
        n_kv,
    })
}

fn read_type(c: &mut Cursor<'_>, key: &str) -> Result<MetaType> {
    let id = c.u32(key)?;
    MetaType::from_id(id)
        .ok_or_else(|| c.error(format!("metadata `{key}`: unknown value type {id}")))
}

pub(super) fn read_value(
    c: &mut Cursor<'_>,
    ty: MetaType,
    key: &str,
    depth: usize,
) -> Result<MetaValue> {
    Ok(match ty {
        MetaType::U8 => MetaValue::U8(c.u8(key)?),
        MetaType::I8 => MetaValue::I8(c.u8(key)? as i8),
        MetaType::U16 => MetaValue::U16(c.u16(key)?),
        MetaType::I16 => MetaValue::I16(c.u16(key)? as i16),
        MetaType::U32 => MetaValue::U32(c.u32(key)?),
        MetaType::I32 => MetaValue::I32(c.u32(key)? as i32),
        MetaType::F32 => MetaValue::F32(c.f32(key)?),
        MetaType::Bool => match c.u8(key)? {
            0 => MetaValue::Bool(false),
            1 => MetaValue::Bool(true),
            b => return Err(c.error(format!("metadata `{key}`: bool byte {b} is not 0 or 1"))),
        },
        MetaType::String => MetaValue::String(c.string(key)?),
        MetaType::Array => read_array(c, key, depth)?,
        MetaType::U64 => MetaValue::U64(c.u64(key)?),
        MetaType::I64 => MetaValue::I64(c.u64(key)? as i64),
        MetaType::F64 => MetaValue::F64(c.f64(key)?),
    })
}

/// An array is walked and checked here but kept encoded (`MetaArray`): its memory is its
/// bytes in the file, whatever the element count.
fn read_array(c: &mut Cursor<'_>, key: &str, depth: usize) -> Result<MetaValue> {
    let (elem_type, n) = read_array_head(c, key, depth)?;
    let start = c.pos();
    skip_elements(c, elem_type, n, key, depth)?;
    let bytes = c.since(start).to_vec();
    Ok(MetaValue::Array(MetaArray::from_checked(
        elem_type, n, bytes,
    )))
}

fn read_array_head(c: &mut Cursor<'_>, key: &str, depth: usize) -> Result<(MetaType, usize)> {
    if depth >= MAX_ARRAY_DEPTH {
        return Err(c.error(format!(
            "metadata `{key}`: arrays nested deeper than {MAX_ARRAY_DEPTH}"
        )));
    }
    let elem_type = read_type(c, key)?;
    let count = c.u64(key)?;
    let what = format!("metadata `{key}` array");
    Ok((elem_type, c.check_fits(count, elem_type.min_size(), &what)?))
}

/// Moves past `n` elements, checking each as `read_value` would, allocating nothing.
fn skip_elements(
    c: &mut Cursor<'_>,
    ty: MetaType,
    n: usize,
    key: &str,
    depth: usize,
) -> Result<()> {
    match ty {
        MetaType::String => (0..n).try_for_each(|_| {
            let len = c.u64(key)?;
            c.take(len, key).map(drop)
        }),
        MetaType::Array => (0..n).try_for_each(|_| {
            let (inner, m) = read_array_head(c, key, depth + 1)?;
            skip_elements(c, inner, m, key, depth + 1)
        }),
        MetaType::Bool => (0..n).try_for_each(|_| read_value(c, ty, key, depth).map(drop)),
        // Fixed-size numbers: any bytes are a value (`check_fits` bounded the count).
        _ => c.take(n as u64 * ty.min_size(), key).map(drop),
    }
}

/// Reads `n_kv` pairs; duplicate keys are an error (which one would win is unclear).
pub(crate) fn read_metadata(c: &mut Cursor<'_>, n_kv: u64) -> Result<Metadata> {
    if n_kv > MAX_KV {
        return Err(c.error(format!(
            "{n_kv} metadata pairs, more than the {MAX_KV} allowed"
        )));
    }
    let n = c.check_fits(n_kv, MIN_KV_SIZE, "metadata")?;
    let mut meta = Metadata::new(c.path().to_path_buf());
    for _ in 0..n {
        let key = c.string("metadata key")?;
        let ty = read_type(c, &key)?;
        let value = read_value(c, ty, &key, 0)?;
        if !meta.insert(key.clone(), value) {
            return Err(c.error(format!("duplicate metadata key `{key}`")));
        }
    }
    Ok(meta)
}
