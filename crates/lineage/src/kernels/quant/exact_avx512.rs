//! The AVX-512 build of the exact-activation prefill micro-kernel (`exact.rs`), chosen at
//! run time where the CPU has AVX-512F. It sums every output in the same order as the
//! AVX2 kernels, lane for lane, so results stay bit-identical across the decode kernels
//! (AVX2), these panels and any batch: a 512-bit accumulator holds two of the AVX2
//! path's 8-wide chains side by side (`lo`: chains 0 and 1, the groups `4m` and `4m+1`,
//! which are the 16 contiguous values at `32m`; `hi`: chains 2 and 3), and the chains
//! are split back out for the leftover groups and the fixed join. Half the instructions
//! of the AVX2 tile, and on cores with 512-bit FMA units twice the arithmetic per cycle.

use std::arch::x86_64::*;

use super::exact::{PANEL, TILE};

/// Whether this CPU runs the AVX-512 micro-kernel (checked at run time, cached by std;
/// `LINEAGE_NO_AVX512=1` turns it off, for comparisons).
pub(crate) fn available() -> bool {
    super::simd::avx512_available()
}

/// 4 panel rows (stride `cols`) against `M` rows of `x`, in the AVX2 chain order.
/// # Safety
/// AVX-512F, AVX2, FMA and F16C are available; `panel` holds `PANEL * cols` values and `x`
/// `M * cols`. Full rounds read `[r * cols + c..][..32]` with `c + 32 <= cols`, leftover
/// groups `[r * cols + c..][..8]` with `c + 8 <= cols`, the tail single values below
/// `cols`: all inside those lengths.
// Index loops: the register tile's rows and columns are the indices.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(super) unsafe fn tile<const M: usize>(
    panel: &[f32],
    x: &[f32],
    cols: usize,
) -> [[f32; TILE]; PANEL] {
    debug_assert!(panel.len() >= PANEL * cols && x.len() >= M * cols && M <= TILE);
    let (pp, xp) = (panel.as_ptr(), x.as_ptr());
    let (k32, k8) = (cols / 32 * 32, cols / 8 * 8);
    let mut lo = [[_mm512_setzero_ps(); M]; PANEL];
    let mut hi = [[_mm512_setzero_ps(); M]; PANEL];
    let mut c = 0;
    while c < k32 {
        for (half, acc) in [(0, &mut lo), (16, &mut hi)] {
            let mut wv = [_mm512_setzero_ps(); PANEL];
            for p in 0..PANEL {
                wv[p] = _mm512_loadu_ps(pp.wrapping_add(p * cols + c + half));
            }
            for q in 0..M {
                let xv = _mm512_loadu_ps(xp.wrapping_add(q * cols + c + half));
                for p in 0..PANEL {
                    acc[p][q] = _mm512_fmadd_ps(wv[p], xv, acc[p][q]);
                }
            }
        }
        c += 32;
    }
    // Each output's chains joined (leftover groups first), then all of them summed
    // across lanes eight at a time: the same adds as `hsum_ps`, one output per lane.
    let mut joined = [_mm256_setzero_ps(); PANEL * TILE];
    for p in 0..PANEL {
        for q in 0..M {
            let mut chains = [
                _mm512_castps512_ps256(lo[p][q]),
                _mm512_extractf32x8_ps::<1>(lo[p][q]),
                _mm512_castps512_ps256(hi[p][q]),
                _mm512_extractf32x8_ps::<1>(hi[p][q]),
            ];
            // Groups past the last full round: group k32/8 + r goes to chain r.
            for (r, g) in (k32..k8).step_by(8).enumerate() {
                let w = _mm256_loadu_ps(pp.wrapping_add(p * cols + g));
                let xv = _mm256_loadu_ps(xp.wrapping_add(q * cols + g));
                chains[r] = _mm256_fmadd_ps(w, xv, chains[r]);
            }
            joined[p * TILE + q] = join_chains(chains);
        }
    }
    let mut sums = [0f32; PANEL * TILE + 4];
    for (at, eight) in joined.chunks(8).enumerate() {
        let mut v = [_mm256_setzero_ps(); 8];
        v[..eight.len()].copy_from_slice(eight);
        sums[at * 8..at * 8 + 8].copy_from_slice(&hsum8(v));
    }
    let mut out = [[0f32; TILE]; PANEL];
    for p in 0..PANEL {
        for q in 0..M {
            let mut s = sums[p * TILE + q];
            for c in k8..cols {
                s += *pp.wrapping_add(p * cols + c) * *xp.wrapping_add(q * cols + c);
            }
            out[p][q] = s;
        }
    }
    out
}

/// `((c0 + c1) + c2) + c3`: the AVX2 chains' join before the lane sum.
/// # Safety
/// AVX2 is available (register-only otherwise).
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn join_chains(c: [__m256; 4]) -> __m256 {
    _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c[0], c[1]), c[2]), c[3])
}

/// `[hsum_ps(v[0]), ..., hsum_ps(v[7])]` bit for bit, in 7 adds and 8 shuffles instead
/// of 24 adds and 32 shuffles: every output gets `hsum_ps`'s pairing (the 128-bit halves,
/// then lanes 0+2 and 1+3, then those two), one output per lane.
/// # Safety
/// AVX2 is available (register-only).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn hsum8(v: [__m256; 8]) -> [f32; 8] {
    // Halves: t_i = lo(v_i) + hi(v_i), two outputs per register.
    let t = |a: __m256, b: __m256| {
        _mm256_add_ps(
            _mm256_permute2f128_ps::<0x20>(a, b),
            _mm256_permute2f128_ps::<0x31>(a, b),
        )
    };
    let (t01, t23, t45, t67) = (t(v[0], v[1]), t(v[2], v[3]), t(v[4], v[5]), t(v[6], v[7]));
    // Lanes 0+2 and 1+3 of each t.
    let u = |a: __m256, b: __m256| {
        _mm256_add_ps(
            _mm256_shuffle_ps::<0x44>(a, b),
            _mm256_shuffle_ps::<0xee>(a, b),
        )
    };
    let (u0, u1) = (u(t01, t23), u(t45, t67));
    // u0 = [v0: a b, v2: a b | v1: a b, v3: a b], u1 likewise for v4..v7: the pairs.
    let r = _mm256_add_ps(
        _mm256_shuffle_ps::<0x88>(u0, u1),
        _mm256_shuffle_ps::<0xdd>(u0, u1),
    );
    // r = [v0, v2, v4, v6 | v1, v3, v5, v7].
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), r);
    [
        lanes[0], lanes[4], lanes[1], lanes[5], lanes[2], lanes[6], lanes[3], lanes[7],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::quant::simd::{avx2_available, x86::hsum_ps};

    /// `hsum8` equals eight `hsum_ps` calls bit for bit, on values whose sums round.
    #[test]
    fn hsum8_equals_hsum_ps_bitwise() {
        if !avx2_available() {
            return; // the scalar build has no such kernel to check
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            f32::from_bits(0x3f00_0000 | (x as u32 & 0x007f_ffff))
                * if x & 1 << 40 == 0 { 1e-3 } else { 1e3 }
        };
        for _ in 0..1000 {
            let vals: Vec<[f32; 8]> = (0..8).map(|_| std::array::from_fn(|_| next())).collect();
            // SAFETY: AVX2 checked above; the loads read 8 values of each array.
            unsafe {
                let v: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(vals[i].as_ptr()));
                let got = hsum8(v);
                for i in 0..8 {
                    assert_eq!(got[i].to_bits(), hsum_ps(v[i]).to_bits(), "output {i}");
                }
            }
        }
    }
}

/// The AVX-512 row dequantizer of `ty` for the prefill panels, where there is one: 16
/// values per instruction, each bitwise equal to the AVX2 group (`deq_avx2.rs`: the same
/// `fma(q, d, m)` or `q * d` per value), so the panels keep the decode path's numbers.
pub(super) fn row_dequantizer(ty: super::GgmlType) -> Option<super::exact::RowDeq> {
    use super::GgmlType::*;
    match ty {
        Q4_0 if available() => Some(deq_q4_0),
        Q4_1 if available() => Some(deq_q4_1),
        Q5_0 if available() => Some(deq_q5_0),
        Q5_1 if available() => Some(deq_q5_1),
        Q8_0 if available() => Some(deq_q8_0),
        Q4_K if available() => Some(deq_k::<Q4KBlock>),
        Q6_K if available() => Some(deq_k::<Q6KBlock>),
        _ => None,
    }
}

/// Whole blocks that fit both `w` and `out`.
fn blocks(w: &[u8], out: &[f32], bytes: usize) -> usize {
    (w.len() / bytes).min(out.len() / 32)
}

/// The 32 values of a Q4_0 (`d`, codes at 2; `m = -8 d`) or Q4_1 (`d`, `m`, codes at 4)
/// block at `b` as two registers: values 0..16 (the low nibbles) and 16..32 (the high).
/// # Safety
/// AVX-512F and F16C are available; `b .. b + 18` (Q4_0) or `+ 20` (Q4_1) is readable.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn q4_block(b: *const u8, has_min: bool) -> (__m512, __m512) {
    use super::simd::x86::f16_to_f32;
    let d = f16_to_f32(b);
    let m = if has_min {
        f16_to_f32(b.wrapping_add(2))
    } else {
        -8.0 * d
    };
    let (dv, mv) = (_mm512_set1_ps(d), _mm512_set1_ps(m));
    let qoff = if has_min { 4 } else { 2 };
    let q = _mm512_cvtepu8_epi32(_mm_loadu_si128(b.wrapping_add(qoff) as *const __m128i));
    let lo = _mm512_cvtepi32_ps(_mm512_and_si512(q, _mm512_set1_epi32(0x0f)));
    let hi = _mm512_cvtepi32_ps(_mm512_srli_epi32::<4>(q));
    (_mm512_fmadd_ps(lo, dv, mv), _mm512_fmadd_ps(hi, dv, mv))
}

/// The 32 values of a Q8_0 block (`d`, then 32 signed codes; `x = q * d`).
/// # Safety
/// AVX-512F and F16C are available; `b .. b + 34` is readable.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn q8_block(b: *const u8) -> (__m512, __m512) {
    use super::simd::x86::f16_to_f32;
    let d = _mm512_set1_ps(f16_to_f32(b));
    let half = |h: usize| {
        let raw = _mm_loadu_si128(b.wrapping_add(2 + 16 * h) as *const __m128i);
        _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(raw)), d)
    };
    (half(0), half(1))
}

/// The 32 values of a Q5_0 (`d`, `qh` at 2, codes at 6; `m = -16 d`) or Q5_1 (`d`, `m`,
/// `qh` at 4, codes at 8) block: value j's low four bits are its nibble (low nibbles are
/// values 0..16, high nibbles 16..32), its fifth is bit j of `qh`; `x = fma(q, d, m)`
/// as on the AVX2 path.
/// # Safety
/// AVX-512F and F16C are available; `b .. b + 22` (Q5_0) or `+ 24` (Q5_1) is readable.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn q5_block(b: *const u8, has_min: bool) -> (__m512, __m512) {
    use super::simd::x86::f16_to_f32;
    let d = f16_to_f32(b);
    let m = if has_min {
        f16_to_f32(b.wrapping_add(2))
    } else {
        -16.0 * d
    };
    let (dv, mv) = (_mm512_set1_ps(d), _mm512_set1_ps(m));
    let qh_at = if has_min { 4 } else { 2 };
    let qh = (b.wrapping_add(qh_at) as *const u32).read_unaligned();
    let q = _mm512_cvtepu8_epi32(_mm_loadu_si128(b.wrapping_add(qh_at + 4) as *const __m128i));
    let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let fifth = |shift: u32| {
        let bits = _mm512_srlv_epi32(_mm512_set1_epi32((qh >> shift) as i32), lanes);
        _mm512_slli_epi32::<4>(_mm512_and_si512(bits, _mm512_set1_epi32(1)))
    };
    let lo = _mm512_or_si512(_mm512_and_si512(q, _mm512_set1_epi32(0x0f)), fifth(0));
    let hi = _mm512_or_si512(_mm512_srli_epi32::<4>(q), fifth(16));
    let f = |v: __m512i| _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), dv, mv);
    (f(lo), f(hi))
}

/// A block format as two 16-value registers per block.
trait Block16 {
    const BYTES: usize;
    /// # Safety
    /// AVX-512F and F16C are available; `b .. b + BYTES` is readable.
    unsafe fn values(b: *const u8) -> (__m512, __m512);
}

struct Q4_0;
struct Q4_1;
struct Q5_0;
struct Q5_1;
struct Q8_0;

impl Block16 for Q5_0 {
    const BYTES: usize = 22;
    /// # Safety
    /// As the trait's: `b` points at one whole block; AVX-512F is available.
    #[inline(always)]
    unsafe fn values(b: *const u8) -> (__m512, __m512) {
        q5_block(b, false)
    }
}

impl Block16 for Q5_1 {
    const BYTES: usize = 24;
    /// # Safety
    /// As the trait's: `b` points at one whole block; AVX-512F is available.
    #[inline(always)]
    unsafe fn values(b: *const u8) -> (__m512, __m512) {
        q5_block(b, true)
    }
}

impl Block16 for Q4_0 {
    const BYTES: usize = 18;
    /// # Safety
    /// As the trait's: `b` points at one whole block; AVX-512F is available.
    #[inline(always)]
    unsafe fn values(b: *const u8) -> (__m512, __m512) {
        q4_block(b, false)
    }
}

impl Block16 for Q4_1 {
    const BYTES: usize = 20;
    /// # Safety
    /// As the trait's: `b` points at one whole block; AVX-512F is available.
    #[inline(always)]
    unsafe fn values(b: *const u8) -> (__m512, __m512) {
        q4_block(b, true)
    }
}

impl Block16 for Q8_0 {
    const BYTES: usize = 34;
    /// # Safety
    /// As the trait's: `b` points at one whole block; AVX-512F is available.
    #[inline(always)]
    unsafe fn values(b: *const u8) -> (__m512, __m512) {
        q8_block(b)
    }
}

/// Row dequantizer for the panels.
/// # Safety
/// AVX-512F, AVX2, FMA and F16C are available. Any lengths: whole blocks of both.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn deq_row<T: Block16>(w: &[u8], out: &mut [f32]) {
    let (wp, op) = (w.as_ptr(), out.as_mut_ptr());
    for j in 0..blocks(w, out, T::BYTES) {
        let (lo, hi) = T::values(wp.wrapping_add(j * T::BYTES));
        let o = op.wrapping_add(j * 32);
        _mm512_storeu_ps(o, lo);
        _mm512_storeu_ps(o.wrapping_add(16), hi);
    }
}

/// # Safety
/// As [`deq_row`].
unsafe fn deq_q4_0(w: &[u8], out: &mut [f32]) {
    deq_row::<Q4_0>(w, out)
}

/// # Safety
/// As [`deq_row`].
unsafe fn deq_q4_1(w: &[u8], out: &mut [f32]) {
    deq_row::<Q4_1>(w, out)
}

/// # Safety
/// As [`deq_row`].
unsafe fn deq_q5_0(w: &[u8], out: &mut [f32]) {
    deq_row::<Q5_0>(w, out)
}

/// # Safety
/// As [`deq_row`].
unsafe fn deq_q5_1(w: &[u8], out: &mut [f32]) {
    deq_row::<Q5_1>(w, out)
}

/// # Safety
/// As [`deq_row`].
unsafe fn deq_q8_0(w: &[u8], out: &mut [f32]) {
    deq_row::<Q8_0>(w, out)
}

/// The AVX-512 decode dot of `ty` (a weight row against 1..=3 activation rows), where
/// there is one. In a 32-block the low register holds the AVX2 path's chains 0 and 1
/// (values 0..16) and the high one chains 2 and 3, so the sums are the AVX2 ones, bit
/// for bit (and so the panels', whatever the batch).
pub(super) fn row_dot(ty: super::GgmlType) -> Option<super::exact::RowDot> {
    use super::GgmlType as G;
    match ty {
        G::Q4_0 if available() => Some(dot_any::<Q4_0>),
        G::Q4_1 if available() => Some(dot_any::<Q4_1>),
        G::Q5_0 if available() => Some(dot_any::<Q5_0>),
        G::Q5_1 if available() => Some(dot_any::<Q5_1>),
        G::Q8_0 if available() => Some(dot_any::<Q8_0>),
        G::Q4_K if available() => Some(dot_any_k::<Q4KBlock>),
        G::Q6_K if available() => Some(dot_any_k::<Q6KBlock>),
        _ => None,
    }
}

/// The AVX-512 decode dot of [`R`] weight rows against one activation row, where `ty`
/// has one: each row's sums exactly as [`row_dot`]'s (so the same bits), with the rows'
/// chains interleaved, which one row's two chains cannot be.
pub(super) fn rows_dot(ty: super::GgmlType) -> Option<super::exact::RowsDot> {
    use super::GgmlType as G;
    match ty {
        G::Q4_0 if available() => Some(dot_rows_x1::<Q4_0>),
        G::Q4_1 if available() => Some(dot_rows_x1::<Q4_1>),
        G::Q5_0 if available() => Some(dot_rows_x1::<Q5_0>),
        G::Q5_1 if available() => Some(dot_rows_x1::<Q5_1>),
        G::Q8_0 if available() => Some(dot_rows_x1::<Q8_0>),
        _ => None,
    }
}

const R: usize = super::exact::ROWS;

/// # Safety
/// AVX-512F, AVX2, FMA and F16C are available; `w` holds [`R`] consecutive rows of
/// `row_bytes` whole blocks each, `x` at least their values, `out` [`R`] slots.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn dot_rows_x1<T: Block16>(w: &[u8], row_bytes: usize, x: &[f32], out: &mut [f32]) {
    let nb = row_bytes / T::BYTES;
    assert!(w.len() >= R * row_bytes && out.len() >= R && x.len() >= nb * 32);
    let wp = w.as_ptr();
    let mut lo = [_mm512_setzero_ps(); R];
    let mut hi = [_mm512_setzero_ps(); R];
    for j in 0..nb {
        let xj = x.as_ptr().wrapping_add(j * 32);
        let (xl, xh) = (_mm512_loadu_ps(xj), _mm512_loadu_ps(xj.wrapping_add(16)));
        for k in 0..R {
            let (vl, vh) = T::values(wp.wrapping_add(k * row_bytes + j * T::BYTES));
            lo[k] = _mm512_fmadd_ps(vl, xl, lo[k]);
            hi[k] = _mm512_fmadd_ps(vh, xh, hi[k]);
        }
    }
    finish_rows(&lo, &hi, out);
}

/// # Safety
/// AVX-512F, AVX2, FMA and F16C are available; `w` is whole blocks, `xs` holds 1..=3 rows
/// each at least `w`'s values long, `out` has a slot per row.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn dot_any<T: Block16>(w: &[u8], xs: &[&[f32]], out: &mut [f32]) {
    match xs.len() {
        1 => dot_rows::<T, 1>(w, xs, out),
        2 => dot_rows::<T, 2>(w, xs, out),
        _ => dot_rows::<T, 3>(w, xs, out),
    }
}

/// # Safety
/// As [`dot_any`], with `xs.len() == N`. Block `j` reads `w[j * BYTES..][..BYTES]` and
/// `xs[k][j * 32..][..32]`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn dot_rows<T: Block16, const N: usize>(w: &[u8], xs: &[&[f32]], out: &mut [f32]) {
    let nb = w.len() / T::BYTES;
    debug_assert!(xs.len() == N && out.len() >= N && xs.iter().all(|x| x.len() >= nb * 32));
    let mut lo = [_mm512_setzero_ps(); N];
    let mut hi = [_mm512_setzero_ps(); N];
    let xp: [*const f32; N] = std::array::from_fn(|k| xs[k].as_ptr());
    for j in 0..nb {
        let (vl, vh) = T::values(w.as_ptr().wrapping_add(j * T::BYTES));
        for k in 0..N {
            let x = xp[k].wrapping_add(j * 32);
            lo[k] = _mm512_fmadd_ps(vl, _mm512_loadu_ps(x), lo[k]);
            hi[k] = _mm512_fmadd_ps(vh, _mm512_loadu_ps(x.wrapping_add(16)), hi[k]);
        }
    }
    finish_rows(&lo, &hi, out);
}

/// The 256 values of a Q4_K super-block as 16 registers, in value order: 64-value chunk
/// `c` is the low nibbles of its 32 code bytes (sub-block `2c`) then the high ones
/// (`2c + 1`), each `u * dl + nml` with the AVX2 path's scales (`deq_avx2::Q4K`).
/// Register `2i` holds values `32i..32i+16` (the AVX2 chains 0 and 1 of those 32),
/// `2i + 1` the next 16 (chains 2 and 3).
/// # Safety
/// AVX-512F, AVX2, FMA and F16C are available; `b .. b + 144` is readable.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn q4_k_values(b: *const u8) -> [__m512; 16] {
    use super::deq_avx2::{Deq, Q4K};
    let s = Q4K::scales(b);
    let mut v = [_mm512_setzero_ps(); 16];
    let mask = _mm512_set1_epi32(0x0f);
    for c in 0..4 {
        let qs = b.wrapping_add(16 + 32 * c);
        for half in 0..2 {
            let raw =
                _mm512_cvtepu8_epi32(_mm_loadu_si128(qs.wrapping_add(16 * half) as *const __m128i));
            let (lo, hi) = (_mm512_and_si512(raw, mask), _mm512_srli_epi32::<4>(raw));
            for (sub, q) in [(2 * c, lo), (2 * c + 1, hi)] {
                let (dl, nml) = (_mm512_set1_ps(s.dl[sub]), _mm512_set1_ps(s.nml[sub]));
                v[2 * sub + half] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(q), dl, nml);
            }
        }
    }
    v
}

/// The 256 values of a Q6_K super-block as 16 registers in value order. Value
/// `e = 128 n + 32 q + l`: low 4 bits from `ql[64 n + 32 (q & 1) + l]` (high nibble when
/// `q >= 2`), top 2 bits from `qh[32 n + l] >> 2q`, minus 32, times the scale of its 16
/// (`deq_avx2::Q6K`'s arithmetic: a plain multiply). Register `r` is values
/// `16r..16r+16`, so one scale each.
/// # Safety
/// AVX-512F, AVX2, FMA and F16C are available; `b .. b + 210` is readable.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn q6_k_values(b: *const u8) -> [__m512; 16] {
    use super::deq_avx2::{Deq, Q6K};
    let dl = Q6K::scales(b);
    let bytes16 =
        |at: usize| _mm512_cvtepu8_epi32(_mm_loadu_si128(b.wrapping_add(at) as *const __m128i));
    std::array::from_fn(|r| {
        let e = 16 * r;
        let (n, q, l) = (e / 128, (e % 128) / 32, e % 32);
        let ql = bytes16(64 * n + 32 * (q & 1) + l);
        let lo = _mm512_and_si512(
            _mm512_srlv_epi32(ql, _mm512_set1_epi32(4 * (q >> 1) as i32)),
            _mm512_set1_epi32(0x0f),
        );
        let qh = bytes16(128 + 32 * n + l);
        let hi = _mm512_and_si512(
            _mm512_srlv_epi32(qh, _mm512_set1_epi32(2 * q as i32)),
            _mm512_set1_epi32(3),
        );
        let u = _mm512_sub_epi32(
            _mm512_or_si512(lo, _mm512_slli_epi32::<4>(hi)),
            _mm512_set1_epi32(32),
        );
        _mm512_mul_ps(_mm512_cvtepi32_ps(u), _mm512_set1_ps(dl[r]))
    })
}

/// A K-quant super-block (256 values) as 16 registers in value order.
trait KBlock {
    const BYTES: usize;
    /// # Safety
    /// AVX-512F, AVX2, FMA and F16C are available; `b .. b + BYTES` is readable.
    unsafe fn values(b: *const u8) -> [__m512; 16];
}

struct Q4KBlock;
struct Q6KBlock;

impl KBlock for Q4KBlock {
    const BYTES: usize = 144;
    /// # Safety
    /// As the trait's: `b` points at one whole super-block; AVX-512F is available.
    #[inline(always)]
    unsafe fn values(b: *const u8) -> [__m512; 16] {
        q4_k_values(b)
    }
}

impl KBlock for Q6KBlock {
    const BYTES: usize = 210;
    /// # Safety
    /// As the trait's: `b` points at one whole super-block; AVX-512F is available.
    #[inline(always)]
    unsafe fn values(b: *const u8) -> [__m512; 16] {
        q6_k_values(b)
    }
}

/// # Safety
/// As [`deq_row`], for a K-quant (super-blocks of 256 values).
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn deq_k<T: KBlock>(w: &[u8], out: &mut [f32]) {
    let nb = (w.len() / T::BYTES).min(out.len() / 256);
    let (wp, op) = (w.as_ptr(), out.as_mut_ptr());
    for j in 0..nb {
        let v = T::values(wp.wrapping_add(j * T::BYTES));
        for (r, reg) in v.iter().enumerate() {
            _mm512_storeu_ps(op.wrapping_add(j * 256 + 16 * r), *reg);
        }
    }
}

/// # Safety
/// As [`dot_any`], for a K-quant.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn dot_any_k<T: KBlock>(w: &[u8], xs: &[&[f32]], out: &mut [f32]) {
    match xs.len() {
        1 => dot_rows_k::<T, 1>(w, xs, out),
        2 => dot_rows_k::<T, 2>(w, xs, out),
        _ => dot_rows_k::<T, 3>(w, xs, out),
    }
}

/// # Safety
/// As [`dot_rows`]: super-block `j` reads `w[j * BYTES..][..BYTES]` and
/// `xs[k][j * 256..][..256]`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn dot_rows_k<T: KBlock, const N: usize>(w: &[u8], xs: &[&[f32]], out: &mut [f32]) {
    let nb = w.len() / T::BYTES;
    debug_assert!(xs.len() == N && out.len() >= N && xs.iter().all(|x| x.len() >= nb * 256));
    let mut lo = [_mm512_setzero_ps(); N];
    let mut hi = [_mm512_setzero_ps(); N];
    let xp: [*const f32; N] = std::array::from_fn(|k| xs[k].as_ptr());
    for j in 0..nb {
        let v = T::values(w.as_ptr().wrapping_add(j * T::BYTES));
        for k in 0..N {
            let x = xp[k].wrapping_add(j * 256);
            // Registers in value order alternate chains 0|1 and 2|3.
            for r in 0..8 {
                lo[k] = _mm512_fmadd_ps(v[2 * r], _mm512_loadu_ps(x.wrapping_add(32 * r)), lo[k]);
                hi[k] = _mm512_fmadd_ps(
                    v[2 * r + 1],
                    _mm512_loadu_ps(x.wrapping_add(32 * r + 16)),
                    hi[k],
                );
            }
        }
    }
    finish_rows(&lo, &hi, out);
}

/// Each row's chains (`lo`: 0 and 1, `hi`: 2 and 3) joined in the AVX2 order and summed
/// across lanes into `out[..N]`.
/// # Safety
/// AVX-512F, AVX2 and FMA are available; `N <= 8` and `out` has `N` slots.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn finish_rows<const N: usize>(lo: &[__m512; N], hi: &[__m512; N], out: &mut [f32]) {
    let joined: [__m256; 8] = std::array::from_fn(|k| {
        if k < N {
            join_chains([
                _mm512_castps512_ps256(lo[k]),
                _mm512_extractf32x8_ps::<1>(lo[k]),
                _mm512_castps512_ps256(hi[k]),
                _mm512_extractf32x8_ps::<1>(hi[k]),
            ])
        } else {
            _mm256_setzero_ps()
        }
    });
    let sums = hsum8(joined);
    out[..N].copy_from_slice(&sums[..N]);
}
