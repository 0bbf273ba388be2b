//! `Dataset`: a data folder opened for training: both token files, checked against the
//! counts in its `meta.json`.

use std::path::{Path, PathBuf};

use super::meta::{DataMeta, META_FILE, TOKENIZER_FILE, TRAIN_FILE, VAL_FILE};
use super::token_file::TokenFile;
use crate::{Error, Result};

/// The train and validation token files of one data folder, with its meta.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub train: TokenFile,
    pub val: TokenFile,
    pub meta: DataMeta,
    pub dir: PathBuf,
}

impl Dataset {
    /// Opens `dir` (made by `lineage data prepare` or `lineage data synthetic`).
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::bad_file(
                dir,
                "no such data folder; make one with `lineage data prepare` or \
                 `lineage data synthetic`",
            ));
        }
        let meta = DataMeta::read(dir)?;
        let open = |name: &str, expected: u64| -> Result<TokenFile> {
            let path = dir.join(name);
            let f = TokenFile::open_with(&path, meta.dtype, meta.vocab_size)?;
            if f.len() != expected {
                return Err(Error::bad_file(
                    &path,
                    format!(
                        "has {} tokens but {META_FILE} says {expected}: the folder is from \
                         two different runs; re-make it",
                        f.len()
                    ),
                ));
            }
            Ok(f)
        };
        let train = open(TRAIN_FILE, meta.train_tokens)?;
        let val = open(VAL_FILE, meta.val_tokens)?;
        Ok(Self {
            train,
            val,
            meta,
            dir: dir.to_path_buf(),
        })
    }

    /// `DIR/tokenizer.json` when the folder has one.
    pub fn tokenizer_path(&self) -> Option<PathBuf> {
        let name = self.meta.tokenizer.as_deref().unwrap_or(TOKENIZER_FILE);
        let p = self.dir.join(name);
        p.is_file().then_some(p)
    }

    /// Validation bytes per validation token (for bits per byte), when known.
    pub fn val_bytes_per_token(&self) -> Option<f64> {
        let bytes = self.meta.val_bytes? as f64;
        (self.meta.val_tokens > 0).then(|| bytes / self.meta.val_tokens as f64)
    }
}
