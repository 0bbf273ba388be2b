//! The inference engine: the same layer plan ([`ModelPlan`]) and [`Weights`] as
//! `crate::model`, run on preallocated f32 buffers with fused row ops and the fast
//! quantized kernels, so a dense decode step allocates nothing. No family has code here.
//!
//! Every component of the plan runs here: norm kinds and placements, sequential or
//! parallel residuals, RoPE with its scalings, learned positions or ALiBi, GQA/MQA,
//! biases, QK-norm, sliding windows, soft-caps, sinks, tied heads, MLP/GLU, mixtures of
//! experts (dense, block-quantized or MXFP4 experts, every router, shared experts) and
//! multi-head latent attention with a latent-only cache. `model::Model` stays the
//! differentiable reference and the oracle the engine is tested against (tests/engine.rs).

mod attend;
mod attend_latent;
mod attend_simd;
mod attend_split;
mod attend_values;
mod dense_ffn;
mod ffn_act;
pub mod kv;
mod kv_q8;
mod kv_type;
mod kv_view;
mod latent;
mod layer;
mod lin;
mod mat;
mod moe;
pub mod prefix;
#[cfg(test)]
mod prop_tests;
mod route;
mod rows;
mod self_attn;
mod softmax;
mod state;

pub use kv_type::KvType;
pub use mat::Mat;
pub use rows::RowNorm;
pub use state::{Batch, State};

use std::sync::Arc;

use kv::{BlockCounter, KvLayout};
use layer::{Ffn, Layer, Mixer, Seg};
use rows::softcap;
use state::{Scratch, Widths};

use crate::config::{ModelConfig, Rope, RopePairing, RopeScaling};
use crate::model::rope::RopeTable;
use crate::plan::ModelPlan;
use crate::weights::Weights;
use crate::{Error, Result};

/// Tokens per chunk of a prefill: the scratch buffers hold this many rows.
pub const MAX_BATCH: usize = 512;

/// Dimensions and per-model constants the layers read.
#[derive(Debug, Clone)]
pub(crate) struct Dims {
    pub d: usize,
    /// Scratch row widths (the most any layer needs).
    pub widths: Widths,
    pub vocab: usize,
    pub max_ctx: usize,
    pub max_batch: usize,
    /// Per distinct RoPE: rotary_dim / 2 and pairing.
    pub rope_half: Vec<usize>,
    pub rope_pairing: Vec<RopePairing>,
}

/// One distinct RoPE of the model and its frequencies.
#[derive(Debug, Clone)]
struct RopeFreqs {
    table: RopeTable,
    /// Frequencies depend on the forward's length (dynamic NTK, LongRoPE).
    by_len: bool,
    inv: Vec<f32>,
    factor: f32,
}

impl RopeFreqs {
    fn new(r: &Rope) -> Self {
        let table = RopeTable::new(r);
        let (inv, af) = table.inv_freq(1);
        let by_len = matches!(
            r.scaling,
            RopeScaling::DynamicNtk { .. } | RopeScaling::LongRope { .. }
        );
        Self {
            table,
            by_len,
            inv: inv.iter().map(|&f| f as f32).collect(),
            factor: af as f32,
        }
    }

    /// cos/sin `[n, half]` of positions `q0..q0+n` in a forward ending at `end`.
    /// Angles in f32 like HF (and `model::rope`).
    fn fill(&self, q0: usize, n: usize, end: usize, cos: &mut [f32], sin: &mut [f32]) {
        let (inv, af) = if self.by_len {
            let (v, af) = self.table.inv_freq(end);
            (v.iter().map(|&f| f as f32).collect::<Vec<_>>(), af as f32)
        } else {
            (Vec::new(), self.factor)
        };
        let inv: &[f32] = if self.by_len { &inv } else { &self.inv };
        let half = inv.len();
        for i in 0..n {
            let p = (q0 + i) as f32;
            for (k, &f) in inv.iter().enumerate() {
                let a = p * f;
                cos[i * half + k] = a.cos() * af;
                sin[i * half + k] = a.sin() * af;
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Engine {
    cfg: ModelConfig,
    dm: Dims,
    embd: Mat,
    embd_scale: Option<f32>,
    pos_embd: Option<Vec<f32>>,
    embd_norm: Option<RowNorm>,
    layers: Vec<Layer>,
    final_norm: RowNorm,
    head: Mat,
    final_softcap: Option<f32>,
    ropes: Vec<RopeFreqs>,
    /// KV blocks alive in this engine's sequences.
    live: Arc<BlockCounter>,
    /// How the layers' caches are grouped (by window).
    kv_layout: Arc<KvLayout>,
}

impl Engine {
    /// Builds the engine for contexts up to `max_context` (clamped to the model's).
    pub fn new(cfg: &ModelConfig, w: &Weights, max_context: usize) -> Result<Self> {
        let plan = ModelPlan::new(cfg)?;
        let (v, d, e) = (plan.vocab, plan.d_model, &plan.embedding);
        let embd = Mat::load(w, &e.token, v, d)?;
        let pos_embd = e
            .position
            .as_ref()
            .map(|p| mat::dense_vec(p, w, &[plan.context_len, d]))
            .transpose()?;
        let embd_norm = e.norm.as_ref().map(|n| RowNorm::of(w, n)).transpose()?;
        let mut distinct: Vec<Rope> = Vec::new();
        let mut layers = Vec::with_capacity(plan.layers.len());
        for l in &plan.layers {
            let rope = l.mixer.sees().rope().map(|r| {
                distinct.iter().position(|x| x == r).unwrap_or_else(|| {
                    distinct.push(r.clone());
                    distinct.len() - 1
                })
            });
            layers.push(Layer::load(l, w, rope)?);
        }
        let head = match &plan.head {
            None => embd.clone(),
            Some(h) => Mat::load(w, &format!("{}.weight", h.name), h.out, h.inp)?,
        };
        let (widths, kv_k, kv_v) = widths_of(&layers, d);
        let windows: Vec<Option<usize>> =
            plan.layers.iter().map(|l| l.mixer.sees().window).collect();
        let dm = Dims {
            d,
            widths,
            vocab: v,
            max_ctx: max_context.min(plan.context_len).max(1),
            max_batch: MAX_BATCH,
            rope_half: distinct.iter().map(|r| r.rotary_dim / 2).collect(),
            rope_pairing: distinct.iter().map(|r| r.pairing).collect(),
        };
        Ok(Self {
            cfg: cfg.clone(),
            dm,
            embd,
            embd_scale: e.scale.map(|s| s as f32),
            pos_embd,
            embd_norm,
            layers,
            final_norm: RowNorm::of(w, &plan.final_norm)?,
            head,
            final_softcap: plan.final_softcap.map(|c| c as f32),
            ropes: distinct.iter().map(RopeFreqs::new).collect(),
            live: Arc::default(),
            kv_layout: Arc::new(KvLayout::new(kv_k, kv_v, &windows)),
        })
    }

    /// The engine with its KV cache storing `ty` (f32 by default). Set before any state
    /// is made. The latent (MLA) cache stays f32: its absorbed attention reads latents
    /// as f32 only.
    pub fn with_kv_type(mut self, ty: KvType) -> Result<Self> {
        if ty != KvType::F32
            && self
                .layers
                .iter()
                .any(|l| matches!(l.mixer, Mixer::Latent(_)))
        {
            return Err(Error::BadInput(format!(
                "KV cache type {ty}: a latent-attention (MLA) cache is f32 only"
            )));
        }
        let mut dims = self.layers.iter().filter_map(|l| match &l.mixer {
            Mixer::Attention(a) => Some(a.head_dim()),
            Mixer::Latent(_) => None,
        });
        let hd = dims.next().unwrap_or(1);
        if ty == KvType::Q8_0 && dims.any(|d| d != hd) {
            return Err(Error::BadInput(
                "KV cache type q8_0: the layers' head widths differ".into(),
            ));
        }
        let layout = KvLayout::clone(&self.kv_layout)
            .with_type(ty, hd)
            .map_err(|e| Error::BadInput(format!("KV cache type {ty}: {e}")))?;
        self.kv_layout = Arc::new(layout);
        Ok(self)
    }

    /// What the KV cache stores.
    pub fn kv_type(&self) -> KvType {
        self.kv_layout.kv_type()
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Longest sequence a state can hold.
    pub fn max_context(&self) -> usize {
        self.dm.max_ctx
    }

    pub fn vocab_size(&self) -> usize {
        self.dm.vocab
    }

    pub fn new_state(&self) -> State {
        State::new(&self.kv_layout, &self.live)
    }

    /// Scratch for [`Engine::forward_batch`].
    pub fn new_batch(&self) -> Batch {
        Batch {
            s: Box::new(Scratch::new(&self.dm)),
        }
    }

    /// KV blocks held by all of this engine's sequences (and prefix caches).
    pub fn live_blocks(&self) -> usize {
        self.live.get()
    }

    /// Whether a sequence's keys and values depend only on its own tokens and positions,
    /// so that a cached prefix can be reused: not under RoPE scalings whose frequencies
    /// follow the forward's length (dynamic NTK, LongRoPE).
    pub fn prefix_cacheable(&self) -> bool {
        !self.ropes.iter().any(|r| r.by_len)
    }

    /// Forgets the sequence's positions from `pos` on (speculative drafts that were not
    /// accepted): their cached rows are overwritten by the next forward. A windowed
    /// layer group has released what its window no longer needed, so at most one block
    /// ([`kv::BLOCK`] positions) can be taken back.
    pub fn rewind(&self, st: &mut State, pos: usize) -> Result<()> {
        if pos > st.pos || st.pos - pos > kv::BLOCK {
            return Err(Error::BadInput(format!(
                "engine rewind: from position {} to {pos} (at most {} back)",
                st.pos,
                kv::BLOCK
            )));
        }
        st.pos = pos;
        Ok(())
    }

    /// Appends `ids` to the sequence; logits `[vocab]` of its last position.
    pub fn forward<'s>(&self, st: &'s mut State, ids: &[u32]) -> Result<&'s [f32]> {
        self.check(st.pos, ids)?;
        let mut s =
            st.s.take()
                .unwrap_or_else(|| Box::new(Scratch::new(&self.dm)));
        let end = st.pos + ids.len();
        let run = ids
            .chunks(self.dm.max_batch)
            .try_for_each(|chunk| self.run_one(&mut s, st, chunk, end))
            .and_then(|()| self.logits_of(&mut s, &[(ids.len() - 1) % self.dm.max_batch]));
        let s = st.s.insert(s);
        run?;
        Ok(&s.logits[..self.dm.vocab])
    }

    /// Appends `ids`; logits of every position, `[n, vocab]` row-major (allocates them).
    pub fn forward_all(&self, st: &mut State, ids: &[u32]) -> Result<Vec<f32>> {
        self.check(st.pos, ids)?;
        let mut s =
            st.s.take()
                .unwrap_or_else(|| Box::new(Scratch::new(&self.dm)));
        let (v, end) = (self.dm.vocab, st.pos + ids.len());
        let mut out = vec![0f32; ids.len() * v];
        let mut run = || -> Result<()> {
            for (c, chunk) in ids.chunks(self.dm.max_batch).enumerate() {
                self.run_one(&mut s, st, chunk, end)?;
                let rows: Vec<usize> = (0..chunk.len()).collect();
                let o = &mut out[c * self.dm.max_batch * v..][..chunk.len() * v];
                self.logits_into(&mut s, &rows, o)?;
            }
            Ok(())
        };
        let r = run();
        st.s = Some(s);
        r.map(|()| out)
    }

    /// One forward over several sequences: each item's ids are appended to its sequence,
    /// and every weight is read once for all of them. Returns `[items, vocab]`: the
    /// logits of each item's last position. Each sequence gets bit-identical results to
    /// a forward of its own (the kernels are batch-invariant, attention reads only the
    /// sequence's own cache). At most `max_batch` ids in all.
    pub fn forward_batch<'b>(
        &self,
        b: &'b mut Batch,
        items: &mut [(&mut State, &[u32])],
    ) -> Result<&'b [f32]> {
        let total: usize = items.iter().map(|(_, ids)| ids.len()).sum();
        if items.is_empty() || total > self.dm.max_batch {
            return Err(Error::BadInput(format!(
                "engine batch: {} sequences with {total} ids (at most {} ids, at least one sequence)",
                items.len(),
                self.dm.max_batch
            )));
        }
        for (st, ids) in items.iter() {
            self.check(st.pos, ids)?;
        }
        let mut row0 = 0;
        let mut ends = Vec::with_capacity(items.len());
        let mut segs: Vec<Seg> = Vec::with_capacity(items.len());
        let mut ids_of: Vec<&[u32]> = Vec::with_capacity(items.len());
        for (st, ids) in items.iter_mut() {
            let n = ids.len();
            ends.push(st.pos + n);
            ids_of.push(ids);
            segs.push(Seg {
                kv: &mut st.kv,
                q0: st.pos,
                row0,
                n,
            });
            row0 += n;
        }
        self.run_segs(&mut b.s, &mut segs, &ids_of, &ends)?;
        let last: Vec<usize> = segs.iter().map(|g| g.row0 + g.n - 1).collect();
        drop(segs);
        for (st, ids) in items.iter_mut() {
            st.pos += ids.len();
        }
        self.logits_of(&mut b.s, &last)?;
        Ok(&b.s.logits[..last.len() * self.dm.vocab])
    }

    fn check(&self, pos: usize, ids: &[u32]) -> Result<()> {
        if ids.is_empty() {
            return Err(Error::BadInput("engine forward: no token ids".into()));
        }
        if pos + ids.len() > self.dm.max_ctx {
            return Err(Error::ContextOverflow {
                len: pos + ids.len(),
                context_len: self.dm.max_ctx,
            });
        }
        match ids.iter().find(|&&i| i as usize >= self.dm.vocab) {
            Some(&bad) => Err(Error::TokenOutOfVocab {
                id: bad as i64,
                vocab_size: self.dm.vocab,
            }),
            None => Ok(()),
        }
    }

    /// One chunk (<= max_batch ids) of one sequence, in a forward ending at `end`.
    fn run_one(&self, s: &mut Scratch, st: &mut State, ids: &[u32], end: usize) -> Result<()> {
        let n = ids.len();
        let mut seg = [Seg {
            kv: &mut st.kv,
            q0: st.pos,
            row0: 0,
            n,
        }];
        self.run_segs(s, &mut seg, &[ids], &[end])?;
        st.pos += n;
        Ok(())
    }

    /// Embeds each segment's ids into its rows and runs every layer; leaves `x` in the
    /// scratch. `ends[i]`: where segment i's forward ends (length-dependent RoPE).
    fn run_segs(
        &self,
        s: &mut Scratch,
        segs: &mut [Seg],
        ids: &[&[u32]],
        ends: &[usize],
    ) -> Result<()> {
        for ((g, ids), &end) in segs.iter().zip(ids).zip(ends) {
            debug_assert_eq!(g.n, ids.len());
            self.embed(s, g.row0, g.q0, ids)?;
            for (r, rope) in self.ropes.iter().enumerate() {
                let half = self.dm.rope_half[r];
                let (cos, sin) = (
                    &mut s.cos[r][g.row0 * half..],
                    &mut s.sin[r][g.row0 * half..],
                );
                rope.fill(g.q0, g.n, end, cos, sin);
            }
        }
        for (li, layer) in self.layers.iter().enumerate() {
            layer.forward(&self.dm, s, segs, li)?;
        }
        for g in segs.iter_mut() {
            g.kv.release_outside(g.q0 + g.n);
        }
        Ok(())
    }

    /// Logits `[rows.len(), vocab]` of the scratch rows `rows` into `s.logits` (grown to
    /// the most rows asked for: one per sequence of a batch).
    fn logits_of(&self, s: &mut Scratch, rows: &[usize]) -> Result<()> {
        let mut out = std::mem::take(&mut s.logits);
        let need = rows.len() * self.dm.vocab;
        if out.len() < need {
            out.resize(need, 0.0);
        }
        let r = self.logits_into(s, rows, &mut out[..need]);
        s.logits = out;
        r
    }

    /// Logits of the scratch rows `rows` into `out` (`[rows.len(), vocab]`).
    fn logits_into(&self, s: &mut Scratch, rows: &[usize], out: &mut [f32]) -> Result<()> {
        let (d, k) = (self.dm.d, rows.len());
        for (i, &r) in rows.iter().enumerate() {
            let (x, xn) = (&s.x[r * d..(r + 1) * d], &mut s.xn[i * d..(i + 1) * d]);
            self.final_norm.apply(x, xn);
        }
        self.head.matmul(&s.xn[..k * d], k, out)?;
        if let Some(cap) = self.final_softcap {
            softcap(out, cap);
        }
        Ok(())
    }

    /// Rows `row0..row0 + ids.len()` of `x`: the embeddings of `ids` at positions `q0..`.
    fn embed(&self, s: &mut Scratch, row0: usize, q0: usize, ids: &[u32]) -> Result<()> {
        let d = self.dm.d;
        let x = &mut s.x[row0 * d..(row0 + ids.len()) * d];
        for (i, &id) in ids.iter().enumerate() {
            let row = &mut x[i * d..(i + 1) * d];
            self.embd.row_into(id as usize, row)?;
            if let Some(s) = self.embd_scale {
                row.iter_mut().for_each(|v| *v *= s);
            }
            if let Some(p) = &self.pos_embd {
                row.iter_mut()
                    .zip(&p[(q0 + i) * d..])
                    .for_each(|(v, e)| *v += e);
            }
        }
        if let Some(nm) = &self.embd_norm {
            nm.apply_inplace(x);
        }
        Ok(())
    }
}

/// Scratch widths over every layer, and the cached K and V widths (all layers share
/// the mixer kind: standard K|V rows, or MLA's latent rows with no values).
fn widths_of(layers: &[Layer], d: usize) -> (Widths, usize, usize) {
    let mut w = Widths::default();
    let (mut kv_k, mut kv_v) = (0, 0);
    for l in layers {
        match &l.mixer {
            Mixer::Attention(a) => {
                let (qw, kvw) = a.widths();
                w.q = w.q.max(qw);
                w.k = w.k.max(kvw);
                w.v = w.v.max(kvw);
                w.att = w.att.max(qw);
                w.tmp = w.tmp.max(qw + 2 * kvw);
                (kv_k, kv_v) = (kv_k.max(kvw), kv_v.max(kvw));
            }
            Mixer::Latent(m) => {
                let lw = m.widths();
                w.q = w.q.max(lw.q);
                w.k = w.k.max(lw.k);
                w.v = w.v.max(lw.qa);
                w.lat = w.lat.max(lw.lat);
                w.att = w.att.max(lw.att);
                w.tmp = w.tmp.max(lw.tmp);
                kv_k = kv_k.max(lw.k);
            }
        }
        let ff = match &l.ffn {
            Ffn::Dense(f) => f.width(),
            Ffn::Moe(m) => {
                w.route = w.route.max(m.n_experts());
                w.moe = d;
                m.width()
            }
        };
        w.ff = w.ff.max(ff);
        w.tmp = w.tmp.max(2 * ff);
    }
    (w, kv_k, kv_v)
}
