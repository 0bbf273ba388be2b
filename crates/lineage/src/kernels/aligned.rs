//! An f32 buffer that starts on a 64-byte boundary. The 512-bit kernels load 16 values at
//! a time: from a buffer with rows of whole multiples of 16 values, no load then straddles
//! two cache lines (a split load costs two, and cut the prefill tile's speed by a tenth
//! to a fifth). The engine's scratch rows and the matmul panels live in these.

use std::ops::{Deref, DerefMut};

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// `len` zeroed f32 values on 64-byte-aligned storage.
#[derive(Clone)]
pub struct AlignedF32 {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedF32 {
    pub fn new(len: usize) -> Self {
        Self {
            lines: vec![Line([0.0; 16]); len.div_ceil(16)],
            len,
        }
    }
}

impl Deref for AlignedF32 {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        // SAFETY: `lines` holds `len.div_ceil(16) * 16 >= len` initialised f32s, contiguous
        // (`Line` is `repr(C)` over `[f32; 16]`: size 64, no padding between elements).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr() as *const f32, self.len) }
    }
}

impl DerefMut for AlignedF32 {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as for `deref`, borrowed mutably through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr() as *mut f32, self.len) }
    }
}

impl std::fmt::Debug for AlignedF32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlignedF32[{}]", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_zeroed_and_exactly_their_length() {
        for len in [0, 1, 15, 16, 17, 1000] {
            let mut b = AlignedF32::new(len);
            assert_eq!((b.as_ptr() as usize) % 64, 0);
            assert_eq!(b.len(), len);
            assert!(b.iter().all(|&v| v == 0.0));
            b.iter_mut().for_each(|v| *v = 1.0);
            assert_eq!(b.iter().sum::<f32>(), len as f32);
        }
    }
}
