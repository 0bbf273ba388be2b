//! Absorbed latent attention over a latent-only paged cache: every query head reads the
//! same cached rows `[c_kv | k_pe]` (one "KV head", stored transposed per block like
//! standard keys), scores `scale * q_h · row_j` under the causal / window mask, softmax,
//! and the weighted sum of the latents `c_kv` (the rows' first `rank` values). One task
//! per (sequence, head) on the kernel pool when the batch pays for the fork-join.

use super::attend::{scores16, with_scores, AttnIo};
use super::kv::BLOCK;
use super::mat::SyncPtr;
use super::softmax::softmax;
use crate::kernels::pool;

/// Shapes of one latent layer's attention.
pub struct LatentSpec {
    pub n_heads: usize,
    /// kv_lora_rank: values per latent.
    pub rank: usize,
    /// Cached row width: rank + qk_rope_head_dim.
    pub width: usize,
    pub scale: f32,
    pub window: Option<usize>,
}

/// Writes `[rows, H, rank]` latent outputs into `out`, sequences one after another; each
/// sequence's `q` holds its absorbed queries `[n, H, width]`.
pub fn attend_latent(spec: &LatentSpec, ios: &[AttnIo], out: &mut [f32]) {
    let (h, w, r) = (spec.n_heads, spec.width, spec.rank);
    let rows: usize = ios.iter().map(|io| io.n).sum();
    // The raw writes below rely on these bounds.
    assert!(out.len() >= rows * h * r && ios.iter().all(|io| io.q.len() >= io.n * h * w));
    let out_p = SyncPtr(out.as_mut_ptr());
    let row0 = |s: usize| ios[..s].iter().map(|io| io.n).sum::<usize>();
    let task = |t: usize| {
        let op = out_p;
        let (s, hh) = (t / h, t % h);
        let io = &ios[s];
        with_scores(io.q0 + io.n, |sc| {
            for i in 0..io.n {
                // SAFETY: row row0(s) + i and head hh are this task's alone, inside `out`
                // (asserted above); `pool::run` joins every task before `out` is read.
                let o = unsafe {
                    std::slice::from_raw_parts_mut(op.0.add(((row0(s) + i) * h + hh) * r), r)
                };
                one_query(spec, io, i, &io.q[(i * h + hh) * w..][..w], sc, o);
            }
        });
    };
    let n_tasks = ios.len() * h;
    let work: usize = ios.iter().map(|io| io.n * (io.q0 + io.n)).sum::<usize>() * h * w;
    if work < 1 << 19 {
        (0..n_tasks).for_each(task);
    } else {
        pool::global().run(n_tasks, &task);
    }
}

/// Query `i` of a sequence for one head: scores, softmax, weighted latents into `o`.
fn one_query(spec: &LatentSpec, io: &AttnIo, i: usize, q: &[f32], sc: &mut [f32], o: &mut [f32]) {
    let p = io.q0 + i;
    let lo = spec.window.map_or(0, |w| (p + 1).saturating_sub(w));
    for b in lo / BLOCK..=p / BLOCK {
        let kt = io.kv.k_block(io.layer, b);
        let d = scores16(q, kt);
        let (j0, j1) = ((b * BLOCK).max(lo), (b * BLOCK + BLOCK).min(p + 1));
        for j in j0..j1 {
            sc[j - lo] = d[j - b * BLOCK] * spec.scale;
        }
    }
    let s = &mut sc[..p + 1 - lo];
    softmax(s, None);
    o.fill(0.0);
    for b in lo / BLOCK..=p / BLOCK {
        let kt = io.kv.k_block(io.layer, b);
        let (j0, j1) = ((b * BLOCK).max(lo), (b * BLOCK + BLOCK).min(p + 1));
        for (c, oc) in o.iter_mut().enumerate() {
            let col = &kt[c * BLOCK..(c + 1) * BLOCK];
            for j in j0..j1 {
                *oc += s[j - lo] * col[j - b * BLOCK];
            }
        }
    }
}
