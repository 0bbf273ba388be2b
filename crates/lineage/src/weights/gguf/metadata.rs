//! GGUF metadata: typed key-value pairs and getters whose errors name the key.
//!
//! Reference: ggml `docs/gguf.md` (`gguf_metadata_value_type`, ids 0..=12) and
//! llama.cpp `gguf.cpp` (`gguf_get_val_*`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;

use super::meta_array::MetaArray;
use crate::{Error, Result};

/// The value type ids of GGUF metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaType {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
}

impl MetaType {
    pub fn from_id(id: u32) -> Option<Self> {
        use MetaType::*;
        const ALL: [MetaType; 13] = [
            U8, I8, U16, I16, U32, I32, F32, Bool, String, Array, U64, I64, F64,
        ];
        ALL.get(id as usize).copied()
    }

    /// Encoded size for fixed-size types; the minimum size otherwise (a string is at
    /// least its u64 length, an array its u32 type and u64 count).
    pub fn min_size(self) -> u64 {
        use MetaType::*;
        match self {
            U8 | I8 | Bool => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 | String => 8,
            Array => 12,
        }
    }
}

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum MetaValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    /// A typed array (arrays may nest), kept encoded: see `MetaArray`.
    Array(MetaArray),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl MetaValue {
    pub fn meta_type(&self) -> MetaType {
        match self {
            MetaValue::U8(_) => MetaType::U8,
            MetaValue::I8(_) => MetaType::I8,
            MetaValue::U16(_) => MetaType::U16,
            MetaValue::I16(_) => MetaType::I16,
            MetaValue::U32(_) => MetaType::U32,
            MetaValue::I32(_) => MetaType::I32,
            MetaValue::F32(_) => MetaType::F32,
            MetaValue::Bool(_) => MetaType::Bool,
            MetaValue::String(_) => MetaType::String,
            MetaValue::Array(_) => MetaType::Array,
            MetaValue::U64(_) => MetaType::U64,
            MetaValue::I64(_) => MetaType::I64,
            MetaValue::F64(_) => MetaType::F64,
        }
    }

    /// Any integer type, widened (converters disagree on u32 vs i32 vs u64).
    pub fn as_i128(&self) -> Option<i128> {
        Some(match *self {
            MetaValue::U8(v) => v as i128,
            MetaValue::I8(v) => v as i128,
            MetaValue::U16(v) => v as i128,
            MetaValue::I16(v) => v as i128,
            MetaValue::U32(v) => v as i128,
            MetaValue::I32(v) => v as i128,
            MetaValue::U64(v) => v as i128,
            MetaValue::I64(v) => v as i128,
            _ => return None,
        })
    }
}

/// All key-value pairs of a file, in file order.
#[derive(Clone, Debug, Default)]
pub struct Metadata {
    path: PathBuf,
    entries: Vec<(String, MetaValue)>,
    index: HashMap<String, usize>,
}

impl Metadata {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            ..Default::default()
        }
    }

    /// Adds a pair; `false` if the key was already present (the value is not replaced).
    pub(crate) fn insert(&mut self, key: String, value: MetaValue) -> bool {
        if self.index.contains_key(&key) {
            return false;
        }
        self.index.insert(key.clone(), self.entries.len());
        self.entries.push((key, value));
        true
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// Pairs in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &MetaValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    pub(crate) fn err(&self, key: &str, message: impl Into<String>) -> Error {
        Error::Metadata {
            path: self.path.clone(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// The value, or an error naming the missing key.
    pub fn require(&self, key: &str) -> Result<&MetaValue> {
        self.get(key).ok_or_else(|| self.err(key, "is missing"))
    }

    fn wrong(&self, key: &str, want: &str, v: &MetaValue) -> Error {
        self.err(key, format!("should be {want}, found {:?}", v.meta_type()))
    }

    fn int_in<T: TryFrom<i128>>(&self, key: &str, want: &str) -> Result<T> {
        let v = self.require(key)?;
        let i = v.as_i128().ok_or_else(|| self.wrong(key, want, v))?;
        T::try_from(i).map_err(|_| self.err(key, format!("value {i} does not fit {want}")))
    }

    pub fn get_u32(&self, key: &str) -> Result<u32> {
        self.int_in(key, "u32")
    }
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        self.int_in(key, "u64")
    }
    pub fn get_i32(&self, key: &str) -> Result<i32> {
        self.int_in(key, "i32")
    }
    pub fn get_i64(&self, key: &str) -> Result<i64> {
        self.int_in(key, "i64")
    }
    pub fn get_usize(&self, key: &str) -> Result<usize> {
        self.int_in(key, "usize")
    }

    /// An f32 (an f64 value is narrowed).
    pub fn get_f32(&self, key: &str) -> Result<f32> {
        match self.require(key)? {
            MetaValue::F32(v) => Ok(*v),
            MetaValue::F64(v) => Ok(*v as f32),
            v => Err(self.wrong(key, "f32", v)),
        }
    }
    pub fn get_f64(&self, key: &str) -> Result<f64> {
        match self.require(key)? {
            MetaValue::F32(v) => Ok(*v as f64),
            MetaValue::F64(v) => Ok(*v),
            v => Err(self.wrong(key, "f64", v)),
        }
    }
    pub fn get_bool(&self, key: &str) -> Result<bool> {
        match self.require(key)? {
            MetaValue::Bool(v) => Ok(*v),
            v => Err(self.wrong(key, "bool", v)),
        }
    }
    pub fn get_str(&self, key: &str) -> Result<&str> {
        match self.require(key)? {
            MetaValue::String(s) => Ok(s),
            v => Err(self.wrong(key, "string", v)),
        }
    }

    /// The array at `key`, whose elements must be of type `want`.
    pub fn get_array(&self, key: &str, want: MetaType) -> Result<&MetaArray> {
        match self.require(key)? {
            MetaValue::Array(a) if a.elem_type() == want => Ok(a),
            MetaValue::Array(a) => Err(self.err(
                key,
                format!(
                    "should be an array of {want:?}, found one of {:?}",
                    a.elem_type()
                ),
            )),
            v => Err(self.wrong(key, "array", v)),
        }
    }

    pub fn get_string_array(&self, key: &str) -> Result<Vec<Cow<'_, str>>> {
        Ok(self.get_array(key, MetaType::String)?.strs().collect())
    }
    pub fn get_f32_array(&self, key: &str) -> Result<Vec<f32>> {
        let a = self.get_array(key, MetaType::F32)?;
        Ok(a.iter()
            .filter_map(|v| match v {
                MetaValue::F32(x) => Some(x),
                _ => None,
            })
            .collect())
    }
    pub fn get_i32_array(&self, key: &str) -> Result<Vec<i32>> {
        let a = self.get_array(key, MetaType::I32)?;
        Ok(a.iter()
            .filter_map(|v| match v {
                MetaValue::I32(x) => Some(x),
                _ => None,
            })
            .collect())
    }
}
