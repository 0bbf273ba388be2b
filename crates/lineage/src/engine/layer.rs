//! One decoder block on preallocated buffers, loaded from its [`LayerPlan`]: the same
//! placements and residual joins as `crate::model::block` (pre, post, sandwich,
//! post-sublayer; sequential or parallel). Each sublayer reads its input from
//! `Scratch::xn` and writes its output to `Scratch::o`.

use super::dense_ffn::DenseFfn;
use super::kv::SeqKv;
use super::latent::LatentAttn;
use super::moe::MoeFfn;
use super::rows::RowNorm;
use super::self_attn::SelfAttn;
use super::state::Scratch;
use super::Dims;
use crate::config::{NormPlacement, Residual};
use crate::plan::{self, LayerPlan, NormSlot};
use crate::weights::Weights;
use crate::Result;

/// One sequence's rows in a forward: scratch rows `row0..row0 + n`, positions
/// `q0..q0 + n` of the sequence whose cache is `kv`. The rows of a forward's segments
/// follow each other in order.
pub(crate) struct Seg<'a> {
    pub kv: &'a mut SeqKv,
    pub q0: usize,
    pub row0: usize,
    pub n: usize,
}

/// Makes room in each segment's cache and stores its rows' keys `k` (`kw` wide) and
/// values `v` (`vw` wide; 0 for a latent cache) at their positions, for layer `li`.
pub(super) fn write_kv(segs: &mut [Seg], li: usize, k: &[f32], kw: usize, v: &[f32], vw: usize) {
    for g in segs.iter_mut() {
        g.kv.reserve(g.q0 + g.n);
        for i in 0..g.n {
            let r = g.row0 + i;
            let (kr, vr) = (&k[r * kw..(r + 1) * kw], &v[r * vw..(r + 1) * vw]);
            g.kv.write(li, g.q0 + i, kr, vr);
        }
    }
}

/// The token mixer.
#[derive(Debug, Clone)]
pub enum Mixer {
    Attention(SelfAttn),
    Latent(LatentAttn),
}

/// The FFN.
#[derive(Debug, Clone)]
pub enum Ffn {
    Dense(DenseFfn),
    Moe(MoeFfn),
}

#[derive(Debug, Clone)]
pub struct Layer {
    placement: NormPlacement,
    residual: Residual,
    attn_norm: Option<RowNorm>,
    attn_post_norm: Option<RowNorm>,
    ffn_norm: Option<RowNorm>,
    ffn_post_norm: Option<RowNorm>,
    pub mixer: Mixer,
    pub ffn: Ffn,
}

impl Layer {
    /// `rope`: the index of the layer's RoPE among the engine's distinct ones.
    pub fn load(l: &LayerPlan, w: &Weights, rope: Option<usize>) -> Result<Self> {
        let norm = |s: &Option<NormSlot>| s.as_ref().map(|s| RowNorm::of(w, s)).transpose();
        let mixer = match &l.mixer {
            plan::Mixer::Attention(a) => Mixer::Attention(SelfAttn::load(a, w, rope)?),
            plan::Mixer::Latent(m) => Mixer::Latent(LatentAttn::load(m, w, rope)?),
        };
        let ffn = match &l.ffn {
            plan::Ffn::Dense(f) => Ffn::Dense(DenseFfn::load(f, w)?),
            plan::Ffn::Moe(m) => Ffn::Moe(MoeFfn::load(m, w)?),
        };
        Ok(Self {
            placement: l.placement,
            residual: l.residual,
            attn_norm: norm(&l.norms.attn)?,
            attn_post_norm: norm(&l.norms.attn_post)?,
            ffn_norm: norm(&l.norms.ffn)?,
            ffn_post_norm: norm(&l.norms.ffn_post)?,
            mixer,
            ffn,
        })
    }

    /// Runs layer `li` on the scratch rows `x[..n]` of the segments (`n` rows in all).
    pub fn forward(&self, dm: &Dims, s: &mut Scratch, segs: &mut [Seg], li: usize) -> Result<()> {
        let n: usize = segs.iter().map(|g| g.n).sum();
        let nd = n * dm.d;
        match self.residual {
            Residual::Sequential => {
                self.sublayer_in(&self.attn_norm, s, nd);
                self.mix(dm, s, segs, li, n)?;
                self.join(&self.attn_post_norm, &self.attn_norm, s, nd);
                self.sublayer_in(&self.ffn_norm, s, nd);
                self.feed(s, n)?;
                self.join(&self.ffn_post_norm, &self.ffn_norm, s, nd);
            }
            Residual::Parallel { .. } => {
                self.sublayer_in(&self.attn_norm, s, nd);
                match &self.ffn_norm {
                    Some(fnorm) => fnorm.apply(&s.x[..nd], &mut s.f_in[..nd]),
                    None => s.f_in[..nd].copy_from_slice(&s.xn[..nd]),
                }
                self.mix(dm, s, segs, li, n)?;
                add(&mut s.x[..nd], &s.o[..nd]);
                s.xn[..nd].copy_from_slice(&s.f_in[..nd]);
                self.feed(s, n)?;
                add(&mut s.x[..nd], &s.o[..nd]);
            }
        }
        Ok(())
    }

    fn mix(&self, dm: &Dims, s: &mut Scratch, segs: &mut [Seg], li: usize, n: usize) -> Result<()> {
        match &self.mixer {
            Mixer::Attention(a) => a.forward(dm, s, segs, li, n),
            Mixer::Latent(m) => m.forward(dm, s, segs, li, n),
        }
    }

    fn feed(&self, s: &mut Scratch, n: usize) -> Result<()> {
        match &self.ffn {
            Ffn::Dense(f) => f.forward(s, n),
            Ffn::Moe(m) => m.forward(s, n),
        }
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
}

fn add(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}
