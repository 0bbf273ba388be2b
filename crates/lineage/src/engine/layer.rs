//! One decoder block on preallocated buffers: the same placements and residual joins as
//! `crate::model::block` (pre, post, sandwich, post-sublayer; sequential or parallel),
//! reading the sublayer input from `Scratch::xn` and writing its output to `Scratch::o`.

use super::attend::{attend, AttnIo, AttnSpec};
use super::kv::SeqKv;
use super::mat::{dense_vec, Mat};
use super::rows::{add_bias, ffn_act, rope_head, RowNorm};
use super::state::Scratch;
use super::Dims;
use crate::config::{FfnKind, ModelConfig, NormPlacement, QkNormScope, Residual};
use crate::weights::Weights;
use crate::Result;

/// `y = x W^T + b`.
#[derive(Debug, Clone)]
pub struct Lin {
    w: Mat,
    b: Option<Vec<f32>>,
}

impl Lin {
    fn load(w: &Weights, name: &str, out: usize, inp: usize, bias: bool) -> Result<Self> {
        let b = if bias {
            Some(dense_vec(&format!("{name}.bias"), w, &[out])?)
        } else {
            None
        };
        Ok(Self {
            w: Mat::load(w, &format!("{name}.weight"), out, inp)?,
            b,
        })
    }

    fn apply(&self, x: &[f32], n: usize, out: &mut [f32]) -> Result<()> {
        self.w.matmul(x, n, out)?;
        if let Some(b) = &self.b {
            add_bias(&mut out[..n * b.len()], b);
        }
        Ok(())
    }
}

/// Projections of one input: stacked into one matmul when their storage allows (the
/// output rows then hold the parts side by side and are split by copying), else apart.
#[derive(Debug, Clone)]
enum Stack {
    One(Lin, Vec<usize>),
    Many(Vec<Lin>),
}

impl Stack {
    fn new(parts: Vec<Lin>) -> Self {
        let mats: Vec<&Mat> = parts.iter().map(|l| &l.w).collect();
        let Some(w) = Mat::stack(&mats) else {
            return Self::Many(parts);
        };
        let widths: Vec<usize> = parts.iter().map(|l| l.w.rows()).collect();
        let b = if parts.iter().any(|l| l.b.is_some()) {
            let mut b = Vec::new();
            for (l, &wd) in parts.iter().zip(&widths) {
                b.extend(l.b.clone().unwrap_or_else(|| vec![0.0; wd]));
            }
            Some(b)
        } else {
            None
        };
        Self::One(Lin { w, b }, widths)
    }

    /// `outs[p]` = part p of `x` `[n, in]`; `tmp` holds `n * sum(widths)` values.
    fn apply(&self, x: &[f32], n: usize, tmp: &mut [f32], outs: &mut [&mut [f32]]) -> Result<()> {
        match self {
            Self::Many(parts) => parts
                .iter()
                .zip(outs)
                .try_for_each(|(l, o)| l.apply(x, n, o)),
            Self::One(l, widths) => {
                let total: usize = widths.iter().sum();
                l.apply(x, n, tmp)?;
                for i in 0..n {
                    let mut off = i * total;
                    for (&w, o) in widths.iter().zip(outs.iter_mut()) {
                        o[i * w..(i + 1) * w].copy_from_slice(&tmp[off..off + w]);
                        off += w;
                    }
                }
                Ok(())
            }
        }
    }
}

/// One sequence's rows in a forward: scratch rows `row0..row0 + n`, positions
/// `q0..q0 + n` of the sequence whose cache is `kv`. The rows of a forward's segments
/// follow each other in order.
pub(crate) struct Seg<'a> {
    pub kv: &'a mut SeqKv,
    pub q0: usize,
    pub row0: usize,
    pub n: usize,
}

#[derive(Debug, Clone)]
pub struct Layer {
    placement: NormPlacement,
    residual: Residual,
    attn_norm: Option<RowNorm>,
    attn_post_norm: Option<RowNorm>,
    ffn_norm: Option<RowNorm>,
    ffn_post_norm: Option<RowNorm>,
    /// q, k, v.
    qkv: Stack,
    o: Lin,
    qk_norm: Option<(QkNormScope, RowNorm, RowNorm)>,
    sinks: Option<Vec<f32>>,
    ffn_kind: FfnKind,
    /// [gate,] up.
    gate_up: Stack,
    down: Lin,
    /// Index into `Engine::ropes`.
    pub rope: Option<usize>,
    window: Option<usize>,
}

impl Layer {
    pub fn load(c: &ModelConfig, w: &Weights, i: usize, rope: Option<usize>) -> Result<Self> {
        let (a, d, p) = (&c.attention, c.d_model, format!("blk.{i}"));
        let (hd, n) = (a.head_dim, c.block.norm);
        let (qw, kvw) = (a.n_heads * hd, a.n_kv_heads * hd);
        let pl = c.block.placement;
        let pre = pl.has_pre() || pl == NormPlacement::Post;
        let two_norms = !matches!(c.block.residual, Residual::Parallel { shared_norm: true });
        let norm = |name: &str, on: bool| -> Result<Option<RowNorm>> {
            if on {
                RowNorm::load(w, &format!("{p}.{name}"), n, d).map(Some)
            } else {
                Ok(None)
            }
        };
        let qk_norm = match a.qk_norm {
            None => None,
            Some(scope) => {
                let (qn, kn) = if scope == QkNormScope::PerHead {
                    (hd, hd)
                } else {
                    (qw, kvw)
                };
                let q = RowNorm::load(w, &format!("{p}.attn_q_norm"), n, qn)?;
                Some((
                    scope,
                    q,
                    RowNorm::load(w, &format!("{p}.attn_k_norm"), n, kn)?,
                ))
            }
        };
        let sinks = if a.sinks {
            Some(dense_vec(
                &format!("{p}.attn_sinks.weight"),
                w,
                &[a.n_heads],
            )?)
        } else {
            None
        };
        let (dff, fb) = (c.ffn.d_ff, c.ffn.bias);
        let mut gate_up = Vec::new();
        if !matches!(c.ffn.kind, FfnKind::Mlp(_)) {
            gate_up.push(Lin::load(w, &format!("{p}.ffn_gate"), dff, d, fb)?);
        }
        gate_up.push(Lin::load(w, &format!("{p}.ffn_up"), dff, d, fb)?);
        Ok(Self {
            placement: pl,
            residual: c.block.residual,
            attn_norm: norm("attn_norm", pre)?,
            attn_post_norm: norm("attn_post_norm", pl.has_post_sublayer())?,
            ffn_norm: norm("ffn_norm", pre && two_norms)?,
            ffn_post_norm: norm("ffn_post_norm", pl.has_post_sublayer())?,
            qkv: Stack::new(vec![
                Lin::load(w, &format!("{p}.attn_q"), qw, d, a.bias.q)?,
                Lin::load(w, &format!("{p}.attn_k"), kvw, d, a.bias.k)?,
                Lin::load(w, &format!("{p}.attn_v"), kvw, d, a.bias.v)?,
            ]),
            o: Lin::load(w, &format!("{p}.attn_output"), d, qw, a.bias.o)?,
            qk_norm,
            sinks,
            ffn_kind: c.ffn.kind,
            gate_up: Stack::new(gate_up),
            down: Lin::load(w, &format!("{p}.ffn_down"), d, dff, fb)?,
            rope,
            window: c.layers[i].window,
        })
    }

    /// Runs layer `li` on the scratch rows `x[..n]` of the segments (`n` rows in all).
    pub fn forward(&self, dm: &Dims, s: &mut Scratch, segs: &mut [Seg], li: usize) -> Result<()> {
        let n: usize = segs.iter().map(|g| g.n).sum();
        let nd = n * dm.d;
        match self.residual {
            Residual::Sequential => {
                self.sublayer_in(&self.attn_norm, s, nd);
                self.attention(dm, s, segs, li, n)?;
                self.join(&self.attn_post_norm, &self.attn_norm, s, nd);
                self.sublayer_in(&self.ffn_norm, s, nd);
                self.ffn(dm, s, n)?;
                self.join(&self.ffn_post_norm, &self.ffn_norm, s, nd);
            }
            Residual::Parallel { .. } => {
                self.sublayer_in(&self.attn_norm, s, nd);
                match &self.ffn_norm {
                    Some(fnorm) => fnorm.apply(&s.x[..nd], &mut s.f_in[..nd]),
                    None => s.f_in[..nd].copy_from_slice(&s.xn[..nd]),
                }
                self.attention(dm, s, segs, li, n)?;
                add(&mut s.x[..nd], &s.o[..nd]);
                s.xn[..nd].copy_from_slice(&s.f_in[..nd]);
                self.ffn(dm, s, n)?;
                add(&mut s.x[..nd], &s.o[..nd]);
            }
        }
        Ok(())
    }

    /// `xn` = the sublayer input: normalised under pre-norm placements, else `x`.
    fn sublayer_in(&self, norm: &Option<RowNorm>, s: &mut Scratch, nd: usize) {
        match (self.placement.has_pre(), norm) {
            (true, Some(nm)) => nm.apply(&s.x[..nd], &mut s.xn[..nd]),
            _ => s.xn[..nd].copy_from_slice(&s.x[..nd]),
        }
    }

    /// `x = norm(x + o)` (post), `x += post(o)` (sandwich / post-sublayer), `x += o` (pre).
    fn join(&self, post: &Option<RowNorm>, pre: &Option<RowNorm>, s: &mut Scratch, nd: usize) {
        if self.placement == NormPlacement::Post {
            add(&mut s.x[..nd], &s.o[..nd]);
            if let Some(nm) = pre {
                nm.apply_inplace(&mut s.x[..nd]);
            }
            return;
        }
        if let Some(nm) = post {
            nm.apply_inplace(&mut s.o[..nd]);
        }
        add(&mut s.x[..nd], &s.o[..nd]);
    }

    fn attention(
        &self,
        dm: &Dims,
        s: &mut Scratch,
        segs: &mut [Seg],
        li: usize,
        n: usize,
    ) -> Result<()> {
        let (hd, qw, kvw) = (
            dm.head_dim,
            dm.n_heads * dm.head_dim,
            dm.n_kv_heads * dm.head_dim,
        );
        let (q, k, v) = (&mut s.q[..n * qw], &mut s.k[..n * kvw], &mut s.v[..n * kvw]);
        self.qkv
            .apply(&s.xn, n, &mut s.tmp, &mut [&mut *q, &mut *k, &mut *v])?;
        if let Some((_, qn, kn)) = &self.qk_norm {
            // Rows of width hd (per head) or of the full projection: the same call.
            qn.apply_inplace(q);
            kn.apply_inplace(k);
        }
        if let Some(r) = self.rope {
            let half = dm.rope_half[r];
            let (cos, sin) = (&s.cos[r], &s.sin[r]);
            for i in 0..n {
                let (c, sn) = (
                    &cos[i * half..(i + 1) * half],
                    &sin[i * half..(i + 1) * half],
                );
                let pairing = dm.rope_pairing[r];
                q[i * qw..(i + 1) * qw]
                    .chunks_exact_mut(hd)
                    .for_each(|h| rope_head(h, c, sn, pairing));
                k[i * kvw..(i + 1) * kvw]
                    .chunks_exact_mut(hd)
                    .for_each(|h| rope_head(h, c, sn, pairing));
            }
        }
        for g in segs.iter_mut() {
            g.kv.reserve(g.q0 + g.n);
            for i in 0..g.n {
                let r = g.row0 + i;
                let (kr, vr) = (&k[r * kvw..(r + 1) * kvw], &v[r * kvw..(r + 1) * kvw]);
                g.kv.write(li, g.q0 + i, kr, vr);
            }
        }
        let spec = AttnSpec {
            n_heads: dm.n_heads,
            n_kv_heads: dm.n_kv_heads,
            head_dim: hd,
            scale: dm.scale,
            softcap: dm.softcap,
            window: self.window,
            sinks: self.sinks.as_deref(),
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

    fn ffn(&self, dm: &Dims, s: &mut Scratch, n: usize) -> Result<()> {
        let nf = n * dm.d_ff;
        let (gate, up) = (&mut s.gate[..nf], &mut s.up[..nf]);
        match self.ffn_kind {
            FfnKind::Mlp(_) => self.gate_up.apply(&s.xn, n, &mut s.tmp, &mut [&mut *up])?,
            _ => self
                .gate_up
                .apply(&s.xn, n, &mut s.tmp, &mut [&mut *gate, &mut *up])?,
        }
        ffn_act(self.ffn_kind, gate, up);
        self.down.apply(&s.up, n, &mut s.o)
    }
}

/// Segment `g`'s queries and cache for layer `li`.
fn io_of<'s>(g: &'s Seg<'_>, q: &'s [f32], qw: usize, li: usize) -> AttnIo<'s> {
    AttnIo {
        q: &q[g.row0 * qw..(g.row0 + g.n) * qw],
        kv: &*g.kv,
        layer: li,
        q0: g.q0,
        n: g.n,
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}
