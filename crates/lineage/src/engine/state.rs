//! Everything a forward writes: each sequence's paged KV cache ([`SeqKv`], a block per
//! 16 positions, allocated as the sequence fills it), and scratch buffers sized once
//! for a chunk of `max_batch` rows. A [`State`] holds one sequence; a [`Batch`] holds
//! the scratch that a forward over many sequences shares.

use std::sync::Arc;

use super::kv::{BlockCounter, SeqKv};
use super::Dims;

/// Per-chunk scratch; row-major `[rows, width]`.
#[derive(Debug, Clone)]
pub struct Scratch {
    /// Residual stream `[B, d]`.
    pub x: Vec<f32>,
    /// Sublayer input `[B, d]`.
    pub xn: Vec<f32>,
    /// Sublayer output `[B, d]`.
    pub o: Vec<f32>,
    /// FFN input of a parallel block `[B, d]`.
    pub f_in: Vec<f32>,
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    /// Attention output before `attn_output` `[B, H*hd]`.
    pub att: Vec<f32>,
    pub gate: Vec<f32>,
    /// Output of a stacked projection (q|k|v or gate|up) before the split.
    pub tmp: Vec<f32>,
    pub up: Vec<f32>,
    /// Per distinct RoPE: cos and sin `[B, rotary_dim/2]` of the chunk's positions.
    pub cos: Vec<Vec<f32>>,
    pub sin: Vec<Vec<f32>>,
    /// Logits `[rows, vocab]` of the positions asked for (grown to the most rows asked).
    pub logits: Vec<f32>,
}

impl Scratch {
    pub(crate) fn new(dm: &Dims) -> Self {
        let b = dm.max_batch;
        let (qw, kvw) = (dm.n_heads * dm.head_dim, dm.n_kv_heads * dm.head_dim);
        let z = |n: usize| vec![0f32; n];
        let s = Scratch {
            x: z(b * dm.d),
            xn: z(b * dm.d),
            o: z(b * dm.d),
            f_in: z(b * dm.d),
            q: z(b * qw),
            k: z(b * kvw),
            v: z(b * kvw),
            att: z(b * qw),
            gate: z(b * dm.d_ff),
            tmp: z(b * (qw + 2 * kvw).max(2 * dm.d_ff)),
            up: z(b * dm.d_ff),
            cos: dm.rope_half.iter().map(|h| z(b * h)).collect(),
            sin: dm.rope_half.iter().map(|h| z(b * h)).collect(),
            logits: z(dm.vocab),
        };
        s
    }
}

/// Scratch for forwards over many sequences at once (`Engine::forward_batch`); make it
/// with `Engine::new_batch`, one per thread that runs batches.
#[derive(Debug, Clone)]
pub struct Batch {
    pub(crate) s: Box<Scratch>,
}

/// One sequence: its position and its cache. The scratch of a one-sequence forward is
/// made on its first use, so sequences that only run in batches stay small.
#[derive(Debug, Clone)]
pub struct State {
    /// Positions processed so far.
    pub(crate) pos: usize,
    pub(crate) kv: SeqKv,
    pub(crate) s: Option<Box<Scratch>>,
}

impl State {
    pub(crate) fn new(dm: &Dims, n_layers: usize, live: &Arc<BlockCounter>) -> Self {
        let kvw = dm.n_kv_heads * dm.head_dim;
        Self {
            pos: 0,
            kv: SeqKv::new(n_layers, kvw, live),
            s: None,
        }
    }

    /// The paged cache.
    pub fn kv(&self) -> &SeqKv {
        &self.kv
    }

    /// Positions processed so far (the next token's position).
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Forgets the sequence: its blocks are released, the scratch is kept.
    pub fn reset(&mut self) {
        self.pos = 0;
        self.kv.clear();
    }
}
