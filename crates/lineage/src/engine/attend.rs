//! Attention of a batch's queries over their sequences' paged KV caches, one (sequence,
//! head) pair per task: scaled scores, soft-cap, causal / sliding-window visibility,
//! sinks, softmax, weighted values. Numerics follow `crate::model::attend` (HF
//! `eager_attention_forward`), and a query's result depends only on its own sequence:
//! the same arithmetic whatever else is in the batch. Tasks run on the kernel pool when
//! the batch is large enough to pay for the fork-join.

use std::cell::RefCell;

use super::kv::{SeqKv, BLOCK};
use super::mat::{axpy, SyncPtr};
use crate::kernels::pool;
use crate::kernels::quant::dot_f32 as dot;

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
    let task = |t: usize| {
        let op = out_p; // the whole wrapper, not its raw field (closures capture fields)
        let (s, h) = (t / spec.n_heads, t % spec.n_heads);
        let io = &ios[s];
        debug_assert!(h < spec.n_heads);
        // SAFETY: rows `row0(s)..row0(s) + io.n` are sequence s's alone and inside `out`
        // (asserted above); head h writes only its own columns of them.
        let o = SyncPtr(unsafe { op.0.add(row0(s) * qw) });
        SCORES.with(|sc| {
            let mut sc = sc.borrow_mut();
            if sc.len() < io.q0 + io.n {
                sc.resize(io.q0 + io.n, 0.0);
            }
            #[cfg(target_arch = "x86_64")]
            if simd {
                // SAFETY: `simd` implies `avx2_available()` (AVX2+FMA); `o` as above.
                return unsafe { one_head_avx2(spec, io, h, &mut sc, o) };
            }
            let _ = simd;
            // SAFETY: as for `one_head_avx2`, without the CPU features.
            unsafe { one_head(spec, io, h, &mut sc, o) };
        });
    };
    let n_tasks = ios.len() * spec.n_heads;
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

/// [`one_head`] compiled for AVX2 (8-wide dot/axpy after inlining); same arithmetic
/// order, so the same results.
/// # Safety
/// AVX2 and FMA are available, and as [`one_head`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn one_head_avx2(spec: &AttnSpec, io: &AttnIo, h: usize, sc: &mut [f32], out: SyncPtr) {
    one_head(spec, io, h, sc, out)
}

/// One query head over one sequence's queries: scores into `sc` (at least `q0 + n`
/// values), then `out[i, h*hd..(h+1)*hd]`.
/// # Safety
/// `h < n_heads`; `out` points at `io.n * n_heads * head_dim` writable values that no
/// one else reads or writes during the call, except other heads' `hd`-wide columns.
#[inline(always)]
unsafe fn one_head(spec: &AttnSpec, io: &AttnIo, h: usize, sc: &mut [f32], out: SyncPtr) {
    let hd = spec.head_dim;
    let (qw, kvw) = (spec.n_heads * hd, spec.n_kv_heads * hd);
    let g = h / (spec.n_heads / spec.n_kv_heads);
    for i in 0..io.n {
        let p = io.q0 + i;
        let lo = spec.window.map_or(0, |w| (p + 1).saturating_sub(w));
        let q = &io.q[i * qw + h * hd..i * qw + (h + 1) * hd];
        let s = &mut sc[..p + 1 - lo];
        // Block by block: one table lookup per 16 positions, not per key. (Plain loops,
        // not closures: a closure is not inlined into the AVX2 build of this function.)
        for b in lo / BLOCK..=p / BLOCK {
            let kb = io.kv.k_block(io.layer, b);
            for j in (b * BLOCK).max(lo)..=(b * BLOCK + BLOCK - 1).min(p) {
                let k = &kb[(j - b * BLOCK) * kvw + g * hd..][..hd];
                let mut v = dot(q, k) * spec.scale;
                if let Some(cap) = spec.softcap {
                    v = (v / cap).tanh() * cap;
                }
                s[j - lo] = v;
            }
        }
        let sink = spec.sinks.map(|s| s[h]);
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
        // SAFETY: i < n and h < n_heads, so `i * qw + h * hd + hd <= n * qw`, inside
        // `out` by this function's contract; only head h writes these columns.
        debug_assert!(i < io.n && h < spec.n_heads);
        let o = unsafe { std::slice::from_raw_parts_mut(out.0.add(i * qw + h * hd), hd) };
        o.fill(0.0);
        let inv = 1.0 / z;
        for b in lo / BLOCK..=p / BLOCK {
            let vb = io.kv.v_block(io.layer, b);
            for j in (b * BLOCK).max(lo)..=(b * BLOCK + BLOCK - 1).min(p) {
                let v = &vb[(j - b * BLOCK) * kvw + g * hd..][..hd];
                axpy(o, s[j - lo] * inv, v);
            }
        }
    }
}
