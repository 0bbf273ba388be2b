//! One token file (`train.bin` / `val.bin`): raw little-endian u16 or u32 ids, no header
//! (nanoGPT's `.bin` layout, so `numpy.memmap(path, dtype=np.uint16)` reads it too).
//!
//! `TokenFile` memory-maps the file and checks it once on open: not empty, a whole number
//! of ids, and every id below `vocab_size`. The id check is a full scan (memory bandwidth:
//! about a second per GB) so that nothing downstream can see an out-of-vocabulary id.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;

use super::meta::{DataMeta, TokenDtype};
use crate::{Error, Result};

/// A checked, memory-mapped token file; cheap to clone (the map is shared).
#[derive(Clone)]
pub struct TokenFile {
    path: PathBuf,
    map: Arc<Mmap>,
    dtype: TokenDtype,
    len: u64,
    vocab_size: usize,
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFile")
            .field("path", &self.path)
            .field("dtype", &self.dtype)
            .field("len", &self.len)
            .field("vocab_size", &self.vocab_size)
            .finish()
    }
}

impl TokenFile {
    /// Opens `path` with the dtype and vocabulary of the `meta.json` beside it.
    pub fn open(path: &Path) -> Result<Self> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let meta = DataMeta::read(dir)?;
        Self::open_with(path, meta.dtype, meta.vocab_size)
    }

    /// Opens `path` as `dtype` ids below `vocab_size`.
    pub fn open_with(path: &Path, dtype: TokenDtype, vocab_size: usize) -> Result<Self> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let bytes = file.metadata().map_err(io)?.len();
        let width = dtype.width() as u64;
        if bytes == 0 {
            return Err(Error::bad_file(
                path,
                "empty token file (0 bytes); re-run `lineage data prepare` on more text",
            ));
        }
        if bytes % width != 0 {
            return Err(Error::bad_file(
                path,
                format!(
                    "{bytes} bytes is not a whole number of {} ids ({width} bytes each): the \
                     file is truncated or not a {} token file; re-run `lineage data prepare`",
                    dtype.name(),
                    dtype.name()
                ),
            ));
        }
        // SAFETY: the map is read-only; as with every mmap-based reader, the file must not
        // be truncated or modified while it is open.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        let tf = Self {
            path: path.to_path_buf(),
            map: Arc::new(map),
            dtype,
            len: bytes / width,
            vocab_size,
        };
        tf.check_ids()?;
        Ok(tf)
    }

    fn check_ids(&self) -> Result<()> {
        let bad = match self.dtype {
            TokenDtype::U16 => self
                .map
                .chunks_exact(2)
                .position(|b| u16::from_le_bytes([b[0], b[1]]) as usize >= self.vocab_size),
            TokenDtype::U32 => self.map.chunks_exact(4).position(|b| {
                u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize >= self.vocab_size
            }),
        };
        match bad {
            None => Ok(()),
            Some(i) => Err(Error::bad_file(
                &self.path,
                format!(
                    "token {i} has id {} >= vocab_size {}: the file was made with another \
                     tokenizer or is corrupt; re-run `lineage data prepare`",
                    self.id(i as u64),
                    self.vocab_size
                ),
            )),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of token ids.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Never true for an opened file (empty files are refused); here for clippy.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn dtype(&self) -> TokenDtype {
        self.dtype
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Id at `index`, which the caller keeps below `len()`.
    fn id(&self, index: u64) -> u32 {
        let i = index as usize;
        match self.dtype {
            TokenDtype::U16 => u16::from_le_bytes([self.map[2 * i], self.map[2 * i + 1]]) as u32,
            TokenDtype::U32 => {
                let b = &self.map[4 * i..4 * i + 4];
                u32::from_le_bytes([b[0], b[1], b[2], b[3]])
            }
        }
    }

    /// Appends ids `start..start + n` to `out`; a range past the end is an error.
    pub fn read_into(&self, start: u64, n: usize, out: &mut Vec<u32>) -> Result<()> {
        let end = start.checked_add(n as u64).filter(|&e| e <= self.len);
        let Some(end) = end else {
            return Err(Error::bad_file(
                &self.path,
                format!(
                    "read of {n} tokens at {start} is past the end ({} tokens)",
                    self.len
                ),
            ));
        };
        let w = self.dtype.width();
        let bytes = &self.map[start as usize * w..end as usize * w];
        match self.dtype {
            TokenDtype::U16 => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]) as u32),
            ),
            TokenDtype::U32 => out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            ),
        }
        Ok(())
    }

    /// Every id, in order.
    pub fn to_vec(&self) -> Vec<u32> {
        let mut v = Vec::with_capacity(self.len as usize);
        // The whole range is in bounds by construction.
        let _ = self.read_into(0, self.len as usize, &mut v);
        v
    }
}

/// Writes `tokens` to `path` as `dtype` (temporary name, then rename). An id that does
/// not fit the dtype is an error.
pub fn write_token_file(path: &Path, dtype: TokenDtype, tokens: &[u32]) -> Result<()> {
    let mut w = TokenWriter::create(path, dtype)?;
    w.push(tokens)?;
    w.finish()
}

/// A token file written in pieces: buffered into `PATH.tmp`, renamed on `finish`, so a
/// kill never leaves a torn `train.bin`.
pub struct TokenWriter {
    path: PathBuf,
    tmp: PathBuf,
    dtype: TokenDtype,
    out: std::io::BufWriter<std::fs::File>,
    written: u64,
}

impl TokenWriter {
    pub fn create(path: &Path, dtype: TokenDtype) -> Result<Self> {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".tmp");
        let tmp = path.with_file_name(name);
        let file = std::fs::File::create(&tmp).map_err(|source| Error::Io {
            path: tmp.clone(),
            source,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            dtype,
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            written: 0,
        })
    }

    /// Appends `tokens`; an id that does not fit the dtype is an error.
    pub fn push(&mut self, tokens: &[u32]) -> Result<()> {
        use std::io::Write;
        let io = |source| Error::Io {
            path: self.tmp.clone(),
            source,
        };
        let mut buf = Vec::with_capacity(tokens.len() * self.dtype.width());
        match self.dtype {
            TokenDtype::U16 => {
                for &t in tokens {
                    let t = u16::try_from(t).map_err(|_| {
                        Error::bad_file(&self.path, format!("id {t} does not fit a u16 token file"))
                    })?;
                    buf.extend_from_slice(&t.to_le_bytes());
                }
            }
            TokenDtype::U32 => tokens
                .iter()
                .for_each(|t| buf.extend_from_slice(&t.to_le_bytes())),
        }
        self.out.write_all(&buf).map_err(io)?;
        self.written += tokens.len() as u64;
        Ok(())
    }

    /// Tokens pushed so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes, syncs and renames the file into place.
    pub fn finish(self) -> Result<()> {
        let io = |path: &Path, source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = self
            .out
            .into_inner()
            .map_err(|e| io(&self.tmp, e.into_error()))?;
        file.sync_all().map_err(|e| io(&self.tmp, e))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path).map_err(|e| io(&self.path, e))
    }
}
