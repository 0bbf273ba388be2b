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
    let ctx = scores.len() / spec.n_heads;
    assert!(out.len() >= io.n * spec.n_heads * spec.head_dim && ctx > io.q0 + io.n - 1);
    let (out_p, sc_p) = (SyncPtr(out.as_mut_ptr()), SyncPtr(scores.as_mut_ptr()));
    let head = |h: usize| {
        let sp = sc_p;
        // SAFETY: head h touches only its own score row (and, in `one_head`, its own
        // hd-wide columns of `out`); `run` joins before anyone reads them.
        let sc = unsafe { std::slice::from_raw_parts_mut(sp.0.add(h * ctx), ctx) };
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::quant::simd::avx2_available() {
            // SAFETY: AVX2 and FMA were detected on this CPU.
            return unsafe { one_head_avx2(spec, io, h, sc, out_p) };
        }
        one_head(spec, io, h, sc, out_p);
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
/// AVX2 and FMA are available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn one_head_avx2(spec: &AttnSpec, io: &AttnIo, h: usize, sc: &mut [f32], out: SyncPtr) {
    one_head(spec, io, h, sc, out)
}

#[inline(always)]
fn one_head(spec: &AttnSpec, io: &AttnIo, h: usize, sc: &mut [f32], out: SyncPtr) {
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
        // SAFETY: in bounds (checked in `attend`); only head h writes these columns.
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
