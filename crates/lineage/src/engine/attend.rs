//! Attention of a batch's queries over their sequences' paged KV caches, one (sequence,
//! head) pair per task: scaled scores, soft-cap, causal / sliding-window visibility,
//! sinks, softmax, weighted values. Numerics follow `crate::model::attend` (HF
//! `eager_attention_forward`), and a query's result depends only on its own sequence:
//! the same arithmetic whatever else is in the batch. Tasks run on the kernel pool when
//! the batch is large enough to pay for the fork-join. ALiBi adds its per-head slope
//! times the key position after the soft-cap, as the reference does.

use std::cell::RefCell;

use super::kv::{SeqKv, BLOCK};
use super::mat::{axpy, SyncPtr};
use crate::kernels::pool;

/// Shapes and score options of one layer's attention.
pub struct AttnSpec<'a> {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub scale: f32,
    pub softcap: Option<f32>,
    /// Sliding window W: query i sees keys i-W < j <= i.
    pub window: Option<usize>,
    /// Sink logit per query head.
    pub sinks: Option<&'a [f32]>,
    /// ALiBi slope per query head: key j's score gains `slope * j` (HF's form).
    pub alibi: Option<&'a [f32]>,
}

/// One sequence's queries `[n, H*hd]` at positions `q0..q0+n`, its cache (already
/// holding these positions' keys and values) and the layer to read.
pub struct AttnIo<'a> {
    pub q: &'a [f32],
    pub kv: &'a SeqKv,
    pub layer: usize,
    pub q0: usize,
    pub n: usize,
}

thread_local! {
    /// Score row of the task running on this thread: grown to the longest context seen,
    /// then reused, so decode steps allocate nothing.
    static SCORES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's score row, grown to at least `len` values.
pub(super) fn with_scores<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCORES.with(|sc| {
        let mut sc = sc.borrow_mut();
        if sc.len() < len {
            sc.resize(len, 0.0);
        }
        f(&mut sc)
    })
}

/// Writes each sequence's `[n, H*hd]` into `out`, sequences one after another.
pub fn attend(spec: &AttnSpec, ios: &[AttnIo], out: &mut [f32]) {
    attend_opts(spec, ios, out, true)
}

/// [`attend`] with the AVX2 build of the head loop allowed or not (`simd`; the property
/// tests compare both). AVX2 runs only where the CPU has it.
pub(super) fn attend_opts(spec: &AttnSpec, ios: &[AttnIo], out: &mut [f32], simd: bool) {
    let qw = spec.n_heads * spec.head_dim;
    let rows: usize = ios.iter().map(|io| io.n).sum();
    // The raw output columns below rely on this bound.
    assert!(out.len() >= rows * qw && ios.iter().all(|io| io.q.len() >= io.n * qw));
    let simd = simd && crate::kernels::quant::simd::avx2_available();
    let out_p = SyncPtr(out.as_mut_ptr());
    // First output row of each sequence (a handful of sequences: a linear scan).
    let row0 = |s: usize| ios[..s].iter().map(|io| io.n).sum::<usize>();
    // One task per (sequence, KV head): the query heads that share a KV head read each
    // key and value row once between them.
    let kv_heads = spec.n_kv_heads;
    let rep = spec.n_heads / kv_heads;
    let task = |t: usize| {
        let op = out_p; // the whole wrapper, not its raw field (closures capture fields)
        let (s, g) = (t / kv_heads, t % kv_heads);
        let io = &ios[s];
        debug_assert!(g < kv_heads);
        // SAFETY: rows `row0(s)..row0(s) + io.n` are sequence s's alone and inside `out`
        // (asserted above); KV head g's query heads write only their own columns.
        let o = SyncPtr(unsafe { op.0.add(row0(s) * qw) });
        with_scores(rep * (io.q0 + io.n), |sc| {
            #[cfg(target_arch = "x86_64")]
            if simd {
                // SAFETY: `simd` implies `avx2_available()` (AVX2+FMA); `o` as above.
                return unsafe { one_group_avx2(spec, io, g, sc, o) };
            }
            let _ = simd;
            // SAFETY: as for `one_group_avx2`, without the CPU features.
            unsafe { one_group(spec, io, g, sc, o) };
        });
    };
    let n_tasks = ios.len() * kv_heads;
    // Multiply-adds of the scores and the weighted values: below ~0.5M the fork-join
    // costs more than it saves.
    let work: usize =
        ios.iter().map(|io| io.n * (io.q0 + io.n)).sum::<usize>() * spec.n_heads * spec.head_dim;
    if work < 1 << 19 {
        (0..n_tasks).for_each(task);
    } else {
        pool::global().run(n_tasks, &task);
    }
}

/// [`one_group`] compiled for AVX2 (8-wide dot/axpy after inlining); same arithmetic
/// order, so the same results.
/// # Safety
/// AVX2 and FMA are available, and as [`one_group`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn one_group_avx2(spec: &AttnSpec, io: &AttnIo, g: usize, sc: &mut [f32], out: SyncPtr) {
    one_group(spec, io, g, sc, out)
}

/// The query heads of KV head `g` over one sequence's queries: head `g * rep + r`'s
/// scores in `sc[r * ctx..]` (`sc` holds `rep * (q0 + n)` values), then its output
/// `out[i, h*hd..(h+1)*hd]`. Each head's arithmetic is that of a head on its own (HF's
/// eager attention order); sharing only saves the loads of K and V.
/// # Safety
/// `g < n_kv_heads`; `out` points at `io.n * n_heads * head_dim` writable values that no
/// one else reads or writes during the call, except other KV heads' query columns.
#[inline(always)]
unsafe fn one_group(spec: &AttnSpec, io: &AttnIo, g: usize, sc: &mut [f32], out: SyncPtr) {
    let hd = spec.head_dim;
    let (qw, kvw) = (spec.n_heads * hd, spec.n_kv_heads * hd);
    let rep = spec.n_heads / spec.n_kv_heads;
    let ctx = io.q0 + io.n;
    for i in 0..io.n {
        let p = io.q0 + i;
        let lo = spec.window.map_or(0, |w| (p + 1).saturating_sub(w));
        let len = p + 1 - lo;
        let q = |r: usize| &io.q[i * qw + (g * rep + r) * hd..][..hd];
        // Block by block: one table lookup per 16 positions, not per key. (Plain loops,
        // not closures over the rows: those would not be inlined into the AVX2 build.)
        // Per block, all 16 scores of each query head at once down the head dimension
        // (keys are stored transposed); the positions outside lo..=p are dropped.
        for b in lo / BLOCK..=p / BLOCK {
            let kt = &io.kv.k_block(io.layer, b)[g * hd * BLOCK..(g + 1) * hd * BLOCK];
            let (j0, j1) = ((b * BLOCK).max(lo), (b * BLOCK + BLOCK).min(p + 1));
            for r in 0..rep {
                let d = scores16(q(r), kt);
                for j in j0..j1 {
                    sc[r * ctx + j - lo] = score(spec, d[j - b * BLOCK]);
                }
                if let Some(slopes) = spec.alibi {
                    let m = slopes[g * rep + r];
                    for j in j0..j1 {
                        sc[r * ctx + j - lo] += m * j as f32;
                    }
                }
            }
        }
        for r in 0..rep {
            // The softmax weights, left in place of the scores.
            let s = &mut sc[r * ctx..r * ctx + len];
            let sink = spec.sinks.map(|s| s[g * rep + r]);
            let mut m = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            if let Some(sk) = sink {
                m = m.max(sk);
            }
            let mut z = 0f32;
            for v in s.iter_mut() {
                *v = (*v - m).exp();
                z += *v;
            }
            if let Some(sk) = sink {
                z += (sk - m).exp();
            }
            let inv = 1.0 / z;
            s.iter_mut().for_each(|e| *e *= inv);
            // SAFETY: i < n and h = g * rep + r < n_heads, so `i * qw + h * hd + hd <=
            // n * qw`, inside `out` by this function's contract; only head h writes here.
            let o = unsafe { out_row(out, i * qw + (g * rep + r) * hd, hd) };
            o.fill(0.0);
        }
        for b in lo / BLOCK..=p / BLOCK {
            let vb = io.kv.v_block(io.layer, b);
            let v = |j: usize| &vb[(j - b * BLOCK) * kvw + g * hd..][..hd];
            let (j0, j1) = ((b * BLOCK).max(lo), (b * BLOCK + BLOCK).min(p + 1));
            let w = |r: usize, j: usize| sc[r * ctx + j - lo];
            let mut j = j0;
            while j + 4 <= j1 {
                let vs = [v(j), v(j + 1), v(j + 2), v(j + 3)];
                for r in 0..rep {
                    // SAFETY: as above.
                    let o = unsafe { out_row(out, i * qw + (g * rep + r) * hd, hd) };
                    axpy4(o, [w(r, j), w(r, j + 1), w(r, j + 2), w(r, j + 3)], vs);
                }
                j += 4;
            }
            for j in j..j1 {
                for r in 0..rep {
                    // SAFETY: as above.
                    let o = unsafe { out_row(out, i * qw + (g * rep + r) * hd, hd) };
                    axpy(o, w(r, j), v(j));
                }
            }
        }
    }
}

/// A raw score scaled, and soft-capped where the model caps.
#[inline(always)]
fn score(spec: &AttnSpec, dot: f32) -> f32 {
    let v = dot * spec.scale;
    match spec.softcap {
        Some(cap) => (v / cap).tanh() * cap,
        None => v,
    }
}

/// `q · k_t` for the [`BLOCK`] keys of a transposed block `kt` (`[hd][BLOCK]`): one
/// fused multiply-add per dimension and key, in dimension order (the same order with or
/// without SIMD, so the AVX2 build equals the portable one).
#[inline(always)]
pub(super) fn scores16(q: &[f32], kt: &[f32]) -> [f32; BLOCK] {
    let mut acc = [0f32; BLOCK];
    for (d, &qd) in q.iter().enumerate() {
        let col: &[f32; BLOCK] = kt[d * BLOCK..(d + 1) * BLOCK].try_into().expect("a column");
        for l in 0..BLOCK {
            acc[l] = qd.mul_add(col[l], acc[l]);
        }
    }
    acc
}

/// `o += w[0] v[0]`, then `w[1] v[1]`, ... : four `axpy`s in their order, with `o` read
/// and written once.
#[inline(always)]
fn axpy4(o: &mut [f32], w: [f32; 4], v: [&[f32]; 4]) {
    let n = o.len();
    // Re-sliced to `n`: no bounds checks in the loop, so it vectorizes.
    let (v0, v1, v2, v3) = (&v[0][..n], &v[1][..n], &v[2][..n], &v[3][..n]);
    for c in 0..n {
        o[c] = (((o[c] + w[0] * v0[c]) + w[1] * v1[c]) + w[2] * v2[c]) + w[3] * v3[c];
    }
}

/// `hd` output values at `at`.
/// # Safety
/// `out + at .. + hd` is writable and no other live reference covers it.
#[inline(always)]
unsafe fn out_row<'o>(out: SyncPtr, at: usize, hd: usize) -> &'o mut [f32] {
    std::slice::from_raw_parts_mut(out.0.add(at), hd)
}
