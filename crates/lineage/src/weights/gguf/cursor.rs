//! A bounds-checked little-endian reader over the file bytes. Every read checks the
//! remaining length first, so a truncated or lying file gives an error, never a panic
//! or a huge allocation.

use std::path::Path;

use crate::{Error, Result};

pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8], path: &'a Path) -> Self {
        Self { buf, pos: 0, path }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn path(&self) -> &'a Path {
        self.path
    }

    /// A `BadFile` error at the current position.
    pub fn error(&self, what: impl std::fmt::Display) -> Error {
        Error::bad_file(
            self.path,
            format!("{what} (at byte {} of {})", self.pos, self.buf.len()),
        )
    }

    /// Error unless `count` items of at least `min_size` bytes each can still fit.
    pub fn check_fits(&self, count: u64, min_size: u64, what: &str) -> Result<usize> {
        match count.checked_mul(min_size) {
            Some(need) if need <= self.remaining() as u64 => Ok(count as usize),
            _ => Err(self.error(format!(
                "{what} count {count} cannot fit in the {} bytes left: truncated or corrupt file",
                self.remaining()
            ))),
        }
    }

    /// The bytes read since position `start`.
    pub fn since(&self, start: usize) -> &'a [u8] {
        &self.buf[start.min(self.pos)..self.pos]
    }

    pub fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(self.error(format!(
                "unexpected end of file reading {what} ({n} bytes needed, {} left): truncated file",
                self.remaining()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    pub fn f32(&mut self, what: &str) -> Result<f32> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }
    pub fn f64(&mut self, what: &str) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }

    /// A GGUF string: u64 length, then that many bytes of UTF-8. Invalid UTF-8 is
    /// replaced (some vocabularies carry raw bytes), not rejected.
    pub fn string(&mut self, what: &str) -> Result<String> {
        let len = self.u64(what)?;
        let bytes = self.take(len, what)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
}
