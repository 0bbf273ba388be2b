//! The inference engine: the same canonical [`ModelConfig`] and [`Weights`] as
//! `crate::model`, run on preallocated f32 buffers with fused row ops and the fast
//! quantized kernels, so a decode step allocates nothing. No family has code here.
//!
//! Scope: dense standard attention (norm kinds and placements, sequential or parallel
//! residual, RoPE with its scalings or learned positions, GQA/MQA, biases, QK-norm,
//! sliding windows, soft-caps, sinks, tied heads, MLP/GLU). MoE, MLA and ALiBi make
//! [`Engine::new`] return [`Error::EngineUnsupported`]; callers then use `model::Model`,
//! which is also the oracle the engine is tested against (tests/engine.rs).

mod attend;
mod layer;
mod mat;
#[cfg(test)]
mod prop_tests;
mod rows;
mod state;

pub use mat::Mat;
pub use rows::RowNorm;
pub use state::State;

use layer::Layer;
use rows::softcap;

use crate::config::{AttentionKind, ModelConfig, Position, Rope, RopePairing, RopeScaling};
use crate::model::rope::RopeTable;
use crate::weights::Weights;
use crate::{Error, Result};

/// Tokens per chunk of a prefill: the scratch buffers hold this many rows.
pub const MAX_BATCH: usize = 512;

/// Dimensions and per-model constants the layers read.
#[derive(Debug, Clone)]
pub(crate) struct Dims {
    pub d: usize,
    pub d_ff: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub scale: f32,
    pub softcap: Option<f32>,
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
}

/// Why a config is outside the engine's scope, if it is.
fn out_of_scope(cfg: &ModelConfig) -> Option<&'static str> {
    if matches!(cfg.attention.kind, AttentionKind::Latent(_)) {
        return Some("multi-head latent attention (MLA)");
    }
    if matches!(cfg.position, Position::Alibi) {
        return Some("ALiBi positions");
    }
    if cfg.ffn.moe.is_some() && cfg.layers.iter().any(|l| l.moe) {
        return Some("mixture-of-experts layers");
    }
    None
}

impl Engine {
    /// Builds the engine for contexts up to `max_context` (clamped to the model's).
    pub fn new(cfg: &ModelConfig, w: &Weights, max_context: usize) -> Result<Self> {
        if let Some(what) = out_of_scope(cfg) {
            return Err(Error::EngineUnsupported(what.into()));
        }
        let (v, d, a) = (cfg.vocab_size, cfg.d_model, &cfg.attention);
        let embd = Mat::load(w, "token_embd.weight", v, d)?;
        let pos_embd = match cfg.position {
            Position::Learned => Some(mat::dense_vec(
                "position_embd.weight",
                w,
                &[cfg.context_len, d],
            )?),
            _ => None,
        };
        let embd_norm = cfg
            .embedding
            .norm
            .map(|n| RowNorm::load(w, "token_embd_norm", n, d))
            .transpose()?;
        let mut distinct: Vec<Rope> = Vec::new();
        let mut layers = Vec::with_capacity(cfg.n_layers());
        for (i, l) in cfg.layers.iter().enumerate() {
            let rope = match (&l.rope, &cfg.position) {
                (Some(r), _) | (None, Position::Rope(r)) => {
                    Some(match distinct.iter().position(|x| x == r) {
                        Some(k) => k,
                        None => {
                            distinct.push(r.clone());
                            distinct.len() - 1
                        }
                    })
                }
                _ => None,
            };
            layers.push(Layer::load(cfg, w, i, rope)?);
        }
        let head = if cfg.embedding.tied_lm_head {
            embd.clone()
        } else {
            Mat::load(w, "output.weight", v, d)?
        };
        let dm = Dims {
            d,
            d_ff: cfg.ffn.d_ff,
            n_heads: a.n_heads,
            n_kv_heads: a.n_kv_heads,
            head_dim: a.head_dim,
            scale: a.score_scale() as f32,
            softcap: a.softcap.map(|c| c as f32),
            vocab: v,
            max_ctx: max_context.min(cfg.context_len).max(1),
            max_batch: MAX_BATCH,
            rope_half: distinct.iter().map(|r| r.rotary_dim / 2).collect(),
            rope_pairing: distinct.iter().map(|r| r.pairing).collect(),
        };
        Ok(Self {
            cfg: cfg.clone(),
            dm,
            embd,
            embd_scale: cfg.embedding.scale.map(|s| s as f32),
            pos_embd,
            embd_norm,
            layers,
            final_norm: RowNorm::load(w, "output_norm", cfg.final_norm, d)?,
            head,
            final_softcap: cfg.final_logit_softcap.map(|c| c as f32),
            ropes: distinct.iter().map(RopeFreqs::new).collect(),
        })
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
        State::new(&self.dm, self.layers.len())
    }

    /// Appends `ids` to the sequence; logits `[vocab]` of its last position.
    pub fn forward<'s>(&self, st: &'s mut State, ids: &[u32]) -> Result<&'s [f32]> {
        self.check(st, ids)?;
        let end = st.pos + ids.len();
        for chunk in ids.chunks(self.dm.max_batch) {
            self.run_chunk(st, chunk, end)?;
        }
        let (d, last) = (self.dm.d, (ids.len() - 1) % self.dm.max_batch);
        let s = &mut st.s;
        self.final_norm
            .apply(&s.x[last * d..(last + 1) * d], &mut s.xn[..d]);
        self.head.matmul(&s.xn[..d], 1, &mut s.logits)?;
        if let Some(cap) = self.final_softcap {
            softcap(&mut s.logits, cap);
        }
        Ok(&st.s.logits)
    }

    /// Appends `ids`; logits of every position, `[n, vocab]` row-major (allocates them).
    pub fn forward_all(&self, st: &mut State, ids: &[u32]) -> Result<Vec<f32>> {
        self.check(st, ids)?;
        let (d, v, end) = (self.dm.d, self.dm.vocab, st.pos + ids.len());
        let mut out = vec![0f32; ids.len() * v];
        for (c, chunk) in ids.chunks(self.dm.max_batch).enumerate() {
            self.run_chunk(st, chunk, end)?;
            let (n, s) = (chunk.len(), &mut st.s);
            self.final_norm.apply(&s.x[..n * d], &mut s.xn[..n * d]);
            let o = &mut out[c * self.dm.max_batch * v..][..n * v];
            self.head.matmul(&s.xn[..n * d], n, o)?;
            if let Some(cap) = self.final_softcap {
                softcap(o, cap);
            }
        }
        Ok(out)
    }

    fn check(&self, st: &State, ids: &[u32]) -> Result<()> {
        if ids.is_empty() {
            return Err(Error::BadInput("engine forward: no token ids".into()));
        }
        if st.pos + ids.len() > self.dm.max_ctx {
            return Err(Error::ContextOverflow {
                len: st.pos + ids.len(),
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

    /// Runs one chunk (≤ max_batch tokens) through every layer; leaves `x` in scratch.
    fn run_chunk(&self, st: &mut State, ids: &[u32], end: usize) -> Result<()> {
        let (q0, n) = (st.pos, ids.len());
        self.embed(st, ids)?;
        for (r, rope) in self.ropes.iter().enumerate() {
            rope.fill(q0, n, end, &mut st.s.cos[r], &mut st.s.sin[r]);
        }
        for (li, layer) in self.layers.iter().enumerate() {
            layer.forward(&self.dm, st, li, q0, n)?;
        }
        st.pos += n;
        Ok(())
    }

    fn embed(&self, st: &mut State, ids: &[u32]) -> Result<()> {
        let (d, q0) = (self.dm.d, st.pos);
        let x = &mut st.s.x;
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
            nm.apply_inplace(&mut x[..ids.len() * d]);
        }
        Ok(())
    }
}
