//! IEEE halves widened to f32 in bulk: the KV cache's f16 keys and values, once per
//! attention tile. With F16C (every AVX2 CPU this crate's SIMD paths run on) eight
//! halves are one `vcvtph2ps`; elsewhere each is widened with shifts and a multiply.
//! Both are exact for every finite half, so the result does not depend on the path.

/// `dst[i] = src[i]` widened, for `i < src.len().min(dst.len())`.
pub fn widen(src: &[u16], dst: &mut [f32]) {
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::quant::simd::avx512_available() {
        // SAFETY: AVX-512F was checked at run time; the slices are n long.
        return unsafe { x86::widen16(src, dst) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::quant::simd::avx2_available() {
        // SAFETY: F16C and AVX2 were checked at run time; the slices are n long.
        return unsafe { x86::widen(src, dst) };
    }
    for (d, &h) in dst.iter_mut().zip(src) {
        *d = widen_one(h);
    }
}

/// One half, exactly for every finite one: its magnitude bits moved into an f32's place
/// and rescaled by 2^112 (the exponent bias difference; subnormals come out right too),
/// then the sign. A shift, a multiply and an or: it vectorizes.
#[inline(always)]
pub fn widen_one(h: u16) -> f32 {
    let h = h as u32;
    let mag = f32::from_bits((h & 0x7fff) << 13) * f32::from_bits(0x7780_0000);
    f32::from_bits(mag.to_bits() | ((h & 0x8000) << 16))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// # Safety
    /// AVX2 and F16C are available; `src.len() == dst.len()`.
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn widen(src: &[u16], dst: &mut [f32]) {
        let n = src.len();
        let mut i = 0;
        while i + 8 <= n {
            let h = _mm_loadu_si128(src.as_ptr().add(i) as *const __m128i);
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
            i += 8;
        }
        for j in i..n {
            dst[j] = super::widen_one(src[j]);
        }
    }

    /// [`widen`] sixteen at a time.
    /// # Safety
    /// AVX-512F is available; `src.len() == dst.len()`.
    #[target_feature(enable = "avx512f,avx2,f16c")]
    pub(super) unsafe fn widen16(src: &[u16], dst: &mut [f32]) {
        let n = src.len();
        let mut i = 0;
        while i + 16 <= n {
            let h = _mm256_loadu_si256(src.as_ptr().add(i) as *const __m256i);
            _mm512_storeu_ps(dst.as_mut_ptr().add(i), _mm512_cvtph_ps(h));
            i += 16;
        }
        widen(&src[i..], &mut dst[i..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every finite half, through the bulk path and one at a time, is `half`'s own value.
    #[test]
    fn every_finite_half_widens_exactly() {
        let bits: Vec<u16> = (0..=u16::MAX)
            .filter(|&b| half::f16::from_bits(b).is_finite())
            .collect();
        let mut out = vec![f32::NAN; bits.len() + 3];
        widen(&bits, &mut out);
        for (i, &b) in bits.iter().enumerate() {
            let want = half::f16::from_bits(b).to_f32().to_bits();
            assert_eq!(out[i].to_bits(), want, "bulk, half {b:#06x}");
            assert_eq!(widen_one(b).to_bits(), want, "one, half {b:#06x}");
        }
        assert!(
            out[bits.len()..].iter().all(|x| x.is_nan()),
            "wrote past src"
        );
    }
}
