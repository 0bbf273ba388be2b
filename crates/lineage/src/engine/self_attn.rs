//! The standard attention sublayer on the engine's buffers: q|k|v in one stacked matmul,
//! QK-norm, RoPE, the keys and values written to the paged cache, attention over it
//! (with the layer's window, ALiBi slopes, soft-cap and sinks), then `attn_output`.
//! Reads `Scratch::xn`, writes `Scratch::o`.

use super::attend::{attend, AttnIo, AttnSpec};
use super::layer::{write_kv, Seg};
use super::lin::{Lin, Stack};
use super::mat::dense_vec;
use super::rows::{rope_head, RowNorm};
use super::state::Scratch;
use super::Dims;
use crate::plan::AttentionPlan;
use crate::weights::Weights;
use crate::Result;

#[derive(Debug, Clone)]
pub struct SelfAttn {
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
    scale: f32,
    softcap: Option<f32>,
    /// q, k, v.
    qkv: Stack,
    o: Lin,
    /// q and k norms: rows of head_dim (per head) or of the whole projection.
    qk_norm: Option<(RowNorm, RowNorm)>,
    sinks: Option<Vec<f32>>,
    window: Option<usize>,
    alibi: Option<Vec<f32>>,
    /// Index into `Engine::ropes`.
    rope: Option<usize>,
}

impl SelfAttn {
    pub fn load(a: &AttentionPlan, w: &Weights, rope: Option<usize>) -> Result<Self> {
        let qk_norm = match &a.qk_norm {
            None => None,
            Some(n) => Some((RowNorm::of(w, &n.q)?, RowNorm::of(w, &n.k)?)),
        };
        let sinks = a
            .sinks
            .as_ref()
            .map(|s| dense_vec(s, w, &[a.n_heads]))
            .transpose()?;
        Ok(Self {
            n_heads: a.n_heads,
            n_kv_heads: a.n_kv_heads,
            head_dim: a.head_dim,
            scale: a.scale as f32,
            softcap: a.softcap.map(|c| c as f32),
            qkv: Stack::new(vec![
                Lin::load(w, &a.q)?,
                Lin::load(w, &a.k)?,
                Lin::load(w, &a.v)?,
            ]),
            o: Lin::load(w, &a.o)?,
            qk_norm,
            sinks,
            window: a.sees.window,
            alibi: a
                .sees
                .alibi()
                .map(|s| s.iter().map(|&m| m as f32).collect()),
            rope,
        })
    }

    /// Width of one head.
    pub fn head_dim(&self) -> usize {
        self.head_dim
    }

    /// Widths of one row of the q and k|v buffers.
    pub fn widths(&self) -> (usize, usize) {
        (
            self.n_heads * self.head_dim,
            self.n_kv_heads * self.head_dim,
        )
    }

    pub fn forward(
        &self,
        dm: &Dims,
        s: &mut Scratch,
        segs: &mut [Seg],
        li: usize,
        n: usize,
    ) -> Result<()> {
        let hd = self.head_dim;
        let (qw, kvw) = self.widths();
        let (q, k, v) = (&mut s.q[..n * qw], &mut s.k[..n * kvw], &mut s.v[..n * kvw]);
        self.qkv
            .apply(&s.xn, n, &mut s.tmp, &mut [&mut *q, &mut *k, &mut *v])?;
        if let Some((qn, kn)) = &self.qk_norm {
            // Rows of width hd (per head) or of the full projection: the same call.
            qn.apply_inplace(q);
            kn.apply_inplace(k);
        }
        if let Some(r) = self.rope {
            let (half, pairing) = (dm.rope_half[r], dm.rope_pairing[r]);
            for i in 0..n {
                let c = &s.cos[r][i * half..(i + 1) * half];
                let sn = &s.sin[r][i * half..(i + 1) * half];
                q[i * qw..(i + 1) * qw]
                    .chunks_exact_mut(hd)
                    .for_each(|h| rope_head(h, c, sn, pairing));
                k[i * kvw..(i + 1) * kvw]
                    .chunks_exact_mut(hd)
                    .for_each(|h| rope_head(h, c, sn, pairing));
            }
        }
        write_kv(segs, li, k, kvw, v, kvw);
        let spec = AttnSpec {
            n_heads: self.n_heads,
            n_kv_heads: self.n_kv_heads,
            head_dim: hd,
            scale: self.scale,
            softcap: self.softcap,
            window: self.window,
            sinks: self.sinks.as_deref(),
            alibi: self.alibi.as_deref(),
        };
        let q: &[f32] = q;
        let att = &mut s.att[..n * qw];
        match segs {
            // One sequence (every `lineage run` step): no list to build.
            [g] => attend(&spec, &[io_of(g, q, qw, li)], att),
            _ => {
                let ios: Vec<AttnIo> = segs.iter().map(|g| io_of(g, q, qw, li)).collect();
                attend(&spec, &ios, att)
            }
        }
        self.o.apply(&s.att, n, &mut s.o)
    }
}

/// Segment `g`'s queries and cache for layer `li`.
pub(super) fn io_of<'s>(g: &'s Seg<'_>, q: &'s [f32], qw: usize, li: usize) -> AttnIo<'s> {
    AttnIo {
        q: &q[g.row0 * qw..(g.row0 + g.n) * qw],
        kv: &*g.kv,
        layer: li,
        q0: g.q0,
        n: g.n,
    }
}
