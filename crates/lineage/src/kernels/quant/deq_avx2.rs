//! Block dequantization into AVX2 registers, eight values at a time, for the
//! exact-activation matmul: the decode dot consumes each group straight from the
//! register, the prefill panel stores it once and reuses it for every activation row.
//!
//! Every group is bitwise equal to the scalar dequantizers (and so to gguf-py): the
//! products `d * q` are exact in f32 (f16 scale times a code of at most 8 bits, or
//! a 17-bit K-quant sub-scale times a 4-bit code), so `fma(q, d, m)` rounds once,
//! exactly where `d * q + m` rounds. Q6_K's `dl * (u - 32)` may round, and is a
//! plain multiply there as in the scalar code. Two exceptions, both from Q4_0/Q5_0's
//! offset folded into the fma, `fma(q, d, -8 d)` for the scalar `d * (q - 8)`: the
//! midpoint code with `d < 0` gives +0 where the scalar gives -0, and an infinite `d`
//! gives NaN where the scalar gives ±inf. Neither changes a dot product of finite values
//! beyond the sign of an exact zero; a `sub` before the multiply would cost an
//! instruction per 8 values in the decode loop (prop_tests.rs allows exactly the zero).
//! Layouts: see q4.rs, q5.rs, q8.rs and k_unpack.rs (ggml-common.h block structs).
//! Offsets use `wrapping_add` (see exact.rs): no debug-build precondition checks.
//!
//! Safety: every function needs AVX2, FMA and F16C (exact.rs hands them out only after
//! `avx2_available`). A block pointer `b` must have `BYTES` readable bytes; each
//! `scales` / `group` below names the byte range of the block it reads, all inside
//! `0..BYTES` for `g < VALS / 8`. Row lengths are debug-asserted once per row in
//! exact.rs (`deq_row`, `dot_rows`), not per group, to keep the dev-build loops tight.

use std::arch::x86_64::*;

use super::k_unpack::scale_min_k4;
use super::simd::x86::f16_to_f32;

/// One block format as groups of eight f32 values.
pub(crate) trait Deq {
    /// Bytes per block.
    const BYTES: usize;
    /// Values per block (32 or 256).
    const VALS: usize;
    /// Per-block scales, decoded once per block.
    type Scales: Copy;
    /// # Safety
    /// `b .. b + BYTES` is readable (one whole block); AVX2, FMA and F16C are available.
    unsafe fn scales(b: *const u8) -> Self::Scales;
    /// Values `8g .. 8g + 8` of the block at `b`.
    /// # Safety
    /// As [`Deq::scales`], and `g < VALS / 8`.
    unsafe fn group(b: *const u8, s: &Self::Scales, g: usize) -> __m256;
}

/// The 8 bytes at `p` as the low half of an xmm register. A plain `[u8; 8]` read:
/// `_mm_loadl_epi64` goes through `read_unaligned`, whose debug-build precondition
/// checks (on in `opt-level = 3` dev builds) cost more than the dequantization.
/// # Safety
/// AVX2 is available; `p .. p + 8` is readable (`[u8; 8]` has alignment 1).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load8(p: *const u8) -> __m128i {
    _mm_cvtsi64_si128(i64::from_le_bytes(*(p as *const [u8; 8])))
}

/// 8 f32 at `p` (unaligned), without `_mm256_loadu_ps`'s debug-build checks (see
/// [`load8`]); `lddqu` is a plain unaligned load on current CPUs.
/// # Safety
/// AVX2 is available; `p .. p + 8` (32 bytes) is readable, any alignment.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn load_ps(p: *const f32) -> __m256 {
    _mm256_castsi256_ps(_mm256_lddqu_si256(p as *const __m256i))
}

/// The 8 bytes at `p`, zero-extended to 8 x i32.
/// # Safety
/// As [`load8`].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn bytes8(p: *const u8) -> __m256i {
    _mm256_cvtepu8_epi32(load8(p))
}

/// Nibble codes of values `8g..8g+8` of a 32-block whose 16 packed bytes start at `qs`:
/// values 0..16 are the low nibbles, 16..32 the high ones.
/// # Safety
/// AVX2 is available; `qs .. qs + 16` is readable (reads `qs + 8 (g & 1) ..` 8 bytes).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn nibbles8(qs: *const u8, g: usize) -> __m256i {
    let raw = bytes8(qs.wrapping_add(8 * (g & 1)));
    if g < 2 {
        _mm256_and_si256(raw, _mm256_set1_epi32(0x0f))
    } else {
        _mm256_srli_epi32::<4>(raw)
    }
}

/// `q * d + m` as f32.
/// # Safety
/// AVX2 and FMA are available (register-only).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn affine(q: __m256i, d: __m256, m: __m256) -> __m256 {
    _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), d, m)
}

/// The fifth bits of values `8g..8g+8` (bit `j` of the 32-bit `qh` for value `j`), as 16s.
/// # Safety
/// AVX2 is available (register-only).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn fifth_bits8(qh: __m256i, g: usize) -> __m256i {
    let shifts = _mm256_add_epi32(
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        _mm256_set1_epi32(8 * g as i32),
    );
    let bit = _mm256_and_si256(_mm256_srlv_epi32(qh, shifts), _mm256_set1_epi32(1));
    _mm256_slli_epi32::<4>(bit)
}

/// Scale and offset of a 32-block: `x = q * d + m`.
#[derive(Clone, Copy)]
pub(crate) struct Affine {
    d: __m256,
    m: __m256,
}

/// As [`Affine`], with Q5's 32 high bits broadcast.
#[derive(Clone, Copy)]
pub(crate) struct Affine5 {
    a: Affine,
    qh: __m256i,
}

pub(crate) struct Q4_0;
pub(crate) struct Q4_1;
pub(crate) struct Q5_0;
pub(crate) struct Q5_1;
pub(crate) struct Q8_0;
pub(crate) struct Q4K;
pub(crate) struct Q6K;

/// `Affine` from an f16 `d` at `b` and, if `min_at` is given, an f16 `m` there;
/// otherwise `m = off * d` (Q4_0: -8, Q5_0: -16), exact as `d` is an f16.
/// # Safety
/// F16C is available; `b .. b + 2` and, with `min_at`, `b + at .. b + at + 2` are readable.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn affine_at(b: *const u8, min_at: Option<usize>, off: f32) -> Affine {
    let d = f16_to_f32(b);
    let m = match min_at {
        Some(at) => f16_to_f32(b.wrapping_add(at)),
        None => off * d,
    };
    Affine {
        d: _mm256_set1_ps(d),
        m: _mm256_set1_ps(m),
    }
}

impl Deq for Q4_0 {
    const BYTES: usize = 18;
    const VALS: usize = 32;
    type Scales = Affine;
    /// # Safety
    /// As [`Deq::scales`]; reads `d` at bytes 0..2 of the 18.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales(b: *const u8) -> Affine {
        affine_at(b, None, -8.0)
    }
    /// # Safety
    /// As [`Deq::group`]; reads codes at `2 + 8 (g & 1) ..` 8 bytes, inside 2..18.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn group(b: *const u8, s: &Affine, g: usize) -> __m256 {
        affine(nibbles8(b.wrapping_add(2), g), s.d, s.m)
    }
}

impl Deq for Q4_1 {
    const BYTES: usize = 20;
    const VALS: usize = 32;
    type Scales = Affine;
    /// # Safety
    /// As [`Deq::scales`]; reads `d`, `m` at bytes 0..4 of the 20.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales(b: *const u8) -> Affine {
        affine_at(b, Some(2), 0.0)
    }
    /// # Safety
    /// As [`Deq::group`]; reads codes at `4 + 8 (g & 1) ..` 8 bytes, inside 4..20.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn group(b: *const u8, s: &Affine, g: usize) -> __m256 {
        affine(nibbles8(b.wrapping_add(4), g), s.d, s.m)
    }
}

/// Q5_0 (`qh` at 2, codes at 6) and Q5_1 (`qh` at 4, codes at 8).
/// # Safety
/// AVX2 and FMA are available; `b + qh_at + 4 .. + 16` (the codes) is readable.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_group(b: *const u8, s: &Affine5, g: usize, qh_at: usize) -> __m256 {
    let q = _mm256_or_si256(nibbles8(b.wrapping_add(qh_at + 4), g), fifth_bits8(s.qh, g));
    affine(q, s.a.d, s.a.m)
}

/// The 32-bit `qh` at `b`, broadcast.
/// # Safety
/// AVX2 is available; `b .. b + 4` is readable.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn qh_at(b: *const u8) -> __m256i {
    _mm256_set1_epi32(u32::from_le_bytes([
        *b,
        *b.wrapping_add(1),
        *b.wrapping_add(2),
        *b.wrapping_add(3),
    ]) as i32)
}

impl Deq for Q5_0 {
    const BYTES: usize = 22;
    const VALS: usize = 32;
    type Scales = Affine5;
    /// # Safety
    /// As [`Deq::scales`]; reads `d` and `qh` at bytes 0..6 of the 22.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales(b: *const u8) -> Affine5 {
        Affine5 {
            a: affine_at(b, None, -16.0),
            qh: qh_at(b.wrapping_add(2)),
        }
    }
    /// # Safety
    /// As [`Deq::group`]; reads codes at `6 + 8 (g & 1) ..` 8 bytes, inside 6..22.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn group(b: *const u8, s: &Affine5, g: usize) -> __m256 {
        q5_group(b, s, g, 2)
    }
}

impl Deq for Q5_1 {
    const BYTES: usize = 24;
    const VALS: usize = 32;
    type Scales = Affine5;
    /// # Safety
    /// As [`Deq::scales`]; reads `d`, `m` and `qh` at bytes 0..8 of the 24.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales(b: *const u8) -> Affine5 {
        Affine5 {
            a: affine_at(b, Some(2), 0.0),
            qh: qh_at(b.wrapping_add(4)),
        }
    }
    /// # Safety
    /// As [`Deq::group`]; reads codes at `8 + 8 (g & 1) ..` 8 bytes, inside 8..24.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn group(b: *const u8, s: &Affine5, g: usize) -> __m256 {
        q5_group(b, s, g, 4)
    }
}

impl Deq for Q8_0 {
    const BYTES: usize = 34;
    const VALS: usize = 32;
    type Scales = __m256;
    /// # Safety
    /// As [`Deq::scales`]; reads `d` at bytes 0..2 of the 34.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales(b: *const u8) -> __m256 {
        _mm256_set1_ps(f16_to_f32(b))
    }
    /// # Safety
    /// As [`Deq::group`]; `g < 4`: reads `2 + 8 g ..` 8 bytes, inside 2..34.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn group(b: *const u8, d: &__m256, g: usize) -> __m256 {
        let q = _mm256_cvtepi8_epi32(load8(b.wrapping_add(2 + 8 * g)));
        _mm256_mul_ps(_mm256_cvtepi32_ps(q), *d)
    }
}

/// Per sub-block scale and negated min of a K-quant super-block: `x = u * dl + nml`.
#[derive(Clone, Copy)]
pub(crate) struct KScales {
    pub(crate) dl: [f32; 16],
    pub(crate) nml: [f32; 16],
}

impl Deq for Q4K {
    const BYTES: usize = 144;
    const VALS: usize = 256;
    type Scales = KScales;
    /// # Safety
    /// As [`Deq::scales`]; reads `d`, `dmin` and the 12 scale bytes: bytes 0..16 of 144.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales(b: *const u8) -> KScales {
        let (d, dmin) = (f16_to_f32(b), f16_to_f32(b.wrapping_add(2)));
        // Bytes 4..16 of the block, readable by this function's contract.
        let sc = std::slice::from_raw_parts(b.wrapping_add(4), 12);
        let mut s = KScales {
            dl: [0.0; 16],
            nml: [0.0; 16],
        };
        for j in 0..8 {
            let (scale, min) = scale_min_k4(j, sc);
            s.dl[j] = d * scale as f32;
            s.nml[j] = -(dmin * min as f32);
        }
        s
    }
    /// Group `g` is in 64-value chunk `g / 8`: its first four groups are the low
    /// nibbles of the chunk's 32 bytes, the last four the high ones; 32-value
    /// sub-block `g / 4` gives the scale.
    /// # Safety
    /// As [`Deq::group`]; `g < 32`: reads `16 + 32 (g / 8) + 8 (g % 4) ..` 8 bytes,
    /// ending at most at 16 + 96 + 24 + 8 = 144.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn group(b: *const u8, s: &KScales, g: usize) -> __m256 {
        let (c, t) = (g / 8, g % 8);
        let raw = bytes8(b.wrapping_add(16 + 32 * c + 8 * (t % 4)));
        let q = if t < 4 {
            _mm256_and_si256(raw, _mm256_set1_epi32(0x0f))
        } else {
            _mm256_srli_epi32::<4>(raw)
        };
        let j = g / 4;
        affine(q, _mm256_set1_ps(s.dl[j]), _mm256_set1_ps(s.nml[j]))
    }
}

impl Deq for Q6K {
    const BYTES: usize = 210;
    const VALS: usize = 256;
    type Scales = [f32; 16];
    /// # Safety
    /// As [`Deq::scales`]; reads the 16 scales at 192..208 and `d` at 208..210 of the 210.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scales(b: *const u8) -> [f32; 16] {
        let d = f16_to_f32(b.wrapping_add(208));
        // `g < 16`: bytes 192..208.
        std::array::from_fn(|g| d * *b.wrapping_add(192 + g) as i8 as f32)
    }
    /// Value `e = 128 n + 32 q + l`: low 4 bits from `ql[64 n + 32 (q & 1) + l]`
    /// (high nibble when `q >= 2`), top 2 bits from `qh[32 n + l] >> 2q`; minus 32.
    /// # Safety
    /// As [`Deq::group`]; `g < 32`: `ql` at `64 n + 32 (q & 1) + l ..` 8 bytes (ending
    /// at most at 64 + 32 + 24 + 8 = 128), `qh` at `128 + 32 n + l ..` 8 bytes (ending
    /// at most at 192); `dl[e / 16]` with `e < 256`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn group(b: *const u8, dl: &[f32; 16], g: usize) -> __m256 {
        let e = 8 * g;
        let (n, q, l) = (e / 128, (e % 128) / 32, e % 32);
        let ql = bytes8(b.wrapping_add(64 * n + 32 * (q & 1) + l));
        let lo = _mm256_and_si256(
            _mm256_srlv_epi32(ql, _mm256_set1_epi32(4 * (q >> 1) as i32)),
            _mm256_set1_epi32(0x0f),
        );
        let qh = bytes8(b.wrapping_add(128 + 32 * n + l));
        let hi = _mm256_and_si256(
            _mm256_srlv_epi32(qh, _mm256_set1_epi32(2 * q as i32)),
            _mm256_set1_epi32(3),
        );
        let u = _mm256_sub_epi32(
            _mm256_or_si256(lo, _mm256_slli_epi32::<4>(hi)),
            _mm256_set1_epi32(32),
        );
        _mm256_mul_ps(_mm256_cvtepi32_ps(u), _mm256_set1_ps(dl[e / 16]))
    }
}
