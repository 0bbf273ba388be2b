//! Attention of a chunk of queries over the KV cache, one head at a time: scaled scores,
//! soft-cap, causal / sliding-window visibility, sinks, softmax, weighted values.
//! Numerics follow `crate::model::attend` (HF `eager_attention_forward`). Heads run on
//! the kernel pool when the chunk is large enough to pay for the fork-join.

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

/// The chunk: queries `[n, H*hd]` at positions `q0..q0+n`, the cache rows `[ctx, Hkv*hd]`
/// (already holding this chunk's keys and values).
pub struct AttnIo<'a> {
    pub q: &'a [f32],
    pub k_cache: &'a [f32],
    pub v_cache: &'a [f32],
    pub q0: usize,
    pub n: usize,
}

/// Writes `[n, H*hd]` into `out`; `scores` holds `H * ctx` values of scratch.
pub fn attend(spec: &AttnSpec, io: &AttnIo, scores: &mut [f32], out: &mut [f32]) {
    attend_opts(spec, io, scores, out, true)
}

/// [`attend`] with the AVX2 build of the head loop allowed or not (`simd`; the property
/// tests compare both). AVX2 runs only where the CPU has it.
pub(super) fn attend_opts(
    spec: &AttnSpec,
    io: &AttnIo,
    scores: &mut [f32],
    out: &mut [f32],
    simd: bool,
) {
    let ctx = scores.len() / spec.n_heads;
    // The raw score rows and output columns below rely on these two bounds.
    assert!(out.len() >= io.n * spec.n_heads * spec.head_dim && ctx >= io.q0 + io.n);
    let simd = simd && crate::kernels::quant::simd::avx2_available();
    let (out_p, sc_p) = (SyncPtr(out.as_mut_ptr()), SyncPtr(scores.as_mut_ptr()));
    let head = |h: usize| {
        let sp = sc_p;
        debug_assert!(h < spec.n_heads);
        // SAFETY: h < n_heads (a task index), so `h * ctx + ctx <= scores.len()`; head h
        // alone touches this row, and `run` joins before `scores` is used again.
        let sc = unsafe { std::slice::from_raw_parts_mut(sp.0.add(h * ctx), ctx) };
        #[cfg(target_arch = "x86_64")]
        if simd {
            // SAFETY: `simd` implies `avx2_available()` (AVX2+FMA); `out` as asserted
            // above, head h writes only its own columns.
            return unsafe { one_head_avx2(spec, io, h, sc, out_p) };
        }
        let _ = simd;
        // SAFETY: as for `one_head_avx2`, without the CPU features.
        unsafe { one_head(spec, io, h, sc, out_p) };
    };
    let work = io.n * (io.q0 + io.n) * spec.n_heads;
    if work < 1 << 14 {
        (0..spec.n_heads).for_each(head);
    } else {
        pool::global().run(spec.n_heads, &head);
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

/// One query head over the chunk: scores into `sc`, then `out[i, h*hd..(h+1)*hd]`.
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
        for (j, sj) in (lo..=p).zip(s.iter_mut()) {
            let mut v = dot(q, &io.k_cache[j * kvw + g * hd..j * kvw + (g + 1) * hd]) * spec.scale;
            if let Some(cap) = spec.softcap {
                v = (v / cap).tanh() * cap;
            }
            *sj = v;
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
        for (j, &e) in (lo..=p).zip(s.iter()) {
            axpy(
                o,
                e * inv,
                &io.v_cache[j * kvw + g * hd..j * kvw + (g + 1) * hd],
            );
        }
    }
}
