//! Attention's value pass: each query vector's output row gains its softmax weights times
//! the value rows, keys in order, one fused multiply-add per key and column.
//!
//! Up to four query vectors share each value row loaded, and their partial outputs stay
//! in registers across a block's keys (a `4 x C` tile of accumulators: 8 zmm at C = 32), so
//! the pass is bound by the multiply-adds, not by reading and writing the output rows.
//! Every output element is the same chain whatever the tile: `o = fma(w_j, v_j[c], o)`
//! over the visible keys in order. Where the vectors of a group see different keys (the
//! causal diagonal, a sliding window's edge), each adds its own leading keys first, then
//! the group's common keys together, then its own trailing keys, so the chain keeps its
//! order and a query's output does not depend on its neighbours in the batch.

use std::ops::Range;

use super::attend_simd::AttnSimd;
use super::kv::BLOCK;
use super::mat::SyncPtr;

/// A block's value rows of one head, as `ValueRows` gives them: the values (f32, or the
/// f16 cache's halves), the stride between positions and the head's offset in a row.
pub(super) type Rows<'a, T> = (&'a [T], usize, usize);

/// A value element the pass reads: f32, or a half widened in registers as it is loaded
/// (decode, where a block's values meet one group of vectors).
pub(super) trait Elem: Copy {
    /// The `W` values at `p` in f32.
    /// # Safety
    /// `p .. p + W` is readable; the CPU has `S`'s features.
    unsafe fn load<S: AttnSimd, const W: usize>(p: *const Self) -> [f32; W];
}

impl Elem for f32 {
    /// # Safety
    /// `p .. p + W` is readable.
    #[inline(always)]
    unsafe fn load<S: AttnSimd, const W: usize>(p: *const f32) -> [f32; W] {
        p.cast::<[f32; W]>().read_unaligned()
    }
}

impl Elem for u16 {
    /// # Safety
    /// `p .. p + W` is readable; the CPU has `S`'s features.
    #[inline(always)]
    unsafe fn load<S: AttnSimd, const W: usize>(p: *const u16) -> [f32; W] {
        S::widen::<W>(p)
    }
}

/// One query vector of a group, as plain offsets (built per block and key group, so it
/// must cost nothing): its visible keys `lo..hi`, its softmax weights (key `j` at
/// `sc[w0 + j - lo]`) and its output row (`hd` values at `out + at`).
#[derive(Clone, Copy, Default)]
pub(super) struct Vector {
    pub w0: usize,
    pub lo: usize,
    pub hi: usize,
    pub at: usize,
}

impl Vector {
    /// This vector's visible keys inside block `b` (empty where it sees none).
    #[inline(always)]
    fn keys_in(&self, b: usize) -> Range<usize> {
        let j0 = (b * BLOCK).max(self.lo);
        let j1 = (b * BLOCK + BLOCK).min(self.hi);
        j0..j1.max(j0)
    }
}

/// Where a group's values, weights and outputs are.
#[derive(Clone, Copy)]
pub(super) struct Io<'a, T> {
    pub rows: Rows<'a, T>,
    pub b: usize,
    pub sc: &'a [f32],
    pub out: SyncPtr,
    pub hd: usize,
}

/// Adds block `b`'s weighted value rows into each of the `NV` vectors' outputs, `C`
/// columns at a time (the build's widest register tile; the rest in narrower chunks).
/// # Safety
/// Each vector's output row `out + at .. + hd` is writable and no one else reads or
/// writes it during the call; the rows of different vectors do not overlap.
#[inline(always)]
pub(super) unsafe fn weighted_block<const NV: usize, const C: usize, S: AttnSimd, T: Elem>(
    io: Io<T>,
    vs: &[Vector; NV],
) {
    let ks: [Range<usize>; NV] = std::array::from_fn(|t| vs[t].keys_in(io.b));
    let mut common = ks[0].clone();
    for k in &ks[1..] {
        common = common.start.max(k.start)..common.end.min(k.end);
    }
    if NV == 1 || common.is_empty() {
        for (v, k) in vs.iter().zip(ks) {
            keys_into::<1, C, S, T>(io, k, &[*v]);
        }
        return;
    }
    // Leading keys, the shared ones, then trailing keys: each chain stays in key order.
    for (v, k) in vs.iter().zip(&ks) {
        keys_into::<1, C, S, T>(io, k.start..common.start, &[*v]);
    }
    keys_into::<NV, C, S, T>(io, common.clone(), vs);
    for (v, k) in vs.iter().zip(&ks) {
        keys_into::<1, C, S, T>(io, common.end..k.end, &[*v]);
    }
}

/// Keys `keys` (inside block `b`, visible to every vector) into the outputs of `vs`, in
/// column chunks of `C`, then 8, then 1.
/// # Safety
/// As [`weighted_block`].
#[inline(always)]
unsafe fn keys_into<const NV: usize, const C: usize, S: AttnSimd, T: Elem>(
    io: Io<T>,
    keys: Range<usize>,
    vs: &[Vector; NV],
) {
    if keys.is_empty() {
        return;
    }
    // The raw reads below stay inside these bounds.
    let (vals, stride, at) = io.rows;
    assert!((keys.end - 1 - io.b * BLOCK) * stride + at + io.hd <= vals.len());
    assert!(vs
        .iter()
        .all(|v| v.lo <= keys.start && keys.end <= v.hi && v.w0 + v.hi - v.lo <= io.sc.len()));
    let mut c0 = 0;
    while c0 + C <= io.hd {
        chunk::<NV, C, S, T>(io, &keys, vs, c0);
        c0 += C;
    }
    while c0 + 8 <= io.hd {
        chunk::<NV, 8, S, T>(io, &keys, vs, c0);
        c0 += 8;
    }
    while c0 < io.hd {
        chunk::<NV, 1, S, T>(io, &keys, vs, c0);
        c0 += 1;
    }
}

/// Columns `c0..c0 + W` of every vector's output: loaded once, then one multiply-add
/// per key and column, then stored.
/// # Safety
/// As [`weighted_block`], with the bounds [`keys_into`] asserts and `c0 + W <= hd`.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `t` indexes the weights and the accumulators
unsafe fn chunk<const NV: usize, const W: usize, S: AttnSimd, T: Elem>(
    io: Io<T>,
    keys: &Range<usize>,
    vs: &[Vector; NV],
    c0: usize,
) {
    let (vals, stride, at) = io.rows;
    let ws: [*const f32; NV] =
        std::array::from_fn(|t| io.sc.as_ptr().add(vs[t].w0 + keys.start - vs[t].lo));
    let os: [*mut [f32; W]; NV] = std::array::from_fn(|t| io.out.0.add(vs[t].at + c0).cast());
    let mut acc: [[f32; W]; NV] = std::array::from_fn(|t| os[t].read_unaligned());
    let mut vp = vals
        .as_ptr()
        .add((keys.start - io.b * BLOCK) * stride + at + c0);
    for k in 0..keys.len() {
        let v: [f32; W] = T::load::<S, W>(vp);
        for t in 0..NV {
            let w = *ws[t].add(k);
            for l in 0..W {
                acc[t][l] = w.mul_add(v[l], acc[t][l]);
            }
        }
        vp = vp.add(stride);
    }
    for t in 0..NV {
        os[t].write_unaligned(acc[t]);
    }
}
