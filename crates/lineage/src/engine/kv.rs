//! The paged KV cache: a sequence's keys and values live in blocks of [`BLOCK`]
//! positions (all layers of those positions in one allocation), listed in the
//! sequence's block table. Blocks are reference-counted, so sequences that share a
//! prompt prefix share its full blocks (`engine::prefix`); a block is only written
//! while one sequence holds it (copy-on-write otherwise), so sharing can never change
//! another sequence's cache.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::kv_q8;
use super::kv_type::{KvElem, KvType, F16};

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
    data: KvData,
    live: Arc<BlockCounter>,
}

/// A block's values in the cache's [`KvType`].
#[derive(Debug, Clone)]
enum KvData {
    F32(Box<[f32]>),
    F16(Box<[F16]>),
    /// q8_0: codes where the f32 cache has values, and their scales (`kv_q8`).
    Q8 {
        q: Box<[i8]>,
        s: Box<[F16]>,
    },
}

impl KvData {
    /// `len` values (and, for q8_0, `scales` scales).
    fn new(ty: KvType, len: usize, scales: usize) -> Self {
        match ty {
            KvType::F32 => KvData::F32(vec![0.0; len].into_boxed_slice()),
            KvType::F16 => KvData::F16(vec![F16::default(); len].into_boxed_slice()),
            KvType::Q8_0 => KvData::Q8 {
                q: vec![0; len].into_boxed_slice(),
                s: vec![F16::default(); scales].into_boxed_slice(),
            },
        }
    }

    /// The values as `E`: the engine reads a cache only as the type it made it with.
    #[inline(always)]
    fn of<E: KvElem>(&self) -> &[E] {
        let (ptr, len) = match self {
            KvData::F32(d) if E::TYPE == KvType::F32 => (d.as_ptr().cast::<E>(), d.len()),
            KvData::F16(d) if E::TYPE == KvType::F16 => (d.as_ptr().cast::<E>(), d.len()),
            _ => panic!("KV cache read as {} but stored otherwise", E::TYPE),
        };
        // SAFETY: `E::TYPE` names the stored element type (f32 or F16, the only two
        // `KvElem`s), so the pointer is a valid `[E; len]` borrowed from `self`.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }

    /// A q8_0 block's codes and scales.
    #[inline(always)]
    fn q8(&self) -> (&[i8], &[F16]) {
        match self {
            KvData::Q8 { q, s } => (q, s),
            _ => panic!("KV cache read as q8_0 but stored otherwise"),
        }
    }
}

impl KvBlock {
    fn new(ty: KvType, (len, scales): (usize, usize), live: &Arc<BlockCounter>) -> Self {
        live.0.fetch_add(1, Ordering::Relaxed);
        Self {
            data: KvData::new(ty, len, scales),
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

/// Which layers share block tables: one group per distinct window (full attention is
/// the group without one), each layer at a local index inside its group's blocks.
#[derive(Debug, Clone)]
pub struct KvLayout {
    /// Key and value row widths.
    kw: usize,
    vw: usize,
    /// Per group: its layers and its window.
    groups: Vec<(usize, Option<usize>)>,
    /// Per layer: (group, index inside the group's blocks).
    map: Vec<(usize, usize)>,
    /// What the blocks store.
    ty: KvType,
    /// The head width: q8_0 groups never straddle two heads.
    hd: usize,
}

impl KvLayout {
    /// `windows[l]`: layer l's sliding window, if it has one.
    pub fn new(kw: usize, vw: usize, windows: &[Option<usize>]) -> Self {
        let (mut groups, mut map): (Vec<(usize, Option<usize>)>, _) = (Vec::new(), Vec::new());
        for &w in windows {
            let g = groups
                .iter()
                .position(|&(_, gw)| gw == w)
                .unwrap_or_else(|| {
                    groups.push((0, w));
                    groups.len() - 1
                });
            map.push((g, groups[g].0));
            groups[g].0 += 1;
        }
        Self {
            kw,
            vw,
            groups,
            map,
            ty: KvType::F32,
            hd: kw.max(1),
        }
    }

    /// The same layout storing `ty`, for heads `head_dim` wide (which must divide the key
    /// and value widths: every head's groups are its own).
    pub fn with_type(self, ty: KvType, head_dim: usize) -> Result<Self, String> {
        let whole = |w: usize| head_dim > 0 && w.is_multiple_of(head_dim);
        if ty == KvType::Q8_0 && !(whole(self.kw) && whole(self.vw)) {
            return Err(format!(
                "a q8_0 cache needs key and value widths ({}, {}) made of heads of {head_dim}",
                self.kw, self.vw
            ));
        }
        Ok(Self {
            ty,
            hd: head_dim.max(1),
            ..self
        })
    }

    pub fn kv_type(&self) -> KvType {
        self.ty
    }

    fn block_len(&self, group: usize) -> usize {
        self.groups[group].0 * BLOCK * (self.kw + self.vw)
    }

    /// Scale groups of a key row and of a value row (q8_0).
    fn scale_groups(&self) -> (usize, usize) {
        let per = |w: usize| w / self.hd * kv_q8::groups(self.hd);
        (per(self.kw), per(self.vw))
    }

    /// Where layer `layer`'s scales start inside its group's blocks (q8_0).
    fn scales_at(&self, layer: usize) -> usize {
        let (kg, vg) = self.scale_groups();
        self.map[layer].1 * BLOCK * (kg + vg)
    }

    /// A block's (values, scales) for layer group `group`; scales only for q8_0.
    fn block_sizes(&self, group: usize) -> (usize, usize) {
        let (kg, vg) = self.scale_groups();
        let scales = match self.ty {
            KvType::Q8_0 => self.groups[group].0 * BLOCK * (kg + vg),
            _ => 0,
        };
        (self.block_len(group), scales)
    }

    /// Bytes of a block of layer group `group`.
    fn block_bytes(&self, group: usize) -> usize {
        let (len, scales) = self.block_sizes(group);
        let per = match self.ty {
            KvType::F32 => 4,
            KvType::F16 => 2,
            KvType::Q8_0 => 1,
        };
        len * per + scales * 2
    }
}

/// The blocks of one span of [`BLOCK`] positions, one per layer group: what the prefix
/// cache shares. A windowed group's block may be gone (released out of its window):
/// a prefix that ends far enough after it does not need it.
#[derive(Debug, Clone)]
pub struct BlockSet(Box<[Option<Arc<KvBlock>>]>);

/// One sequence's block tables, one per layer group. A windowed group releases the
/// blocks that fell out of its window ([`SeqKv::release_outside`]), so it holds about W
/// positions (plus one block and the chunk being computed) however long the sequence.
#[derive(Debug, Clone)]
pub struct SeqKv {
    layout: Arc<KvLayout>,
    /// Per group, per block index: the block, or None once released.
    groups: Vec<Vec<Option<Arc<KvBlock>>>>,
    live: Arc<BlockCounter>,
}

impl SeqKv {
    pub(crate) fn new(layout: &Arc<KvLayout>, live: &Arc<BlockCounter>) -> Self {
        Self {
            layout: Arc::clone(layout),
            groups: vec![Vec::new(); layout.groups.len()],
            live: Arc::clone(live),
        }
    }

    /// Layer `layer`'s (group, offset of its transposed keys inside the group's blocks).
    #[inline(always)]
    fn at(&self, layer: usize) -> (usize, usize) {
        let (g, local) = self.layout.map[layer];
        (g, local * BLOCK * (self.layout.kw + self.layout.vw))
    }

    #[inline(always)]
    fn block(&self, g: usize, b: usize) -> &KvBlock {
        self.groups[g][b]
            .as_deref()
            .expect("attention reads only blocks inside its window, which are held")
    }

    /// Key row of `layer` at position `j` (`kw` values), gathered from its column (for
    /// tests: attention reads whole blocks).
    #[cfg(test)]
    fn k(&self, layer: usize, j: usize) -> Vec<f32> {
        let kt = self.k_block(layer, j / BLOCK);
        (0..self.layout.kw)
            .map(|d| kt[d * BLOCK + j % BLOCK])
            .collect()
    }

    /// Value row of `layer` at position `j` (for tests).
    #[cfg(test)]
    fn v(&self, layer: usize, j: usize) -> &[f32] {
        let vw = self.layout.vw;
        &self.v_block(layer, j / BLOCK)[(j % BLOCK) * vw..][..vw]
    }

    /// What the cache stores.
    pub fn kv_type(&self) -> KvType {
        self.layout.ty
    }

    /// Keys of `layer` for the [`BLOCK`] positions of block `b`, transposed: `[kw, BLOCK]`,
    /// in the cache's own type `E`.
    #[inline(always)]
    pub(crate) fn k_rows<E: KvElem>(&self, layer: usize, b: usize) -> &[E] {
        let (g, at) = self.at(layer);
        &self.block(g, b).data.of::<E>()[at..at + BLOCK * self.layout.kw]
    }

    /// Value rows of `layer` for block `b`, in the cache's own type `E`.
    #[inline(always)]
    pub(crate) fn v_rows<E: KvElem>(&self, layer: usize, b: usize) -> &[E] {
        let (g, at) = self.at(layer);
        let at = at + BLOCK * self.layout.kw;
        &self.block(g, b).data.of::<E>()[at..at + BLOCK * self.layout.vw]
    }

    /// A q8_0 cache's block `b` of `layer`: (key codes `[kw][BLOCK]`, key scales
    /// `[kg][BLOCK]`, value codes `[BLOCK][vw]`, value scales `[BLOCK][vg]`).
    #[inline(always)]
    pub(crate) fn q8_rows(&self, layer: usize, b: usize) -> Q8Rows<'_> {
        let (g, at) = self.at(layer);
        let (kw, vw) = (self.layout.kw, self.layout.vw);
        let (kg, vg) = self.layout.scale_groups();
        let sa = self.layout.scales_at(layer);
        let (q, s) = self.block(g, b).data.q8();
        Q8Rows {
            kq: &q[at..at + BLOCK * kw],
            ks: &s[sa..sa + BLOCK * kg],
            vq: &q[at + BLOCK * kw..at + BLOCK * (kw + vw)],
            vs: &s[sa + BLOCK * kg..sa + BLOCK * (kg + vg)],
            vw,
            vg,
        }
    }

    /// Value row width of the cache (the stride between positions).
    #[inline(always)]
    pub(crate) fn value_width(&self) -> usize {
        self.layout.vw
    }

    /// [`Self::k_rows`] of an f32 cache.
    #[inline(always)]
    pub fn k_block(&self, layer: usize, b: usize) -> &[f32] {
        self.k_rows(layer, b)
    }

    /// [`Self::v_rows`] of an f32 cache.
    #[inline(always)]
    pub fn v_block(&self, layer: usize, b: usize) -> &[f32] {
        self.v_rows(layer, b)
    }

    /// Makes room for positions `..len`: new blocks as the sequence crosses block edges.
    pub(crate) fn reserve(&mut self, len: usize) {
        for (g, blocks) in self.groups.iter_mut().enumerate() {
            while blocks.len() * BLOCK < len {
                let b = KvBlock::new(self.layout.ty, self.layout.block_sizes(g), &self.live);
                blocks.push(Some(Arc::new(b)));
            }
        }
    }

    /// Stores position `j`'s key and value rows of `layer` (room made by `reserve`).
    pub(crate) fn write(&mut self, layer: usize, j: usize, k: &[f32], v: &[f32]) {
        let (g, at) = self.at(layer);
        let (kw, vw) = (self.layout.kw, self.layout.vw);
        let (ka, va) = (at + j % BLOCK, at + BLOCK * kw + (j % BLOCK) * vw);
        // Unique in practice: shared blocks are full and precede every written position.
        let slot = self.groups[g][j / BLOCK]
            .as_mut()
            .expect("a position being written is inside its window");
        match &mut Arc::make_mut(slot).data {
            KvData::F32(d) => store(d, ka, va, k, v),
            KvData::F16(d) => store(d, ka, va, k, v),
            KvData::Q8 { q, s } => {
                let (kg, vg) = self.layout.scale_groups();
                let sa = self.layout.scales_at(layer);
                let (ks, vs) = (sa + j % BLOCK, sa + BLOCK * kg + (j % BLOCK) * vg);
                let hd = self.layout.hd;
                kv_q8::quantize_row(
                    k,
                    hd,
                    |i, c| q[ka + i * BLOCK] = c,
                    |g, x| s[ks + g * BLOCK] = x,
                );
                kv_q8::quantize_row(v, hd, |i, c| q[va + i] = c, |g, x| s[vs + g] = x);
            }
        }
    }

    /// After a forward up to position `end` (exclusive): each windowed group releases
    /// its blocks that no later query can see (every position below `end + 1 - W`),
    /// but one: a cached prefix ending in the last block (`end` rounded down) then
    /// still finds the window it needs.
    pub(crate) fn release_outside(&mut self, end: usize) {
        for (blocks, &(_, w)) in self.groups.iter_mut().zip(&self.layout.groups) {
            let Some(w) = w else { continue };
            let dead = ((end + 1).saturating_sub(w) / BLOCK).saturating_sub(1);
            blocks.iter_mut().take(dead).for_each(|b| *b = None);
        }
    }

    /// Drops every block (the sequence restarts).
    pub(crate) fn clear(&mut self) {
        self.groups.iter_mut().for_each(Vec::clear);
    }

    /// The full blocks of the first `len` positions, shareable (windowed groups' released
    /// blocks as gaps).
    pub(crate) fn full_sets(&self, len: usize) -> Vec<BlockSet> {
        let n = (len / BLOCK).min(self.n_blocks());
        (0..n)
            .map(|b| BlockSet(self.groups.iter().map(|g| g[b].clone()).collect()))
            .collect()
    }

    /// How many of `sets` (a cached chain from position 0) a sequence can start from: the
    /// most whose every block the next query can see is held. Full-attention groups need
    /// them all; a windowed group only the blocks from `end + 1 - W` on.
    pub(crate) fn usable(&self, sets: &[BlockSet]) -> usize {
        let ok = |n: usize| {
            self.layout.groups.iter().enumerate().all(|(g, &(_, w))| {
                let from = w.map_or(0, |w| (n * BLOCK + 1).saturating_sub(w) / BLOCK);
                sets[from.min(n)..n].iter().all(|s| s.0[g].is_some())
            })
        };
        (0..=sets.len()).rev().find(|&n| ok(n)).unwrap_or(0)
    }

    /// Starts the tables with shared blocks (a cached prefix that [`Self::usable`]
    /// accepts); the tables must be empty.
    pub(crate) fn adopt(&mut self, shared: Vec<BlockSet>) {
        debug_assert!(self.n_blocks() == 0);
        for set in shared {
            for (g, b) in self.groups.iter_mut().zip(set.0.iter()) {
                g.push(b.clone());
            }
        }
    }

    /// Bytes of one span of [`BLOCK`] positions (all layers, K and V).
    pub fn block_bytes(&self) -> usize {
        (0..self.groups.len())
            .map(|g| self.layout.block_bytes(g))
            .sum::<usize>()
    }

    /// Spans of [`BLOCK`] positions in this sequence's tables.
    pub fn n_blocks(&self) -> usize {
        self.groups.first().map_or(0, Vec::len)
    }

    /// Blocks held now, over every group (released ones not counted).
    pub fn held_blocks(&self) -> usize {
        self.groups.iter().flatten().filter(|b| b.is_some()).count()
    }
}

/// One block of one layer of a q8_0 cache (see [`SeqKv::q8_rows`]).
pub(crate) struct Q8Rows<'a> {
    pub kq: &'a [i8],
    pub ks: &'a [F16],
    pub vq: &'a [i8],
    pub vs: &'a [F16],
    /// Value codes and value scales per position.
    pub vw: usize,
    pub vg: usize,
}

/// Writes one position's key (down its column, stride [`BLOCK`], from `ka`) and value
/// row (at `va`) into a block's values, converted to the cache's type.
fn store<E: KvElem>(d: &mut [E], ka: usize, va: usize, k: &[f32], v: &[f32]) {
    for (i, &x) in k.iter().enumerate() {
        d[ka + i * BLOCK] = E::put(x);
    }
    for (o, &x) in d[va..va + v.len()].iter_mut().zip(v) {
        *o = E::put(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_across_blocks_and_shared_blocks_are_copied_on_write() {
        let live = Arc::new(BlockCounter::default());
        let layout = Arc::new(KvLayout::new(3, 3, &[None, None]));
        let mut a = SeqKv::new(&layout, &live);
        a.reserve(BLOCK + 1);
        assert_eq!((a.n_blocks(), live.get()), (2, 2));
        for j in 0..=BLOCK {
            let (k, v) = ([j as f32; 3], [-(j as f32); 3]);
            a.write(1, j, &k, &v);
        }
        assert_eq!(a.k(1, BLOCK), [BLOCK as f32; 3]);
        assert_eq!(a.v(1, 3), &[-3.0; 3]);
        assert_eq!(a.k(0, 3), [0.0; 3]);
        let mut b = SeqKv::new(&layout, &live);
        b.adopt(a.full_sets(BLOCK + 1));
        assert_eq!(live.get(), 2, "sharing allocates nothing");
        // Writing into a shared block copies it: `a` keeps its row.
        b.write(1, 2, &[9.0; 3], &[9.0; 3]);
        assert_eq!((a.k(1, 2), b.k(1, 2)), (vec![2.0; 3], vec![9.0; 3]));
        assert_eq!(live.get(), 3);
        drop(a);
        drop(b);
        assert_eq!(live.get(), 0, "every block is freed");
    }

    /// A q8_0 cache: key columns and value rows read back as ggml's q8_0 codes times
    /// their scales (two heads of 40: a group of 32 and one of 8 each), its bytes are a
    /// byte per value and two per scale, and a write into a shared block copies it.
    #[test]
    fn q8_rows_read_back_their_codes_and_shared_blocks_are_copied_on_write() {
        let (hd, w) = (40, 80);
        let live = Arc::new(BlockCounter::default());
        let layout = KvLayout::new(w, w, &[None]).with_type(KvType::Q8_0, hd);
        let layout = Arc::new(layout.unwrap());
        let mut a = SeqKv::new(&layout, &live);
        a.reserve(BLOCK + 1);
        let row = |j: usize, s: f32| -> Vec<f32> {
            (0..w)
                .map(|c| s * ((j * 7 + c * 3) % 23) as f32 - 5.0)
                .collect()
        };
        for j in 0..=BLOCK {
            a.write(0, j, &row(j, 0.5), &row(j, -0.25));
        }
        assert_eq!(a.block_bytes(), BLOCK * (2 * w + 2 * 2 * 2 * 2));
        // The expected values: each row quantized group by group.
        let deq = |x: &[f32]| -> Vec<f32> {
            let (mut q, mut sc) = (vec![0i8; w], vec![F16::default(); 4]);
            kv_q8::quantize_row(x, hd, |i, c| q[i] = c, |g, v| sc[g] = v);
            (0..w)
                .map(|i| q[i] as f32 * sc[i / hd * 2 + i % hd / 32].get())
                .collect()
        };
        let read = |kv: &SeqKv, j: usize| -> (Vec<f32>, Vec<f32>) {
            let r = kv.q8_rows(0, j / BLOCK);
            let l = j % BLOCK;
            let k = (0..w)
                .map(|i| {
                    r.kq[i * BLOCK + l] as f32 * r.ks[(i / hd * 2 + i % hd / 32) * BLOCK + l].get()
                })
                .collect();
            let v = (0..w)
                .map(|i| {
                    r.vq[l * r.vw + i] as f32 * r.vs[l * r.vg + i / hd * 2 + i % hd / 32].get()
                })
                .collect();
            (k, v)
        };
        for j in [0, 5, BLOCK] {
            assert_eq!(
                read(&a, j),
                (deq(&row(j, 0.5)), deq(&row(j, -0.25))),
                "position {j}"
            );
        }
        let mut b = SeqKv::new(&layout, &live);
        b.adopt(a.full_sets(BLOCK + 1));
        b.write(0, 3, &[9.0; 80], &[9.0; 80]);
        assert_eq!(read(&a, 3), (deq(&row(3, 0.5)), deq(&row(3, -0.25))));
        assert_eq!(read(&b, 3), (deq(&[9.0; 80]), deq(&[9.0; 80])));
        assert_eq!(live.get(), 3);
        let bad = KvLayout::new(w, w, &[None]).with_type(KvType::Q8_0, 30);
        assert!(bad.unwrap_err().contains("heads of 30"));
    }

    #[test]
    fn a_windowed_group_releases_what_no_later_query_sees() {
        let live = Arc::new(BlockCounter::default());
        let layout = Arc::new(KvLayout::new(2, 2, &[Some(20), None, Some(20)]));
        let mut a = SeqKv::new(&layout, &live);
        a.reserve(100);
        assert_eq!((a.n_blocks(), a.held_blocks()), (7, 14));
        for j in 0..100 {
            for l in 0..3 {
                a.write(l, j, &[j as f32, l as f32], &[0.0; 2]);
            }
        }
        // The next query (position 100) sees keys 81..=100: blocks 0-4 (0..80) could go;
        // 0-3 do, block 4 is the slack a prefix of 96 needs. Layers 0 and 2 share blocks.
        a.release_outside(100);
        assert_eq!((a.held_blocks(), live.get()), (7 + 3, 10));
        assert_eq!(a.k(0, 81), [81.0, 0.0]);
        assert_eq!(a.k(2, 95), [95.0, 2.0]);
        assert_eq!(
            a.k(1, 3),
            [3.0, 1.0],
            "the full-attention group keeps everything"
        );
        // A prefix of 96 needs the windowed blocks from (97 - 20) / 16 = 4 on; one of 64
        // needs block 2, which is gone.
        let sets = a.full_sets(100);
        assert_eq!(
            (sets.len(), a.usable(&sets), a.usable(&sets[..4])),
            (6, 6, 0)
        );
        drop(sets);
        a.clear();
        assert_eq!(live.get(), 0);
    }
}
