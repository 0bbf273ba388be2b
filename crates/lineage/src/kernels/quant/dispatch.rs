//! Per-type function tables: which dequantizer and which row-dot kernel serve a type,
//! with the AVX2 variants chosen at run time.

use super::act::{Q8Block, Q8KBlock};
use super::int8_avx2;
use super::int8_panel;
use super::int8_vnni::{self, Tile};
use super::int8_wide::{self, WideKernel};
use super::k_avx2;
use super::k_avx2::KRow;
use super::k_avx512;
use super::k_unpack::{self as ku, KBlock};
use super::k_wide::{self, KWide};
use super::simd::avx2_available;
use super::types::GgmlType;
use super::{float, k_quants, mxfp4, q4, q5, q8};

pub(crate) type Dequant = fn(&[u8], &mut [f32]);
/// Row of weight blocks · row of Q8 activation blocks. `unsafe` because the AVX2
/// variants need the CPU features that [`avx2_available`] checked.
/// # Safety
/// The CPU supports AVX2, FMA and F16C, which [`kernel`] checked before handing out an
/// AVX2 variant. Lengths are no safety condition: every kernel stops at the shorter of
/// the weight blocks and the activation blocks.
pub(crate) type Q8Dot = unsafe fn(&[u8], &[Q8Block]) -> f32;
/// Row of weight blocks · four rows of Q8 activation blocks (the prefill tile).
/// # Safety
/// As [`Q8Dot`].
pub(crate) type Q8Dot4 = unsafe fn(&[u8], [&[Q8Block]; 4]) -> [f32; 4];
/// Unpacked K-quant row · row of Q8_K activation blocks.
/// # Safety
/// As [`Q8Dot`] (the blocks are fixed-size arrays, zipped).
pub(crate) type KDot = unsafe fn(&[KBlock], &[Q8KBlock]) -> f32;

/// How a matmul treats a weight type.
#[derive(Clone, Copy)]
pub(crate) enum Kernel {
    /// 32-blocks against Q8 activations, with a 4-row tile kernel where there is one
    /// and, for Q8_0, a tile of four weight rows by 1..=4 activation rows (AVX-512 VNNI
    /// where the CPU has it, else AVX2), which then takes every full group of four
    /// weight rows.
    Q8 {
        dot: Q8Dot,
        dot4: Option<Q8Dot4>,
        tile: Option<Tile>,
        /// Q8_0's prefill (more activation rows than a tile takes) on AVX2 without
        /// VNNI: weight rows decoded once into a panel that every activation row meets
        /// (int8_panel.rs).
        panel: Option<int8_panel::PanelKernel>,
        /// The nibble formats on AVX2 and AVX-512 VNNI: sixteen weight rows at a time,
        /// with their own numerics (int8_wide.rs); where present it takes every row,
        /// and `tile` and `panel` are `None`.
        wide: Option<WideKernel>,
    },
    /// K-quants: unpack each weight row once, then dot against Q8_K activations.
    /// Where the CPU has AVX2, `row` takes the packed rows directly.
    Q8K {
        unpack: k_quants::Unpack,
        dot: KDot,
        row: Option<KRow>,
        /// Prefill on AVX-512 VNNI: sixteen weight rows decoded into a panel
        /// (k_wide.rs), every output the bits `row` gives it.
        wide: Option<KWide>,
    },
    /// Dequantize each weight row once, then f32 dots.
    Float,
}

fn deq_q2_k(b: &[u8], o: &mut [f32]) {
    k_quants::dequantize_k(ku::unpack_q2_k, 84, b, o)
}
fn deq_q3_k(b: &[u8], o: &mut [f32]) {
    k_quants::dequantize_k(ku::unpack_q3_k, 110, b, o)
}
fn deq_q4_k(b: &[u8], o: &mut [f32]) {
    k_quants::dequantize_k(ku::unpack_q4_k, 144, b, o)
}
fn deq_q5_k(b: &[u8], o: &mut [f32]) {
    k_quants::dequantize_k(ku::unpack_q5_k, 176, b, o)
}
fn deq_q6_k(b: &[u8], o: &mut [f32]) {
    k_quants::dequantize_k(ku::unpack_q6_k, 210, b, o)
}

/// The dequantizer for whole blocks of `ty`, if it has one.
pub(crate) fn dequantizer(ty: GgmlType) -> Option<Dequant> {
    use GgmlType::*;
    Some(match ty {
        F32 => float::dequantize_f32,
        F16 => float::dequantize_f16,
        BF16 => float::dequantize_bf16,
        Q4_0 => q4::dequantize_q4_0,
        Q4_1 => q4::dequantize_q4_1,
        Q5_0 => q5::dequantize_q5_0,
        Q5_1 => q5::dequantize_q5_1,
        Q8_0 => q8::dequantize_q8_0,
        Q2_K => deq_q2_k,
        Q3_K => deq_q3_k,
        Q4_K => deq_q4_k,
        Q5_K => deq_q5_k,
        Q6_K => deq_q6_k,
        MXFP4 => mxfp4::dequantize_mxfp4,
        _ => return None,
    })
}

/// The matmul kernel for `ty`; `simd = false` forces the scalar variants (tests).
pub(crate) fn kernel(ty: GgmlType, simd: bool) -> Option<Kernel> {
    use GgmlType::*;
    let simd = simd && avx2_available();
    let q8 = |scalar: Q8Dot, fast: Option<(Q8Dot, Option<Q8Dot4>)>| match fast.filter(|_| simd) {
        Some((dot, dot4)) => match int8_wide::kernels(ty) {
            Some(wide) => Kernel::Q8 {
                dot,
                dot4,
                tile: None,
                panel: None,
                wide: Some(wide),
            },
            None => Kernel::Q8 {
                dot,
                dot4,
                tile: int8_vnni::tile(ty).or_else(|| int8_avx2::tile(ty)),
                // Q8_0 on VNNI keeps its tile, which beats the AVX2 panels by 1.3-1.5x.
                panel: match int8_vnni::tile(ty) {
                    Some(_) => None,
                    None => int8_panel::kernels(ty),
                },
                wide: None,
            },
        },
        None => Kernel::Q8 {
            dot: scalar,
            dot4: None,
            tile: None,
            panel: None,
            wide: None,
        },
    };
    let kq = |unpack| Kernel::Q8K {
        unpack,
        dot: if simd {
            avx2_kdot()
        } else {
            k_quants::vec_dot_k
        },
        row: if simd {
            k_avx512::k_row(ty).or_else(|| k_avx2::k_row(ty))
        } else {
            None
        },
        wide: if simd { k_wide::kernels(ty) } else { None },
    };
    Some(match ty {
        Q4_0 => q8(q4::vec_dot_q4_0, avx2_fn(Q4_0)),
        Q4_1 => q8(q4::vec_dot_q4_1, avx2_fn(Q4_1)),
        Q5_0 => q8(q5::vec_dot_q5_0, avx2_fn(Q5_0)),
        Q5_1 => q8(q5::vec_dot_q5_1, avx2_fn(Q5_1)),
        Q8_0 => q8(q8::vec_dot_q8_0, avx2_fn(Q8_0)),
        MXFP4 => q8(mxfp4::vec_dot_mxfp4, avx2_fn(MXFP4)),
        Q2_K => kq(ku::unpack_q2_k as k_quants::Unpack),
        Q3_K => kq(ku::unpack_q3_k),
        Q4_K => kq(ku::unpack_q4_k),
        Q5_K => kq(ku::unpack_q5_k),
        Q6_K => kq(ku::unpack_q6_k),
        F32 | F16 | BF16 => Kernel::Float,
        _ => return None,
    })
}

#[cfg(target_arch = "x86_64")]
fn avx2_fn(ty: GgmlType) -> Option<(Q8Dot, Option<Q8Dot4>)> {
    use GgmlType::*;
    let pair = |a: Q8Dot, b: Q8Dot4| (a, Some(b));
    Some(match ty {
        Q4_0 => pair(q4::avx2::vec_dot_q4_0, q4::avx2::vec_dot4_q4_0),
        Q4_1 => pair(q4::avx2::vec_dot_q4_1, q4::avx2::vec_dot4_q4_1),
        Q5_0 => pair(q5::avx2::vec_dot_q5_0, q5::avx2::vec_dot4_q5_0),
        Q5_1 => pair(q5::avx2::vec_dot_q5_1, q5::avx2::vec_dot4_q5_1),
        Q8_0 => pair(q8::avx2::vec_dot_q8_0, q8::avx2::vec_dot4_q8_0),
        MXFP4 => (mxfp4::avx2::vec_dot_mxfp4 as Q8Dot, None),
        _ => return None,
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2_fn(_: GgmlType) -> Option<(Q8Dot, Option<Q8Dot4>)> {
    None
}

#[cfg(target_arch = "x86_64")]
fn avx2_kdot() -> KDot {
    k_quants::avx2::vec_dot_k
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2_kdot() -> KDot {
    k_quants::vec_dot_k
}
