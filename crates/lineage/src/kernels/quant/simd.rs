//! Shared AVX2 helpers for the integer dot-product kernels.
//!
//! Reference: the AVX2 helpers at the top of ggml-cpu `arch/x86/quants.c`
//! (`bytes_from_nibbles_32`, `bytes_from_bits_32`, `hsum_float_8`). Every function here
//! needs AVX2+FMA+F16C; callers check [`avx2_available`] first.
//!
//! Safety, for every function in [`x86`]: the CPU supports AVX2, FMA and F16C (the
//! dispatch in dispatch.rs / exact.rs only hands these kernels out after
//! [`avx2_available`]); the pointer helpers also need the bytes they name readable.

/// Whether the AVX2 kernels can run on this CPU (checked at run time, cached by std).
#[inline]
pub fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether AVX-512F kernels may run: the CPU has it (and AVX2) and `LINEAGE_NO_AVX512`
/// is unset (for comparisons). Checked once.
pub fn avx512_available() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            avx2_available()
                && is_x86_feature_detected!("avx512f")
                && std::env::var_os("LINEAGE_NO_AVX512").is_none()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use std::arch::x86_64::*;

    /// Sum of the 8 lanes.
    /// # Safety
    /// AVX2, FMA and F16C are available (register-only otherwise).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn hsum_ps(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// Sum of the 8 i32 lanes.
    /// # Safety
    /// AVX2, FMA and F16C are available (register-only otherwise).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn hsum_epi32(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
        _mm_cvtsi128_si32(s)
    }

    /// The f16 at `p` (unaligned), widened exactly.
    /// # Safety
    /// AVX2, FMA and F16C are available; `p .. p + 2` is readable.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn f16_to_f32(p: *const u8) -> f32 {
        let bits = u16::from_le_bytes([*p, *p.add(1)]);
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
    }

    /// 16 packed bytes -> 32 nibbles: low nibbles in bytes 0..16, high nibbles in 16..32.
    /// # Safety
    /// AVX2, FMA and F16C are available; `p .. p + 16` is readable (any alignment).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn nibbles_32(p: *const u8) -> __m256i {
        let q = _mm_loadu_si128(p as *const __m128i);
        let mask = _mm_set1_epi8(0x0f);
        let lo = _mm_and_si128(q, mask);
        let hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
        _mm256_set_m128i(hi, lo)
    }

    /// 32 bits (little-endian at `p`) -> 32 bytes, 0xFF where the bit is set.
    /// # Safety
    /// AVX2, FMA and F16C are available; `p .. p + 4` is readable.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn bytes_from_bits_32(p: *const u8) -> __m256i {
        let x = u32::from_le_bytes([*p, *p.add(1), *p.add(2), *p.add(3)]);
        let shuf = _mm256_set_epi64x(
            0x0303030303030303,
            0x0202020202020202,
            0x0101010101010101,
            0x0000000000000000,
        );
        let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(x as i32), shuf);
        let bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
        _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1))
    }

    /// Unsigned bytes `u` times signed bytes `s`, summed in groups of 4 -> 8 x i32.
    /// No saturation while `2 * max(u) * 128 < 32768`, i.e. `u <= 127`.
    /// # Safety
    /// AVX2, FMA and F16C are available (register-only otherwise).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_u8_i8(u: __m256i, s: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
    }

    /// A block's 32 codes ready for dots with signed 8-bit activations: without a
    /// float min (Q4_0, Q5_0) they lose their offset (8, 16) in integers, as ggml's
    /// kernels do, since a float offset term would cancel against the code sum and
    /// leave its rounding (both are large where the result is small); with a min
    /// (Q4_1, Q5_1) they stay unsigned.
    #[derive(Clone, Copy)]
    pub struct Codes {
        q: __m256i,
        signed: bool,
    }

    impl Codes {
        /// # Safety
        /// AVX2, FMA and F16C are available (register-only otherwise).
        #[inline]
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn new(q: __m256i, offset: Option<i8>) -> Self {
            match offset {
                Some(o) => Self {
                    q: _mm256_sub_epi8(q, _mm256_set1_epi8(o)),
                    signed: true,
                },
                None => Self { q, signed: false },
            }
        }

        /// Codes times signed bytes `y`, summed in groups of 4 -> 8 x i32.
        /// # Safety
        /// AVX2, FMA and F16C are available (register-only otherwise).
        #[inline]
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn dot(self, y: __m256i) -> __m256i {
            if self.signed {
                dot_i8_i8(self.q, y)
            } else {
                dot_u8_i8(self.q, y)
            }
        }
    }

    /// Signed bytes times signed bytes (`|a| <= 128`, `|b| <= 127`: no saturation).
    /// # Safety
    /// AVX2, FMA and F16C are available (register-only otherwise).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_i8_i8(a: __m256i, b: __m256i) -> __m256i {
        dot_u8_i8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a))
    }
}
