//! Everything a forward writes: the KV cache `[layers][positions][kv_heads*head_dim]` for
//! K and V, grown as the sequence is (doubling: a decode step allocates only when it
//! crosses a power of two), and scratch buffers sized once for a chunk of `max_batch`
//! tokens.

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
    /// Attention scores `[H, max_ctx]`.
    pub scores: Vec<f32>,
    /// Per distinct RoPE: cos and sin `[B, rotary_dim/2]` of the chunk's positions.
    pub cos: Vec<Vec<f32>>,
    pub sin: Vec<Vec<f32>>,
    /// Last position's logits `[vocab]`.
    pub logits: Vec<f32>,
}

/// One sequence's cache and scratch; make it with `Engine::new_state`.
#[derive(Debug, Clone)]
pub struct State {
    /// Positions processed so far.
    pub(crate) pos: usize,
    pub(crate) s: Scratch,
    pub(crate) k_cache: Vec<Vec<f32>>,
    pub(crate) v_cache: Vec<Vec<f32>>,
}

impl State {
    pub(crate) fn new(dm: &Dims, n_layers: usize) -> Self {
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
            scores: z(dm.n_heads * dm.max_ctx),
            cos: dm.rope_half.iter().map(|h| z(b * h)).collect(),
            sin: dm.rope_half.iter().map(|h| z(b * h)).collect(),
            logits: z(dm.vocab),
        };
        // Grown per layer as positions arrive (layer.rs `grow_cache`), at most max_ctx.
        let cache = || (0..n_layers).map(|_| Vec::new()).collect();
        Self {
            pos: 0,
            s,
            k_cache: cache(),
            v_cache: cache(),
        }
    }

    /// Positions processed so far (the next token's position).
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Forgets the sequence; the buffers are kept.
    pub fn reset(&mut self) {
        self.pos = 0;
    }
}
