//! Everything a forward writes: each sequence's paged KV cache ([`SeqKv`], a block per
//! 16 positions, allocated as the sequence fills it), and scratch buffers sized once
//! for a chunk of `max_batch` rows. A [`State`] holds one sequence; a [`Batch`] holds
//! the scratch that a forward over many sequences shares.

use std::sync::Arc;

use super::kv::{BlockCounter, KvLayout, SeqKv};
use super::Dims;
use crate::kernels::aligned::AlignedF32;

/// Per-chunk scratch; row-major `[rows, width]`.
#[derive(Debug, Clone)]
pub struct Scratch {
    /// Residual stream `[B, d]`.
    pub x: AlignedF32,
    /// Sublayer input `[B, d]`.
    pub xn: AlignedF32,
    /// Sublayer output `[B, d]`.
    pub o: AlignedF32,
    /// FFN input of a parallel block `[B, d]`.
    pub f_in: AlignedF32,
    pub q: AlignedF32,
    pub k: AlignedF32,
    pub v: AlignedF32,
    /// Attention output before `attn_output` `[B, H*hd]`.
    pub att: AlignedF32,
    pub gate: AlignedF32,
    /// Output of a stacked projection (q|k|v or gate|up) before the split.
    pub tmp: AlignedF32,
    pub up: AlignedF32,
    /// Latent attention outputs `[B, H * kv_lora_rank]` (MLA layers only).
    pub lat: AlignedF32,
    /// MoE: router logits `[B, n_experts]`, an expert's gathered input rows and output.
    pub route: Vec<f32>,
    pub moe_x: AlignedF32,
    pub moe_y: AlignedF32,
    /// MoE: per expert, its (token row, routing weight) pairs; kept between forwards.
    pub moe_rows: Vec<Vec<(usize, f32)>>,
    /// Per distinct RoPE: cos and sin `[B, rotary_dim/2]` of the chunk's positions.
    pub cos: Vec<Vec<f32>>,
    pub sin: Vec<Vec<f32>>,
    /// Logits `[rows, vocab]` of the positions asked for (grown to the most rows asked).
    pub logits: Vec<f32>,
}

/// Per-row widths of the scratch buffers: the most any layer of the model needs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Widths {
    pub q: usize,
    pub k: usize,
    pub v: usize,
    pub att: usize,
    pub lat: usize,
    pub ff: usize,
    pub tmp: usize,
    /// Router logits (0 without MoE).
    pub route: usize,
    /// Expert rows (`d`, or 0 without MoE).
    pub moe: usize,
}

impl Scratch {
    pub(crate) fn new(dm: &Dims) -> Self {
        let (b, w) = (dm.max_batch, &dm.widths);
        // Rows start on 64-byte boundaries (whole multiples of 16 values in practice):
        // the 512-bit kernels' loads then never split a cache line.
        let a = AlignedF32::new;
        let z = |n: usize| vec![0f32; n];
        Scratch {
            x: a(b * dm.d),
            xn: a(b * dm.d),
            o: a(b * dm.d),
            f_in: a(b * dm.d),
            q: a(b * w.q),
            k: a(b * w.k),
            v: a(b * w.v),
            att: a(b * w.att),
            gate: a(b * w.ff),
            tmp: a(b * w.tmp),
            up: a(b * w.ff),
            lat: a(b * w.lat),
            route: z(b * w.route),
            moe_x: a(b * w.moe),
            moe_y: a(b * w.moe),
            moe_rows: Vec::new(),
            cos: dm.rope_half.iter().map(|h| z(b * h)).collect(),
            sin: dm.rope_half.iter().map(|h| z(b * h)).collect(),
            logits: z(dm.vocab),
        }
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
    pub(crate) fn new(layout: &Arc<KvLayout>, live: &Arc<BlockCounter>) -> Self {
        Self {
            pos: 0,
            kv: SeqKv::new(layout, live),
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
