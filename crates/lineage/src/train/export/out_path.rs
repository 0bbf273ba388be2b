//! Output paths: refuse to overwrite, stage next to the target, rename into place, so that
//! an interrupted export never leaves a half-written checkpoint under the requested name.

use std::path::{Path, PathBuf};

use crate::train::run_files::io;
use crate::{Error, Result};

/// `out` must not exist, or be an empty folder.
pub(super) fn check_free(out: &Path) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    let empty_dir = out.is_dir()
        && std::fs::read_dir(out)
            .map_err(|e| io(out, e))?
            .next()
            .is_none();
    if empty_dir {
        return Ok(());
    }
    Err(Error::bad_file(
        out,
        "already exists and is not an empty folder; choose another --out or remove it first",
    ))
}

/// A sibling of `out` to write into before the rename.
pub(super) fn staging(out: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(out.file_name().unwrap_or_default());
    name.push(format!(".export-{}.tmp", std::process::id()));
    out.with_file_name(name)
}

/// Creates the parent folder of `out` and a fresh staging folder; returns the latter.
pub(super) fn staging_dir(out: &Path) -> Result<PathBuf> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    let tmp = staging(out);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| io(&tmp, e))?;
    Ok(tmp)
}

/// Moves the staged `tmp` (file or folder) to `out` (absent or an empty folder).
pub(super) fn commit(tmp: &Path, out: &Path) -> Result<()> {
    if out.is_dir() {
        std::fs::remove_dir(out).map_err(|e| io(out, e))?;
    }
    std::fs::rename(tmp, out).map_err(|e| io(out, e))
}

/// Removes a staged path after a failure (best effort: the original error is what matters).
pub(super) fn discard(tmp: &Path) {
    let _ = if tmp.is_dir() {
        std::fs::remove_dir_all(tmp)
    } else {
        std::fs::remove_file(tmp)
    };
}
