//! GGUF metadata arrays kept in their encoded bytes and decoded on access.
//!
//! A vocabulary is an array of 10^5..10^6 strings; decoding each element into a
//! `MetaValue` enum would take many times the bytes of the file (32 bytes per u8
//! element), so a hostile file could turn 1 GB on disk into 32 GB of memory. Holding the
//! validated bytes costs exactly what the file holds.

use std::borrow::Cow;
use std::path::Path;

use super::cursor::Cursor;
use super::header::read_value;
use super::metadata::{MetaType, MetaValue};
use super::writer::put_value;

/// An array of one element type, as its GGUF encoding (validated when read).
#[derive(Clone, PartialEq)]
pub struct MetaArray {
    elem_type: MetaType,
    len: usize,
    /// The elements' encoding, without the array's type and count.
    bytes: Vec<u8>,
}

impl MetaArray {
    /// From bytes a parser has already walked and checked.
    pub(crate) fn from_checked(elem_type: MetaType, len: usize, bytes: Vec<u8>) -> Self {
        Self {
            elem_type,
            len,
            bytes,
        }
    }

    /// Encodes `values`; `None` if one of them is not of `elem_type`.
    pub fn new(elem_type: MetaType, values: &[MetaValue]) -> Option<Self> {
        let mut bytes = Vec::new();
        for v in values {
            if v.meta_type() != elem_type {
                return None;
            }
            put_value(&mut bytes, v);
        }
        Some(Self::from_checked(elem_type, values.len(), bytes))
    }

    pub fn strings<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Self {
        Self::encode(MetaType::String, values, |s| {
            MetaValue::String(s.as_ref().into())
        })
    }
    pub fn i32s(values: impl IntoIterator<Item = i32>) -> Self {
        Self::encode(MetaType::I32, values, MetaValue::I32)
    }
    pub fn f32s(values: impl IntoIterator<Item = f32>) -> Self {
        Self::encode(MetaType::F32, values, MetaValue::F32)
    }
    pub fn bools(values: impl IntoIterator<Item = bool>) -> Self {
        Self::encode(MetaType::Bool, values, MetaValue::Bool)
    }

    fn encode<T>(
        elem_type: MetaType,
        values: impl IntoIterator<Item = T>,
        wrap: impl Fn(T) -> MetaValue,
    ) -> Self {
        let mut bytes = Vec::new();
        let mut len = 0;
        for v in values {
            put_value(&mut bytes, &wrap(v));
            len += 1;
        }
        Self::from_checked(elem_type, len, bytes)
    }

    pub fn elem_type(&self) -> MetaType {
        self.elem_type
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The encoded elements, as a GGUF writer puts them after the type and count.
    pub(crate) fn encoded(&self) -> &[u8] {
        &self.bytes
    }

    /// The elements, decoded one at a time.
    pub fn iter(&self) -> impl Iterator<Item = MetaValue> + '_ {
        let mut c = Cursor::new(&self.bytes, Path::new("metadata array"));
        let ty = self.elem_type;
        // The bytes were validated when read, so decoding cannot fail; `map_while`
        // ends the walk rather than panicking if that invariant were ever broken.
        (0..self.len).map_while(move |_| read_value(&mut c, ty, "", 0).ok())
    }

    /// The strings of a string array, borrowed where they are valid UTF-8 (some
    /// vocabularies carry raw bytes: those are replaced, as for single strings).
    pub fn strs(&self) -> impl Iterator<Item = Cow<'_, str>> + '_ {
        let mut c = Cursor::new(&self.bytes, Path::new("metadata array"));
        let n = if self.elem_type == MetaType::String {
            self.len
        } else {
            0
        };
        (0..n).map_while(move |_| {
            let len = c.u64("").ok()?;
            c.take(len, "").ok().map(String::from_utf8_lossy)
        })
    }
}

impl std::fmt::Debug for MetaArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 8;
        let head: Vec<MetaValue> = self.iter().take(SHOWN).collect();
        let more = if self.len > SHOWN { ", .." } else { "" };
        write!(f, "[{:?}; {}] {head:?}{more}", self.elem_type, self.len)
    }
}
