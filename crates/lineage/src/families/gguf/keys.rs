//! Typed, recorded access to a GGUF file's `{arch}.*` hyperparameters, and the audit that
//! makes sure none of them is silently ignored: after the adapter has built the config,
//! every `{arch}.*` key it did not read is either known not to change the computed
//! function (listed in [`NEUTRAL`]) or the file is refused with an error naming the key.
//! Guessing would compute a different model than the one llama.cpp runs from that file.

use std::cell::RefCell;
use std::collections::BTreeSet;

use crate::weights::gguf::{MetaValue, Metadata};
use crate::{Error, Result};

/// `{arch}.*` keys that never change the function: `tensor_data_layout` names a converter
/// transform already applied to the tensors, `rope.scaling.finetuned` records training
/// history. Everything else is read (and checked, like `vocab_size`) or refused.
const NEUTRAL: &[&str] = &["rope.scaling.finetuned", "tensor_data_layout"];

/// Which keys of the file were read, and which were not (each of those neutral).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyReport {
    pub read: Vec<String>,
    pub not_read: Vec<String>,
}

/// `{arch}.{key}` accessors that remember what they were asked for.
pub(crate) struct Hp<'a> {
    m: &'a Metadata,
    pub(crate) arch: String,
    read: RefCell<BTreeSet<String>>,
}

impl<'a> Hp<'a> {
    pub(crate) fn new(m: &'a Metadata, arch: &str) -> Self {
        Hp {
            m,
            arch: arch.to_string(),
            read: RefCell::default(),
        }
    }

    pub(crate) fn key(&self, k: &str) -> String {
        format!("{}.{k}", self.arch)
    }

    /// The value of `{arch}.{k}`, recording the read.
    pub(crate) fn raw(&self, k: &str) -> Option<&'a MetaValue> {
        let key = self.key(k);
        self.read.borrow_mut().insert(key.clone());
        self.m.get(&key)
    }

    pub(crate) fn usize(&self, k: &str) -> Result<usize> {
        self.raw(k);
        self.m.get_usize(&self.key(k))
    }
    pub(crate) fn opt_usize(&self, k: &str) -> Result<Option<usize>> {
        match self.raw(k) {
            Some(_) => self.usize(k).map(Some),
            None => Ok(None),
        }
    }
    pub(crate) fn opt_f64(&self, k: &str) -> Result<Option<f64>> {
        match self.raw(k) {
            Some(_) => self.m.get_f64(&self.key(k)).map(Some),
            None => Ok(None),
        }
    }
    pub(crate) fn opt_str(&self, k: &str) -> Result<Option<&'a str>> {
        match self.raw(k) {
            Some(_) => self.m.get_str(&self.key(k)).map(Some),
            None => Ok(None),
        }
    }
    pub(crate) fn opt_bool(&self, k: &str) -> Result<Option<bool>> {
        match self.raw(k) {
            Some(_) => self.m.get_bool(&self.key(k)).map(Some),
            None => Ok(None),
        }
    }

    /// A key whose only accepted value is the default (e.g. `attention.causal = true`).
    pub(crate) fn expect_bool(&self, k: &str, want: bool) -> Result<()> {
        match self.opt_bool(k)? {
            Some(v) if v != want => Err(self.unsupported(k, v.to_string())),
            _ => Ok(()),
        }
    }

    pub(crate) fn unsupported(&self, k: &str, value: String) -> Error {
        Error::UnsupportedValue {
            family: format!("{} (gguf)", self.arch),
            key: self.key(k),
            value,
        }
    }

    /// Every `{arch}.*` key was read or is neutral; otherwise the first one is an error.
    pub(crate) fn audit(&self) -> Result<KeyReport> {
        let prefix = format!("{}.", self.arch);
        let read = self.read.borrow();
        let mut report = KeyReport::default();
        for (k, _) in self.m.iter() {
            let Some(short) = k.strip_prefix(&prefix) else {
                continue;
            };
            if read.contains(k) {
                report.read.push(k.to_string());
            } else if NEUTRAL.contains(&short) {
                report.not_read.push(k.to_string());
            } else {
                return Err(Error::BadInput(format!(
                    "GGUF key `{k}` is not understood by lineage for architecture `{}`; \
                     it may change the computed function, so the file is refused \
                     rather than run as a different model",
                    self.arch
                )));
            }
        }
        Ok(report)
    }
}
