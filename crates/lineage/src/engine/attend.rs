//! Attention of a batch's queries over their sequences' paged KV caches, one (sequence,
//! head) pair per task: scaled scores, soft-cap, causal / sliding-window visibility,
//! sinks, softmax, weighted values. Numerics follow `crate::model::attend` (HF
//! `eager_attention_forward`), and a query's result depends only on its own sequence:
//! the same arithmetic whatever else is in the batch. Tasks run on the kernel pool when
//! the batch is large enough to pay for the fork-join. ALiBi adds its per-head slope
//! times the key position after the soft-cap, as the reference does.

use std::cell::RefCell;
use std::ops::Range;

use super::attend_simd::{AttnSimd, Portable};
#[cfg(target_arch = "x86_64")]
use super::attend_simd::{Avx2, Avx512};
use super::attend_split::{self, Stage};
use super::attend_values::{weighted_block, Elem, Io, Rows, Vector};
use super::kv::{SeqKv, BLOCK};
use super::kv_type::{KvType, F16};
use super::kv_view::{KeyCols, KvFormat, ValueRows, Q8};
use super::mat::SyncPtr;
use super::softmax::softmax;
use crate::kernels::pool;
use crate::kernels::prefetch::prefetch;

/// Shapes and score options of one layer's attention.
pub struct AttnSpec<'a> {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub scale: f32,
    pub softcap: Option<f32>,
    /// Sliding window W: query i sees keys i-W < j <= i.
    pub window: Option<usize>,
    /// Sink logit per query head.
    pub sinks: Option<&'a [f32]>,
    /// ALiBi slope per query head: key j's score gains `slope * j` (HF's form).
    pub alibi: Option<&'a [f32]>,
}

/// One sequence's queries `[n, H*hd]` at positions `q0..q0+n`, its cache (already
/// holding these positions' keys and values) and the layer to read.
pub struct AttnIo<'a> {
    pub q: &'a [f32],
    pub kv: &'a SeqKv,
    pub layer: usize,
    pub q0: usize,
    pub n: usize,
}

thread_local! {
    /// Score row of the task running on this thread: grown to the longest context seen,
    /// then reused, so decode steps allocate nothing.
    static SCORES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's score row, grown to at least `len` values.
pub(super) fn with_scores<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCORES.with(|sc| {
        let mut sc = sc.borrow_mut();
        if sc.len() < len {
            sc.resize(len, 0.0);
        }
        f(&mut sc)
    })
}

/// Writes each sequence's `[n, H*hd]` into `out`, sequences one after another.
pub fn attend(spec: &AttnSpec, ios: &[AttnIo], out: &mut [f32]) {
    attend_opts(spec, ios, out, true, None);
}

/// [`attend`] with the SIMD builds of the head loop allowed or not (`simd`; the property
/// tests compare both). AVX2 or AVX-512 runs only where the CPU has it. `parts` forces
/// the split of `attend_split.rs` into that many pieces where it applies (the tests);
/// `None` lets [`attend_split::parts`] choose. Returns whether the work was split.
pub(super) fn attend_opts(
    spec: &AttnSpec,
    ios: &[AttnIo],
    out: &mut [f32],
    simd: bool,
    parts: Option<usize>,
) -> bool {
    // One engine's sequences: one cache type.
    match ios.first().map(|io| io.kv.kv_type()) {
        None => false,
        Some(KvType::F32) => attend_as::<f32>(spec, ios, out, simd, parts),
        Some(KvType::F16) => attend_as::<F16>(spec, ios, out, simd, parts),
        Some(KvType::Q8_0) => attend_as::<Q8>(spec, ios, out, simd, parts),
    }
}

/// [`attend_opts`] over caches that store `E`.
fn attend_as<E: KvFormat>(
    spec: &AttnSpec,
    ios: &[AttnIo],
    out: &mut [f32],
    simd: bool,
    parts: Option<usize>,
) -> bool {
    let qw = spec.n_heads * spec.head_dim;
    let rows: usize = ios.iter().map(|io| io.n).sum();
    // The raw output columns below rely on this bound.
    assert!(out.len() >= rows * qw && ios.iter().all(|io| io.q.len() >= io.n * qw));
    let simd = simd && crate::kernels::quant::simd::avx2_available();
    let avx512 = crate::kernels::quant::simd::avx512_available();
    let out_p = SyncPtr(out.as_mut_ptr());
    // First output row of each sequence (a handful of sequences: a linear scan).
    let row0 = |s: usize| ios[..s].iter().map(|io| io.n).sum::<usize>();
    // One task per (sequence, chunk of CHUNK queries, KV head): the query heads that
    // share a KV head read each key and value row once between them, and a long prefill
    // splits into enough tasks to keep every thread busy even with one KV head.
    let kv_heads = spec.n_kv_heads;
    let rep = spec.n_heads / kv_heads;
    let chunks = |io: &AttnIo| io.n.div_ceil(CHUNK);
    // Task t's sequence and its first task.
    let seq_of = |t: usize| {
        let mut first = 0;
        for (s, io) in ios.iter().enumerate() {
            let k = chunks(io) * kv_heads;
            if t < first + k {
                return (s, first);
            }
            first += k;
        }
        unreachable!("task {t} beyond the batch")
    };
    let group = |t: usize, stage: Stage| {
        let op = out_p; // the whole wrapper, not its raw field (closures capture fields)
        let (s, first) = seq_of(t);
        let (c, g) = ((t - first) / kv_heads, (t - first) % kv_heads);
        let io = &ios[s];
        let rows = c * CHUNK..((c + 1) * CHUNK).min(io.n);
        // SAFETY: rows `row0(s)..row0(s) + io.n` are sequence s's alone and inside `out`
        // (asserted above); this task writes only its chunk's rows and KV head g's query
        // heads' columns.
        let o = SyncPtr(unsafe { op.0.add(row0(s) * qw) });
        let scratch = TILE * rep * (io.q0 + io.n) + (2 * BLOCK + TILE * rep + 8) * spec.head_dim;
        with_scores(scratch, |sc| {
            #[cfg(target_arch = "x86_64")]
            if simd && avx512 {
                // SAFETY: `avx512` was checked at run time; `o` as above, `stage` as the
                // caller gives it.
                return unsafe { one_group_avx512::<E>(spec, io, g, rows, sc, o, stage) };
            }
            #[cfg(target_arch = "x86_64")]
            if simd {
                // SAFETY: `simd` implies `avx2_available()` (AVX2+FMA); `o` and `stage` as
                // above.
                return unsafe { one_group_avx2::<E>(spec, io, g, rows, sc, o, stage) };
            }
            // SAFETY: as for `one_group_avx2`, without the CPU features.
            unsafe { one_group::<4, 8, E, Portable>(spec, io, g, rows, sc, o, stage) };
        });
    };
    let n_tasks = ios.iter().map(chunks).sum::<usize>() * kv_heads;
    // Multiply-adds of the scores and the weighted values: below ~0.5M the fork-join
    // costs more than it saves.
    let work: usize =
        ios.iter().map(|io| io.n * (io.q0 + io.n)).sum::<usize>() * spec.n_heads * spec.head_dim;
    let max_n = ios.iter().map(|io| io.n).max().unwrap_or(0);
    let parts_forced = parts.is_some();
    let parts = match parts {
        Some(p) if max_n <= TILE => p,
        Some(_) => 1,
        None => attend_split::parts(pool::global().n_threads(), n_tasks, max_n, work),
    };
    if parts > 1 {
        // Every task is one tile of `TILE * rep` query vectors at most, each a score row
        // as long as its sequence's context.
        let stride = TILE * rep * ios.iter().map(|io| io.q0 + io.n).max().unwrap_or(0);
        let split = attend_split::with_rows(n_tasks * stride, parts_forced, |buf| {
            let at = SyncPtr(buf.as_mut_ptr());
            // Task t's score rows, `buf[t * stride..][..stride]`: a scores piece writes only
            // its own keys' columns of them, and the values pieces only read them, after
            // the first job has joined.
            let rows_of = |t: usize| {
                // The whole wrapper, not its raw field (closures capture fields).
                let base = at;
                // SAFETY: t < n_tasks, so the offset is inside `buf`.
                SyncPtr(unsafe { base.0.add(t * stride) })
            };
            // Piece i of the job: task i / parts, share i % parts; the scores job, then
            // the values job.
            let piece = |i: usize, scores: bool| {
                let (t, part, rows) = (i / parts, i % parts, rows_of(i / parts));
                let stage = if scores {
                    Stage::Scores { part, parts, rows }
                } else {
                    Stage::Values { part, parts, rows }
                };
                group(t, stage)
            };
            pool::global().run(n_tasks * parts, &|i| piece(i, true));
            pool::global().run(n_tasks * parts, &|i| piece(i, false));
        });
        if split.is_some() {
            return true;
        }
    }
    let task = |t: usize| group(t, Stage::Whole);
    if work < 1 << 19 {
        (0..n_tasks).for_each(task);
    } else {
        pool::global().run(n_tasks, &task);
    }
    false
}

/// [`one_group`] compiled for AVX2 (8-wide dot/axpy after inlining), up to four query vectors
/// per score tile; the same arithmetic per score, so the same results.
/// # Safety
/// AVX2 and FMA are available, and as [`one_group`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn one_group_avx2<E: KvFormat>(
    spec: &AttnSpec,
    io: &AttnIo,
    g: usize,
    rows: Range<usize>,
    sc: &mut [f32],
    out: SyncPtr,
    stage: Stage,
) {
    match tile_vectors(spec, &rows) {
        1 => one_group::<1, 16, E, Avx2>(spec, io, g, rows, sc, out, stage),
        2 => one_group::<2, 16, E, Avx2>(spec, io, g, rows, sc, out, stage),
        3 => one_group::<3, 16, E, Avx2>(spec, io, g, rows, sc, out, stage),
        _ => one_group::<4, 16, E, Avx2>(spec, io, g, rows, sc, out, stage),
    }
}

/// Query vectors in the first score tile of `rows` (positions times the query heads of a
/// KV head): a score pass narrower than the build's widest is taken where the tile has
/// fewer, so decode's few vectors are not padded with repeated ones (a one-position
/// tile of three heads wasted five of eight passes, then one of four), and a width that
/// divides the tile where one does (three heads: 12 vectors in two passes of six, not
/// 16 of eight). Every score is the same chain whatever the width.
fn tile_vectors(spec: &AttnSpec, rows: &Range<usize>) -> usize {
    rows.len().min(TILE) * (spec.n_heads / spec.n_kv_heads)
}

/// [`one_group`] compiled for AVX-512 (one register per query's 16 scores), up to eight query
/// vectors per score tile.
/// # Safety
/// AVX-512F, AVX2 and FMA are available, and as [`one_group`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn one_group_avx512<E: KvFormat>(
    spec: &AttnSpec,
    io: &AttnIo,
    g: usize,
    rows: Range<usize>,
    sc: &mut [f32],
    out: SyncPtr,
    stage: Stage,
) {
    match tile_vectors(spec, &rows) {
        1 => one_group::<1, 32, E, Avx512>(spec, io, g, rows, sc, out, stage),
        2 => one_group::<2, 32, E, Avx512>(spec, io, g, rows, sc, out, stage),
        3 => one_group::<3, 32, E, Avx512>(spec, io, g, rows, sc, out, stage),
        4 => one_group::<4, 32, E, Avx512>(spec, io, g, rows, sc, out, stage),
        6 | 12 => one_group::<6, 32, E, Avx512>(spec, io, g, rows, sc, out, stage),
        _ => one_group::<8, 32, E, Avx512>(spec, io, g, rows, sc, out, stage),
    }
}

/// Query positions whose scores are computed together: with the `rep` heads of a KV
/// head that makes `TILE * rep` query vectors against each key block.
pub(super) const TILE: usize = 4;

/// Query positions per task: a whole number of tiles, small enough that a 512-token
/// chunk of a one-KV-head model still makes 32 tasks.
const CHUNK: usize = 4 * TILE;

/// The query heads of KV head `g` over the queries `rows` of one sequence, [`TILE`]
/// positions at a time. A tile's query vectors (position-major, then head) take their
/// scores against each key block `M` at a time (`S`, [`AttnSimd`]): M independent
/// multiply-add chains instead of one. Vector `v`'s scores go to `sc[v * ctx..]`, then
/// its softmax, then its output `out[i, h*hd..(h+1)*hd]` gains the weighted values
/// (`attend_values`, `C` columns per register tile). `sc` holds `TILE * rep * (q0 + n)`
/// scores, then a block's values and keys in f32 (`BLOCK * hd` each, widened once per
/// tile), then the tile's query vectors transposed per pass (`(TILE * rep + M) * hd`).
/// Each score and each output value is the same chain whatever the tile, so tiling
/// changes no result. A split `stage` does a share of one tile's blocks or columns
/// (`attend_split.rs`), with the same arithmetic per score and per column.
/// # Safety
/// `g < n_kv_heads`, `rows.end <= io.n`; `out` points at `io.n * n_heads * head_dim`
/// writable values whose rows `rows` no one else reads or writes during the call, except
/// other KV heads' query columns (and, in a split, other pieces' columns). A split stage
/// has `rows.len() <= TILE` and its `rows` pointer holds `TILE * rep * (q0 + n)` values
/// whose keys this piece's share covers no other piece writes or reads meanwhile (scores),
/// or that every scores piece has written (values).
#[inline(always)]
unsafe fn one_group<const M: usize, const C: usize, E: KvFormat, S: AttnSimd>(
    spec: &AttnSpec,
    io: &AttnIo,
    g: usize,
    rows: Range<usize>,
    sc: &mut [f32],
    out: SyncPtr,
    stage: Stage,
) {
    let hd = spec.head_dim;
    let qw = spec.n_heads * hd;
    let rep = spec.n_heads / spec.n_kv_heads;
    let ctx = io.q0 + io.n;
    let (sc, vals) = sc.split_at_mut(TILE * rep * ctx);
    let (vals, keys) = vals.split_at_mut(BLOCK * hd);
    let (keys, qt) = keys.split_at_mut(BLOCK * hd);
    let mut i0 = rows.start;
    while i0 < rows.end {
        let i1 = (i0 + TILE).min(rows.end);
        let nv = (i1 - i0) * rep;
        // This call's output columns: a values piece takes a share of them, so that each
        // value row is read once between the pieces (a share of the query vectors instead
        // reads every row once per piece: Gemma-3 decode after 7k tokens, 2 threads,
        // 114 tok/s against 127 by columns and 105 unsplit).
        let (c0, c1) = match stage {
            Stage::Values { part, parts, .. } => Stage::share(part, parts, hd, 16),
            _ => (0, hd),
        };
        // Vector v's output row (`TileAt::out_at`): i < n and h < n_heads, so
        // `i * qw + h * hd + hd <= n * qw`, inside `out` by this function's contract; only
        // head h writes these columns.
        let tile = TileAt {
            q0: io.q0 + i0,
            nv,
            rep,
            ctx,
            window: spec.window,
            out,
            o_at: i0 * qw + g * rep * hd,
            qw,
            hd,
            c0,
            width: c1 - c0,
        };
        // Vector v: position i0 + v / rep, head g * rep + v % rep.
        let q = |v: usize| &io.q[(i0 + v / rep) * qw + (g * rep + v % rep) * hd..][..hd];
        let (b0, b1) = (tile.lo(tile.q0) / BLOCK, (io.q0 + i1 - 1) / BLOCK);
        // This call's share of the key blocks: none in a values piece, which reads the
        // scores the scores pieces left.
        let blocks = match stage {
            Stage::Whole => b0..b1 + 1,
            Stage::Scores { part, parts, .. } => {
                let (lo, hi) = Stage::share(part, parts, b1 + 1 - b0, 1);
                b0 + lo..b0 + hi
            }
            Stage::Values { rows: shared, .. } => {
                // SAFETY: every score row of the tile is written (this function's
                // contract) and `nv * ctx <= TILE * rep * ctx` values are readable.
                unsafe { std::ptr::copy_nonoverlapping(shared.0, sc.as_mut_ptr(), nv * ctx) };
                b0..b0
            }
        };
        // Each pass's M query vectors transposed, `[d][M]`, once per tile where it scores
        // any keys; a short last pass repeats its last vector (those scores are dropped).
        let passes = if blocks.is_empty() { 0 } else { nv.div_ceil(M) };
        for v in 0..passes * M {
            let at = (v / M) * hd * M + v % M;
            for (d, &x) in q(v.min(nv - 1)).iter().enumerate() {
                qt[at + d * M] = x;
            }
        }
        // Block by block: one table lookup per 16 positions, not per key. (Plain loops,
        // not closures over the rows: those would not be inlined into the SIMD builds.)
        for b in blocks.clone() {
            // f16 keys are widened in registers where one pass meets them (decode), else
            // into f32 once per tile for all passes, like the values below.
            let kb = E::keys(io.kv, io.layer, b, g, hd);
            let kh = if nv <= M { kb.halves() } else { None };
            if kh.is_some() && b + 1 < blocks.end {
                // Decode streams the cache: the next block is a page elsewhere, which the
                // hardware prefetcher does not see coming.
                prefetch(
                    E::keys(io.kv, io.layer, b + 1, g, hd)
                        .halves()
                        .unwrap_or(&[]),
                );
            }
            let kt: &[f32] = if kh.is_some() {
                &[]
            } else {
                kb.f32_cols(keys, hd)
            };
            let mut v0 = 0;
            while v0 < nv {
                let qp = &qt[v0 * hd..(v0 + M) * hd];
                // SAFETY: `S` is this build's pass (the caller checked its features).
                let d = unsafe {
                    match kh {
                        Some(h) => S::scores_halves::<M>(qp, h),
                        None => S::scores::<M>(qp, kt),
                    }
                };
                for (t, dt) in d.iter().enumerate().take(nv - v0) {
                    let v = v0 + t;
                    let p = tile.q0 + v / rep;
                    let lo = tile.lo(p);
                    let (j0, j1) = ((b * BLOCK).max(lo), (b * BLOCK + BLOCK).min(p + 1));
                    if j0 >= j1 {
                        continue; // this vector sees none of the block's keys
                    }
                    let row = &mut sc[v * ctx..(v + 1) * ctx];
                    let from = &dt[j0 - b * BLOCK..j1 - b * BLOCK];
                    scores_into(spec, from, &mut row[j0 - lo..j1 - lo]);
                    if let Some(slopes) = spec.alibi {
                        let m = slopes[g * rep + v % rep];
                        for j in j0..j1 {
                            row[j - lo] += m * j as f32;
                        }
                    }
                }
                v0 += M;
            }
        }
        if let Stage::Scores { rows: shared, .. } = stage {
            // SAFETY: this piece's keys of the tile's rows are its own (the contract).
            unsafe { share_scores(&tile, &blocks, sc, shared) };
            i0 = i1;
            continue;
        }
        for v in 0..nv {
            let p = tile.q0 + v / rep;
            let w = &mut sc[v * ctx..v * ctx + p + 1 - tile.lo(p)];
            softmax(w, spec.sinks.map(|s| s[g * rep + v % rep]));
            // SAFETY: as `out_at` says.
            unsafe { out_row(out, tile.out_at(v), tile.width) }.fill(0.0);
        }
        // Block by block, every vector of the tile: a block's value rows are read from
        // memory once per tile, not once per vector (at 8k positions a KV head's values
        // are megabytes), and once per four vectors from cache.
        for b in b0..=b1 {
            let vb = E::values(io.kv, io.layer, b, g, hd);
            // f16 values are widened in registers where one group meets them (decode),
            // else into f32 once per tile (not once per group).
            if nv <= 4 && b < b1 {
                if let Some((next, stride, at)) = E::values(io.kv, io.layer, b + 1, g, hd).halves()
                {
                    for l in 0..BLOCK {
                        let r = l * stride + at + c0;
                        prefetch(next.get(r..r + tile.width).unwrap_or(&[]));
                    }
                }
            }
            match vb.halves().filter(|_| nv <= 4) {
                // SAFETY: as `out_at` says; a group's vectors are distinct rows or heads.
                Some(rows) => unsafe { add_values::<C, S, u16>(rows, b, sc, &tile) },
                // SAFETY: as above.
                None => unsafe { add_values::<C, S, f32>(vb.f32_rows(vals, hd), b, sc, &tile) },
            }
        }
        i0 = i1;
    }
}

/// Where a tile's `nv` query vectors are: vector `v` is position `q0 + v / rep` of the
/// sequence and head `v % rep` of the KV head's group; its weights start at `v * ctx` in
/// the score rows and its output row at [`TileAt::out_at`].
struct TileAt {
    q0: usize,
    nv: usize,
    rep: usize,
    ctx: usize,
    window: Option<usize>,
    out: SyncPtr,
    o_at: usize,
    qw: usize,
    hd: usize,
    /// The output columns this call writes: `c0..c0 + width` of each head.
    c0: usize,
    width: usize,
}

impl TileAt {
    /// The first key position `p` sees (a sliding window's start, else 0).
    #[inline(always)]
    fn lo(&self, p: usize) -> usize {
        self.window.map_or(0, |w| (p + 1).saturating_sub(w))
    }

    /// Vector `v`'s output row (its first column this call writes), as an offset from
    /// `out`.
    #[inline(always)]
    fn out_at(&self, v: usize) -> usize {
        self.o_at + (v / self.rep) * self.qw + (v % self.rep) * self.hd + self.c0
    }
}

/// A scores piece's keys (`blocks`) of every score row of `tile`, from `sc` into the
/// shared rows.
/// # Safety
/// `shared` holds `tile.nv * tile.ctx` writable values, and no one else reads or writes
/// these keys' columns of them during the call.
#[inline(always)]
unsafe fn share_scores(tile: &TileAt, blocks: &Range<usize>, sc: &[f32], shared: SyncPtr) {
    for v in 0..tile.nv {
        let p = tile.q0 + v / tile.rep;
        let lo = tile.lo(p);
        let j0 = (blocks.start * BLOCK).max(lo);
        let j1 = (blocks.end * BLOCK).min(p + 1);
        if j0 < j1 {
            let at = v * tile.ctx + j0 - lo;
            let from = &sc[at..at + j1 - j0];
            std::ptr::copy_nonoverlapping(from.as_ptr(), shared.0.add(at), from.len());
        }
    }
}

/// Block `b`'s weighted value rows into the vectors of `tile` (weights in `sc`), four at
/// a time.
/// # Safety
/// As [`weighted_block`], for every vector's output row.
#[inline(always)]
unsafe fn add_values<const C: usize, S: AttnSimd, T: Elem>(
    rows: Rows<T>,
    b: usize,
    sc: &[f32],
    tile: &TileAt,
) {
    let (out, hd) = (tile.out, tile.width);
    let rows = (rows.0, rows.1, rows.2 + tile.c0);
    let io = Io {
        rows,
        b,
        sc,
        out,
        hd,
    };
    let mut v0 = 0;
    while v0 < tile.nv {
        let group = (tile.nv - v0).min(4);
        let mut vs = [Vector::default(); 4];
        for (t, vec) in vs.iter_mut().enumerate().take(group) {
            let v = v0 + t;
            let p = tile.q0 + v / tile.rep;
            *vec = Vector {
                w0: v * tile.ctx,
                lo: tile.lo(p),
                hi: p + 1,
                at: tile.out_at(v),
            };
        }
        match group {
            4 => weighted_block::<4, C, S, T>(io, &vs),
            3 => weighted_block::<3, C, S, T>(io, vs[..3].try_into().expect("3")),
            2 => weighted_block::<2, C, S, T>(io, vs[..2].try_into().expect("2")),
            _ => weighted_block::<1, C, S, T>(io, vs[..1].try_into().expect("1")),
        }
        v0 += group;
    }
}

/// Raw scores scaled, and soft-capped where the model caps: the choice made once per
/// block, so the plain scaling vectorizes.
#[inline(always)]
fn scores_into(spec: &AttnSpec, dots: &[f32], row: &mut [f32]) {
    match spec.softcap {
        Some(cap) => {
            for (r, &d) in row.iter_mut().zip(dots) {
                *r = (d * spec.scale / cap).tanh() * cap;
            }
        }
        None => {
            for (r, &d) in row.iter_mut().zip(dots) {
                *r = d * spec.scale;
            }
        }
    }
}

/// `q · k_t` for the [`BLOCK`] keys of a transposed block `kt` (`[hd][BLOCK]`): one
/// fused multiply-add per dimension and key, in dimension order (the same order with or
/// without SIMD, so the AVX2 build equals the portable one).
#[inline(always)]
pub(super) fn scores16(q: &[f32], kt: &[f32]) -> [f32; BLOCK] {
    // One vector transposed is itself.
    let [acc] = Portable::chains::<1>(q, |d, l| kt[d * BLOCK + l]);
    acc
}

/// `hd` output values at `at`.
/// # Safety
/// `out + at .. + hd` is writable and no other live reference covers it.
#[inline(always)]
unsafe fn out_row<'o>(out: SyncPtr, at: usize, hd: usize) -> &'o mut [f32] {
    std::slice::from_raw_parts_mut(out.0.add(at), hd)
}
