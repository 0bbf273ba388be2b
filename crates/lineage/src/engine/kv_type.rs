//! What the KV cache stores its values as: f32 (exact, the default), IEEE half
//! precision (llama.cpp's default cache type, `-ctk f16 -ctv f16`: half the bytes per
//! position, each key and value rounded once to nearest when it is written), or q8_0
//! (`-ctk q8_0 -ctv q8_0`: int8 codes with one f16 scale per 32 values of a head, 34
//! bytes per 32 values; see `kv_q8`).

use std::fmt;
use std::str::FromStr;

/// The cache's element type, chosen per engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(non_camel_case_types)] // ggml's type names
pub enum KvType {
    #[default]
    F32,
    F16,
    Q8_0,
}

impl FromStr for KvType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(KvType::F32),
            "f16" => Ok(KvType::F16),
            "q8_0" | "q8" => Ok(KvType::Q8_0),
            _ => Err(format!(
                "unknown KV cache type {s:?}: expected f32, f16 or q8_0"
            )),
        }
    }
}

impl fmt::Display for KvType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KvType::F32 => "f32",
            KvType::F16 => "f16",
            KvType::Q8_0 => "q8_0",
        })
    }
}

/// A cache element: read back as f32 inside the attention loops (so the conversion
/// must inline and vectorize), written from f32 once per position.
pub trait KvElem: Copy + Default + Send + Sync + 'static {
    const TYPE: KvType;
    fn get(self) -> f32;
    fn put(x: f32) -> Self;
    /// The values themselves where they are f32 already (no conversion to make).
    fn as_f32(s: &[Self]) -> Option<&[f32]>;
    /// The values' bits where they are halves (attention widens them in registers).
    #[inline(always)]
    fn as_halves(_: &[Self]) -> Option<&[u16]> {
        None
    }
    /// `dst[i] = src[i].get()` over the shorter of the two, in bulk.
    #[inline(always)]
    fn widen(src: &[Self], dst: &mut [f32]) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s.get();
        }
    }
}

impl KvElem for f32 {
    const TYPE: KvType = KvType::F32;
    #[inline(always)]
    fn get(self) -> f32 {
        self
    }
    #[inline(always)]
    fn put(x: f32) -> Self {
        x
    }
    #[inline(always)]
    fn as_f32(s: &[f32]) -> Option<&[f32]> {
        Some(s)
    }
}

/// An IEEE binary16 value's bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct F16(u16);

impl KvElem for F16 {
    const TYPE: KvType = KvType::F16;
    /// Exact for every finite half (`kernels::halves::widen_one`).
    #[inline(always)]
    fn get(self) -> f32 {
        crate::kernels::halves::widen_one(self.0)
    }
    /// Rounded to nearest even; beyond the half range (|x| > 65504) it saturates, so the
    /// cache never holds an infinity (which [`F16::get`] would not read back).
    #[inline(always)]
    fn put(x: f32) -> Self {
        F16(half::f16::from_f32(x.clamp(-65504.0, 65504.0)).to_bits())
    }
    #[inline(always)]
    fn as_f32(_: &[F16]) -> Option<&[f32]> {
        None
    }
    #[inline(always)]
    fn as_halves(s: &[F16]) -> Option<&[u16]> {
        Some(bits(s))
    }
    /// F16C where the CPU has it: the same values as [`F16::get`] for every finite half.
    #[inline(always)]
    fn widen(src: &[F16], dst: &mut [f32]) {
        crate::kernels::halves::widen(bits(src), dst);
    }
}

/// The halves' bits.
#[inline(always)]
fn bits(s: &[F16]) -> &[u16] {
    // SAFETY: `F16` is `repr(transparent)` over `u16`: same size, alignment and bits.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<u16>(), s.len()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every finite half reads back as `half`'s own conversion, and writes round to
    /// nearest.
    #[test]
    fn f16_reads_every_finite_half_exactly_and_rounds_writes() {
        for bits in 0..=u16::MAX {
            let want = half::f16::from_bits(bits);
            if want.is_finite() {
                assert_eq!(
                    F16(bits).get().to_bits(),
                    want.to_f32().to_bits(),
                    "{bits:#x}"
                );
            }
        }
        assert_eq!(F16::put(1.0 + 1.0 / 4096.0).get(), 1.0);
        assert_eq!(
            F16::put(-3.0e-6).get(),
            half::f16::from_f32(-3.0e-6).to_f32()
        );
        assert_eq!(F16::put(1e9).get(), 65504.0);
        assert_eq!("F16".parse::<KvType>(), Ok(KvType::F16));
        assert!("q4".parse::<KvType>().is_err());
        assert_eq!("Q8_0".parse::<KvType>(), Ok(KvType::Q8_0));
    }
}
