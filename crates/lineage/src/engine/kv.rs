//! The paged KV cache: a sequence's keys and values live in blocks of [`BLOCK`]
//! positions (all layers of those positions in one allocation), listed in the
//! sequence's block table. Blocks are reference-counted, so sequences that share a
//! prompt prefix share its full blocks (`engine::prefix`); a block is only written
//! while one sequence holds it (copy-on-write otherwise), so sharing can never change
//! another sequence's cache.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Positions per block: vLLM's default, small enough that a shared prefix loses at
/// most 15 positions of reuse and a sequence wastes at most 15 positions of memory.
pub const BLOCK: usize = 16;

/// Counts the blocks alive across every sequence of one engine (for `/metrics`).
#[derive(Debug, Default)]
pub struct BlockCounter(AtomicUsize);

impl BlockCounter {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Keys and values of [`BLOCK`] positions for every layer: per layer the keys transposed,
/// `[kw][BLOCK]` (a query's 16 scores are then 16-wide multiply-adds down the head
/// dimension, no horizontal sums), then the values `[BLOCK][vw]`. A latent (MLA) cache
/// has no values (`vw` = 0): its "keys" are the latent and the shared RoPE key.
#[derive(Debug)]
pub struct KvBlock {
    data: Box<[f32]>,
    live: Arc<BlockCounter>,
}

impl KvBlock {
    fn new(len: usize, live: &Arc<BlockCounter>) -> Self {
        live.0.fetch_add(1, Ordering::Relaxed);
        Self {
            data: vec![0f32; len].into_boxed_slice(),
            live: Arc::clone(live),
        }
    }
}

impl Clone for KvBlock {
    fn clone(&self) -> Self {
        self.live.0.fetch_add(1, Ordering::Relaxed);
        Self {
            data: self.data.clone(),
            live: Arc::clone(&self.live),
        }
    }
}

impl Drop for KvBlock {
    fn drop(&mut self) {
        self.live.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One sequence's block table.
#[derive(Debug, Clone)]
pub struct SeqKv {
    layers: usize,
    /// Key and value row widths.
    kw: usize,
    vw: usize,
    blocks: Vec<Arc<KvBlock>>,
    live: Arc<BlockCounter>,
}

impl SeqKv {
    pub(crate) fn new(layers: usize, kw: usize, vw: usize, live: &Arc<BlockCounter>) -> Self {
        Self {
            layers,
            kw,
            vw,
            blocks: Vec::new(),
            live: Arc::clone(live),
        }
    }

    fn block_len(&self) -> usize {
        self.layers * BLOCK * (self.kw + self.vw)
    }

    /// Offset of `layer`'s transposed keys inside a block.
    #[inline(always)]
    fn k_offset(&self, layer: usize) -> usize {
        layer * BLOCK * (self.kw + self.vw)
    }

    /// Offset of position `j`'s value row of `layer` inside its block.
    #[inline(always)]
    fn v_offset(&self, layer: usize, j: usize) -> usize {
        self.k_offset(layer) + BLOCK * self.kw + (j % BLOCK) * self.vw
    }

    /// Key row of `layer` at position `j` (`kvw` values), gathered from its column (for
    /// tests: attention reads whole blocks).
    #[cfg(test)]
    fn k(&self, layer: usize, j: usize) -> Vec<f32> {
        let kt = self.k_block(layer, j / BLOCK);
        (0..self.kw).map(|d| kt[d * BLOCK + j % BLOCK]).collect()
    }

    /// Value row of `layer` at position `j` (for tests).
    #[cfg(test)]
    fn v(&self, layer: usize, j: usize) -> &[f32] {
        let at = self.v_offset(layer, j);
        &self.blocks[j / BLOCK].data[at..at + self.vw]
    }

    /// Keys of `layer` for the [`BLOCK`] positions of block `b`, transposed: `[kw, BLOCK]`.
    #[inline(always)]
    pub fn k_block(&self, layer: usize, b: usize) -> &[f32] {
        let at = self.k_offset(layer);
        &self.blocks[b].data[at..at + BLOCK * self.kw]
    }

    /// Value rows of `layer` for block `b`.
    #[inline(always)]
    pub fn v_block(&self, layer: usize, b: usize) -> &[f32] {
        let at = self.v_offset(layer, 0);
        &self.blocks[b].data[at..at + BLOCK * self.vw]
    }

    /// Makes room for positions `..len`: new blocks as the sequence crosses block edges.
    pub(crate) fn reserve(&mut self, len: usize) {
        while self.blocks.len() * BLOCK < len {
            let b = KvBlock::new(self.block_len(), &self.live);
            self.blocks.push(Arc::new(b));
        }
    }

    /// Stores position `j`'s key and value rows of `layer` (room made by `reserve`).
    pub(crate) fn write(&mut self, layer: usize, j: usize, k: &[f32], v: &[f32]) {
        let (ka, va) = (self.k_offset(layer) + j % BLOCK, self.v_offset(layer, j));
        let vw = self.vw;
        // Unique in practice: shared blocks are full and precede every written position.
        let b = Arc::make_mut(&mut self.blocks[j / BLOCK]);
        for (d, &x) in k.iter().enumerate() {
            b.data[ka + d * BLOCK] = x;
        }
        b.data[va..va + vw].copy_from_slice(v);
    }

    /// Drops every block (the sequence restarts).
    pub(crate) fn clear(&mut self) {
        self.blocks.clear();
    }

    /// The full blocks of the first `len` positions, shareable.
    pub(crate) fn full_blocks(&self, len: usize) -> &[Arc<KvBlock>] {
        &self.blocks[..(len / BLOCK).min(self.blocks.len())]
    }

    /// Starts the table with shared blocks (a cached prefix); the table must be empty.
    pub(crate) fn adopt(&mut self, shared: Vec<Arc<KvBlock>>) {
        debug_assert!(self.blocks.is_empty());
        self.blocks = shared;
    }

    /// Bytes of one block (all layers, K and V, f32).
    pub fn block_bytes(&self) -> usize {
        self.block_len() * 4
    }

    /// Blocks in this sequence's table.
    pub fn n_blocks(&self) -> usize {
        self.blocks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_across_blocks_and_shared_blocks_are_copied_on_write() {
        let live = Arc::new(BlockCounter::default());
        let mut a = SeqKv::new(2, 3, 3, &live);
        a.reserve(BLOCK + 1);
        assert_eq!((a.n_blocks(), live.get()), (2, 2));
        for j in 0..=BLOCK {
            let (k, v) = ([j as f32; 3], [-(j as f32); 3]);
            a.write(1, j, &k, &v);
        }
        assert_eq!(a.k(1, BLOCK), [BLOCK as f32; 3]);
        assert_eq!(a.v(1, 3), &[-3.0; 3]);
        assert_eq!(a.k(0, 3), [0.0; 3]);
        let mut b = SeqKv::new(2, 3, 3, &live);
        b.adopt(a.full_blocks(BLOCK + 1).to_vec());
        assert_eq!(live.get(), 2, "sharing allocates nothing");
        // Writing into a shared block copies it: `a` keeps its row.
        b.write(1, 2, &[9.0; 3], &[9.0; 3]);
        assert_eq!((a.k(1, 2), b.k(1, 2)), (vec![2.0; 3], vec![9.0; 3]));
        assert_eq!(live.get(), 3);
        drop(a);
        drop(b);
        assert_eq!(live.get(), 0, "every block is freed");
    }
}
