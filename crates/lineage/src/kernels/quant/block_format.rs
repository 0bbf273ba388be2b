//! The 32-value nibble formats of the 8-bit-activation wide kernels (Q4_0, Q4_1, Q5_0,
//! Q5_1): where each keeps its fields, as associated constants. A kernel generic over
//! [`Format`] is compiled once per format, so no field is read or branched on at run
//! time (a layout passed as a value compiled into run-time branches and ran 3x slower).
//! Shared by the AVX-512 VNNI and the AVX2 wide kernels (int8_wide.rs,
//! int8_wide_avx2.rs).

#![allow(non_camel_case_types)] // ggml's type names

/// Where a 32-block format keeps its fields.
pub(crate) trait Format {
    /// Block bytes.
    const BS: usize;
    /// The 16 code bytes (low nibbles: values 0..16, high: 16..32).
    const CODES: usize = 0;
    /// The 32 fifth bits (Q5), bit `j` for value `j`.
    const HIGH_BITS: Option<usize> = None;
    /// A float min `m` at byte 2 (Q4_1, Q5_1); else the codes lose `OFFSET`.
    const HAS_MIN: bool = false;
    const OFFSET: Option<i8> = None;
}

pub(crate) struct Q4_0;
impl Format for Q4_0 {
    const BS: usize = 18;
    const CODES: usize = 2;
    const OFFSET: Option<i8> = Some(8);
}
pub(crate) struct Q4_1;
impl Format for Q4_1 {
    const BS: usize = 20;
    const CODES: usize = 4;
    const HAS_MIN: bool = true;
}
pub(crate) struct Q5_0;
impl Format for Q5_0 {
    const BS: usize = 22;
    const CODES: usize = 6;
    const HIGH_BITS: Option<usize> = Some(2);
    const OFFSET: Option<i8> = Some(16);
}
pub(crate) struct Q5_1;
impl Format for Q5_1 {
    const BS: usize = 24;
    const CODES: usize = 8;
    const HIGH_BITS: Option<usize> = Some(4);
    const HAS_MIN: bool = true;
}
