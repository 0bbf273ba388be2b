//! K-quant super-blocks (Q4_K, Q5_K, Q6_K) split into byte codes in registers, with their
//! scales: what the K-quant row kernels (k_avx2.rs) meet with their integer dot.
//!
//! Reference: ggml-cpu `arch/x86/quants.c` `ggml_vec_dot_q4_K_q8_K` and
//! `ggml_vec_dot_q6_K_q8_K` (AVX2: the same code splitting).

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::super::act::Q8KBlock;
    use super::super::k_unpack::scale_min_k4;
    use super::super::simd::x86::f16_to_f32;
    use std::arch::x86_64::*;

    /// One super-block: 256 unsigned codes as 8 vectors of 32 (vector `t` holds values
    /// `32t..32t+32`: groups `2t` and `2t + 1`), a scale and a min per 16 values, `d`,
    /// `dmin` and the code offset (`x = d sc (u - off) - dmin m`).
    pub(crate) struct Split {
        pub u: [__m256i; 8],
        pub sc: [i32; 16],
        pub mn: [i32; 16],
        pub d: f32,
        pub dmin: f32,
        pub off: i32,
    }

    /// Q4_K `{ half d; half dmin; u8 scales[12]; u8 qs[128]; }`: 64-value chunk `c` is
    /// the low nibbles of its 32 bytes (sub-block `2c`), then the high ones.
    /// # Safety
    /// AVX2, FMA and F16C are available (`b` is one block, by its length check).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn q4_k(b: &[u8]) -> Split {
        assert!(b.len() >= 144);
        let (sc, mn) = k4_scales(b);
        let mask = _mm256_set1_epi8(0x0f);
        let mut u = [_mm256_setzero_si256(); 8];
        for c in 0..4 {
            let q = _mm256_loadu_si256(b.as_ptr().add(16 + 32 * c) as *const __m256i);
            u[2 * c] = _mm256_and_si256(q, mask);
            u[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16::<4>(q), mask);
        }
        let (d, dmin) = (f16_to_f32(b.as_ptr()), f16_to_f32(b.as_ptr().add(2)));
        Split {
            u,
            sc,
            mn,
            d,
            dmin,
            off: 0,
        }
    }

    /// The types split here, as the const parameter of the row kernels: each kernel is
    /// compiled for its type, so the split is a direct call that inlines.
    pub(crate) const Q4_K: u8 = 4;
    pub(crate) const Q5_K: u8 = 5;
    pub(crate) const Q6_K: u8 = 6;

    /// Bytes per super-block of type `T`.
    pub(crate) const fn block_bytes<const T: u8>() -> usize {
        match T {
            Q4_K => 144,
            Q5_K => 176,
            _ => 210,
        }
    }

    /// One super-block of type `T` ([`q4_k`], [`q5_k`], [`q6_k`]).
    /// # Safety
    /// AVX2, FMA and F16C are available (`b` is one block, by their length checks).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn split<const T: u8>(b: &[u8]) -> Split {
        match T {
            Q4_K => q4_k(b),
            Q5_K => q5_k(b),
            _ => q6_k(b),
        }
    }

    /// Q4_K's scales and mins (12 bytes at 4) as one per 16 values.
    #[inline]
    fn k4_scales(b: &[u8]) -> ([i32; 16], [i32; 16]) {
        let (mut sc, mut mn) = ([0i32; 16], [0i32; 16]);
        for s in 0..8 {
            let (a, m) = scale_min_k4(s, &b[4..16]);
            (sc[2 * s], sc[2 * s + 1]) = (a as i32, a as i32);
            (mn[2 * s], mn[2 * s + 1]) = (m as i32, m as i32);
        }
        (sc, mn)
    }

    /// Q5_K `{ half d; half dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; }`: Q4_K's
    /// nibbles, with bit `t` of `qh[l]` on top of value `32t + l`.
    /// # Safety
    /// AVX2, FMA and F16C are available (`b` is one block, by its length check).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn q5_k(b: &[u8]) -> Split {
        assert!(b.len() >= 176);
        let (sc, mn) = k4_scales(b);
        let (mask, one) = (_mm256_set1_epi8(0x0f), _mm256_set1_epi8(1));
        let qh = _mm256_loadu_si256(b.as_ptr().add(16) as *const __m256i);
        // Bit t of every byte, as 0 or 16 (16-bit shifts: the mask keeps each byte's own).
        let fifth = |t: i64| {
            let bit = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_set_epi64x(0, t)), one);
            _mm256_slli_epi16::<4>(bit)
        };
        let mut u = [_mm256_setzero_si256(); 8];
        for c in 0..4 {
            let q = _mm256_loadu_si256(b.as_ptr().add(48 + 32 * c) as *const __m256i);
            let t = 2 * c as i64;
            u[2 * c] = _mm256_or_si256(_mm256_and_si256(q, mask), fifth(t));
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q), mask);
            u[2 * c + 1] = _mm256_or_si256(hi, fifth(t + 1));
        }
        let (d, dmin) = (f16_to_f32(b.as_ptr()), f16_to_f32(b.as_ptr().add(2)));
        Split {
            u,
            sc,
            mn,
            d,
            dmin,
            off: 0,
        }
    }

    /// Q6_K `{ u8 ql[128]; u8 qh[64]; i8 scales[16]; half d; }`, codes `u - 32`: half
    /// `n` of 128 values takes the low nibbles of `ql[64n..][..64]`, then the high ones,
    /// each with two bits of `qh[32n..][..32]` on top.
    /// # Safety
    /// AVX2, FMA and F16C are available (`b` is one block, by its length check).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn q6_k(b: &[u8]) -> Split {
        assert!(b.len() >= 210);
        let sc: [i32; 16] = std::array::from_fn(|g| b[192 + g] as i8 as i32);
        let (m4, m2) = (_mm256_set1_epi8(0x0f), _mm256_set1_epi8(3));
        let mut u = [_mm256_setzero_si256(); 8];
        for n in 0..2 {
            let ld = |at: usize| _mm256_loadu_si256(b.as_ptr().add(at) as *const __m256i);
            let (ql0, ql1, qh) = (ld(64 * n), ld(64 * n + 32), ld(128 + 32 * n));
            let high = |shift: __m128i| {
                let h = _mm256_and_si256(_mm256_srl_epi16(qh, shift), m2);
                _mm256_slli_epi16::<4>(h)
            };
            let lo = |q: __m256i| _mm256_and_si256(q, m4);
            let hi = |q: __m256i| _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4);
            let sh = |k: i64| _mm_set_epi64x(0, k);
            u[4 * n] = _mm256_or_si256(lo(ql0), high(sh(0)));
            u[4 * n + 1] = _mm256_or_si256(lo(ql1), high(sh(2)));
            u[4 * n + 2] = _mm256_or_si256(hi(ql0), high(sh(4)));
            u[4 * n + 3] = _mm256_or_si256(hi(ql1), high(sh(6)));
        }
        let d = f16_to_f32(b.as_ptr().add(208));
        Split {
            u,
            sc,
            mn: [0; 16],
            d,
            dmin: 0.0,
            off: 32,
        }
    }

    /// `sum_g v[g] * bsums[g]`.
    #[inline(always)]
    pub(crate) fn with_bsums(v: &[i32; 16], y: &Q8KBlock) -> i32 {
        v.iter().zip(&y.bsums).map(|(&a, &b)| a * b as i32).sum()
    }
}
