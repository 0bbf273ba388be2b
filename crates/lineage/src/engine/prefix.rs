//! Prefix caching: the full KV blocks of earlier sequences, keyed by the tokens they
//! hold and everything before them, given to later sequences that start the same way
//! (a shared system prompt, the earlier turns of a chat). A block's keys and values
//! depend only on the tokens up to it (causal attention), so a hit gives exactly the
//! cache a prefill would have written: the kernels are batch-invariant, so bit for bit.
//!
//! Entries form chains (block b's key covers its parent's key), so a lookup walks the
//! prompt block by block and stops at the first miss. The cache holds at most
//! `capacity` blocks and evicts the least recently used, leaves before their parents.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use super::kv::{BlockSet, BLOCK};
use super::State;

struct Entry {
    parent: u64,
    tokens: [u32; BLOCK],
    depth: usize,
    block: BlockSet,
    used: u64,
}

pub struct PrefixCache {
    map: HashMap<u64, Entry>,
    capacity: usize,
    clock: u64,
}

/// Chain key of a block: its parent's key and its tokens.
fn key(parent: u64, tokens: &[u32]) -> u64 {
    let mut h = DefaultHasher::new();
    (parent, tokens).hash(&mut h);
    h.finish()
}

impl PrefixCache {
    /// A cache of at most `capacity` blocks (0 turns it off).
    pub fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            capacity,
            clock: 0,
        }
    }

    /// Blocks held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Gives the fresh sequence `st` the cached blocks of the longest cached prefix of
    /// `tokens`, leaving at least one token to compute (its logits are needed); returns
    /// the positions reused, which the caller no longer feeds.
    pub fn attach(&mut self, st: &mut State, tokens: &[u32]) -> usize {
        if st.pos != 0 || st.kv.n_blocks() != 0 || tokens.is_empty() {
            return 0;
        }
        self.clock += 1;
        let (mut parent, mut found) = (0u64, Vec::new());
        for toks in tokens[..tokens.len() - 1].chunks_exact(BLOCK) {
            let k = key(parent, toks);
            match self.map.get_mut(&k) {
                Some(e) if e.parent == parent && e.tokens == toks => {
                    e.used = self.clock;
                    found.push(e.block.clone());
                    parent = k;
                }
                _ => break,
            }
        }
        found.truncate(st.kv.usable(&found));
        let n = found.len() * BLOCK;
        st.kv.adopt(found);
        st.pos = n;
        n
    }

    /// Records the full blocks of `st`, whose first positions hold `tokens` (at most
    /// `st`'s computed positions are used).
    pub fn publish(&mut self, st: &State, tokens: &[u32]) {
        if self.capacity == 0 {
            return;
        }
        self.clock += 1;
        let len = tokens.len().min(st.pos);
        let blocks = st.kv.full_sets(len);
        let mut parent = 0u64;
        for (depth, (toks, b)) in tokens.chunks_exact(BLOCK).zip(&blocks).enumerate() {
            let k = key(parent, toks);
            let clock = self.clock;
            let e = self.map.entry(k).or_insert_with(|| Entry {
                parent,
                tokens: toks.try_into().expect("a chunk of BLOCK tokens"),
                depth,
                block: b.clone(),
                used: clock,
            });
            if e.parent != parent || e.tokens != toks {
                break; // a hash collision: keep the older chain
            }
            e.used = clock;
            parent = k;
        }
        self.evict();
    }

    /// Drops least recently used entries (deepest first among equals) over capacity.
    fn evict(&mut self) {
        while self.map.len() > self.capacity {
            let Some(&k) = self
                .map
                .iter()
                .min_by_key(|(_, e)| (e.used, std::cmp::Reverse(e.depth)))
                .map(|(k, _)| k)
            else {
                return;
            };
            self.map.remove(&k);
        }
    }
}
