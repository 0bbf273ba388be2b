//! `meta.json` of a data folder: what the token files hold and how they were made.
//! Byte counts let the trainer report bits per byte (`loss_nats * tokens / bytes / ln 2`),
//! comparable across tokenizers.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::docs::DocSplit;
use super::synthetic::SyntheticMeta;
use crate::{Error, Result};

pub const TRAIN_FILE: &str = "train.bin";
pub const VAL_FILE: &str = "val.bin";
pub const META_FILE: &str = "meta.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Version of the folder format written here.
pub const FORMAT_VERSION: u32 = 1;

/// Width of one token id on disk (little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenDtype {
    U16,
    U32,
}

impl TokenDtype {
    /// u16 when every id of a `vocab_size` vocabulary fits, else u32.
    pub fn for_vocab(vocab_size: usize) -> Self {
        if vocab_size <= 1 << 16 {
            Self::U16
        } else {
            Self::U32
        }
    }

    /// Bytes per token id.
    pub fn width(self) -> usize {
        match self {
            Self::U16 => 2,
            Self::U32 => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::U16 => "u16",
            Self::U32 => "u32",
        }
    }
}

/// The contents of `DIR/meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataMeta {
    /// Folder format version (`FORMAT_VERSION`).
    pub format_version: u32,
    /// Ids are in `0..vocab_size`.
    pub vocab_size: usize,
    pub dtype: TokenDtype,
    /// Token ids in `train.bin`.
    pub train_tokens: u64,
    /// Token ids in `val.bin`.
    pub val_tokens: u64,
    /// UTF-8 bytes of the text `train.bin` encodes (document text only: the separators
    /// the `<|endoftext|>` tokens stand for are not counted). `None` for synthetic data.
    pub train_bytes: Option<u64>,
    /// The same for `val.bin`.
    pub val_bytes: Option<u64>,
    /// Documents in each split (sequences, for synthetic data).
    pub train_documents: u64,
    pub val_documents: u64,
    /// File name of the tokenizer inside the folder, when there is one.
    pub tokenizer: Option<String>,
    /// The input files (as given) or the generator that made the data.
    pub sources: Vec<String>,
    /// Requested share of tokens in the validation split.
    pub val_fraction: f64,
    /// How input files were cut into documents (text corpora).
    pub docs: Option<DocSplit>,
    /// How the split is made, in words.
    pub split: String,
    /// The separator / BOS id that starts every document, when there is one.
    pub bos_id: Option<u32>,
    /// Task layout for synthetic data.
    pub synthetic: Option<SyntheticMeta>,
}

impl DataMeta {
    /// Reads `dir/meta.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(META_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::bad_file(
                    &path,
                    "no meta.json: not a data folder (make one with `lineage data prepare` \
                     or `lineage data synthetic`)",
                )
            } else {
                Error::Io {
                    path: path.clone(),
                    source: e,
                }
            }
        })?;
        let meta: Self = serde_json::from_str(&text)
            .map_err(|e| Error::bad_file(&path, format!("not a data meta.json: {e}")))?;
        if meta.format_version != FORMAT_VERSION {
            return Err(Error::bad_file(
                &path,
                format!(
                    "format_version {} is not {FORMAT_VERSION}; re-make the folder with this \
                     build's `lineage data`",
                    meta.format_version
                ),
            ));
        }
        if meta.dtype.width() < TokenDtype::for_vocab(meta.vocab_size).width() {
            return Err(Error::bad_file(
                &path,
                format!(
                    "dtype {} cannot hold ids of a {}-token vocabulary",
                    meta.dtype.name(),
                    meta.vocab_size
                ),
            ));
        }
        Ok(meta)
    }

    /// Writes `dir/meta.json` (pretty, atomically).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| Error::BadInput(format!("serialising meta.json: {e}")))?;
        crate::train::run_files::write_atomic(&dir.join(META_FILE), json.as_bytes())
    }
}
