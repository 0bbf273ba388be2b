//! The safetensors JSON header, deserialized into typed entries as it is read.
//!
//! A generic `serde_json::Value` costs ~10x the header's bytes; typed entries cost about
//! their bytes, and the tensor count is checked entry by entry, so a header listing 10^6
//! tensors is refused at entry `MAX_TENSORS + 1`, not after it is all in memory.

use std::fmt;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::limits::MAX_TENSORS;

/// One tensor as the header states it (checked later against the file).
#[derive(Deserialize)]
pub(super) struct RawEntry {
    pub dtype: String,
    pub shape: Vec<u64>,
    pub data_offsets: [u64; 2],
}

/// The tensors of the header in file order; `__metadata__` is skipped.
pub(super) struct Header(pub Vec<(String, RawEntry)>);

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of tensor entries")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        let mut out = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if name == "__metadata__" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if out.len() == MAX_TENSORS {
                return Err(serde::de::Error::custom(format!(
                    "more than {MAX_TENSORS} tensors, more than any real model has"
                )));
            }
            let entry = map.next_value::<RawEntry>().map_err(|e| {
                serde::de::Error::custom(format!("tensor `{name}` has a malformed entry: {e}"))
            })?;
            out.push((name, entry));
        }
        Ok(Header(out))
    }
}
