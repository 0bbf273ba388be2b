//! The matmul driver: quantize activations once, split weight rows across the pool,
//! and reuse each weight row (in L1) against every activation row (in L2).
//!
//! Reference: ggml-cpu `ggml_compute_forward_mul_mat` (src1 converted to the
//! `vec_dot_type` once, rows of src0 chunked over threads).

use super::act::{quantize_row_q8, quantize_row_q8k, Q8Block, Q8KBlock};
use super::dispatch::{dequantizer, kernel, Dequant, KDot, Kernel, Q8Dot, Q8Dot4};
use super::float::dot_f32;
use super::int8_panel::{Panel, PanelKernel};
use super::int8_vnni::{Tile, TileOut, W_ROWS, X_ROWS};
use super::int8_wide::{self, WideKernel, WidePanel, WIDE};
use super::k_avx2::KRow;
use super::k_quants::{unpack_row, Unpack};
use super::k_wide::{self, KPanel, KWide};
use super::QMatrix;
use crate::kernels::pool::Pool;
use crate::kernels::prefetch::prefetch;

/// The output buffer shared by tasks that write disjoint elements.
pub(super) struct OutPtr {
    ptr: *mut f32,
    /// Length of the buffer, for the debug-build bound check in [`OutPtr::write`].
    len: usize,
}
// SAFETY: tasks only write through `write`, whose contract makes every element written
// by one task alone; the pool joins every task before the `&mut` buffer is used again.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// Borrows `out` for the tasks; the caller keeps `out` unused until they are joined.
    pub(super) fn new(out: &mut [f32]) -> Self {
        Self {
            ptr: out.as_mut_ptr(),
            len: out.len(),
        }
    }

    /// # Safety
    /// `at < len` and no other task writes element `at`.
    #[inline(always)]
    unsafe fn write(&self, at: usize, v: f32) {
        debug_assert!(at < self.len, "output index {at} out of {}", self.len);
        *self.ptr.add(at) = v;
    }
}

/// Rows per task: about four tasks per thread, for balance when a core is busy; a
/// multiple of `group`, the kernel's group of weight rows.
fn rows_per_task(rows: usize, threads: usize, group: usize) -> usize {
    rows.div_ceil(threads * 4)
        .next_multiple_of(group)
        .max(group)
}

/// From this many activation rows on (prefill), they are quantized on the pool: on the
/// caller alone, the other threads waited through it before every matmul.
const PAR_ROWS: usize = 8;

/// Quantize every row of `x` (`n` rows of `cols`) with `f` into `all` (cleared first),
/// concatenated; `row` is the scratch each row is quantized into.
fn quantize_into<B: Clone + Default + Send>(
    x: &[f32],
    cols: usize,
    f: fn(&[f32], &mut Vec<B>),
    all: &mut Vec<B>,
    row: &mut Vec<B>,
    pool: &Pool,
) {
    all.clear();
    let n = x.len() / cols.max(1);
    if n < PAR_ROWS || pool.n_threads() == 1 {
        for xr in x.chunks_exact(cols) {
            f(xr, row);
            all.extend_from_slice(row);
        }
        return;
    }
    // The first row on the caller, which also tells the blocks per row.
    f(&x[..cols], row);
    let (nb, first) = (row.len().max(1), &*row);
    all.resize(n * nb, B::default());
    all[..first.len()].clone_from_slice(first);
    let per_task = n.div_ceil(4 * pool.n_threads());
    pool.run_chunks(all, per_task * nb, &|t, chunk| {
        let mut scratch = Vec::with_capacity(nb);
        for (k, dst) in chunk.chunks_exact_mut(nb).enumerate() {
            let i = t * per_task + k;
            if i > 0 {
                f(&x[i * cols..(i + 1) * cols], &mut scratch);
                dst.clone_from_slice(&scratch);
            }
        }
    });
}

/// Quantize every row of `x` (`n` rows of `cols`) with `f`, concatenated.
pub(super) fn quantize_rows<B: Clone + Default + Send>(
    x: &[f32],
    cols: usize,
    f: fn(&[f32], &mut Vec<B>),
) -> Vec<B> {
    let (mut all, mut row) = (Vec::new(), Vec::new());
    let pool = crate::kernels::pool::global();
    quantize_into(x, cols, f, &mut all, &mut row, pool);
    all
}

/// A thread's activation blocks and its one-row scratch, reused call after call (no
/// allocation per token once they have grown).
type Scratch<B> = std::cell::RefCell<(Vec<B>, Vec<B>)>;

/// What every task needs: the weights, the output and the row split.
pub(super) struct Job<'a> {
    pub(super) w: &'a [u8],
    pub(super) row_bytes: usize,
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) n: usize,
    pub(super) per_task: usize,
    pub(super) out: OutPtr,
}

impl Job<'_> {
    pub(super) fn task_rows(&self, t: usize) -> std::ops::Range<usize> {
        (t * self.per_task)..((t + 1) * self.per_task).min(self.rows)
    }
    pub(super) fn w_row(&self, r: usize) -> &[u8] {
        &self.w[r * self.row_bytes..(r + 1) * self.row_bytes]
    }
    /// # Safety
    /// `i < n`, and `r` is in the calling task's [`Job::task_rows`] (so `r < rows` and no
    /// other task writes `(i, r)`); `out` holds `n * rows` values (checked by
    /// `QMatrix::matmul_opts`), so `i * rows + r` is in bounds.
    pub(super) unsafe fn put(&self, i: usize, r: usize, v: f32) {
        debug_assert!(i < self.n && r < self.rows);
        self.out.write(i * self.rows + r, v)
    }
    /// A group's outputs: `v[q][c]` for activation row `i0 + q` (`q < m`) and weight
    /// row `r0 + c` (`c < cols`).
    /// # Safety
    /// `i0 + m <= n`, `m <= v.len()`, `cols <= C`, and rows `r0..r0 + cols` are in the
    /// calling task's [`Job::task_rows`] (as [`Job::put`]).
    pub(super) unsafe fn put_group<const C: usize>(
        &self,
        (i0, r0): (usize, usize),
        v: &[[f32; C]],
        m: usize,
        cols: usize,
    ) {
        for (q, vq) in v.iter().enumerate().take(m) {
            for (c, &vc) in vq.iter().enumerate().take(cols) {
                // SAFETY: by this function's contract, as `put`'s.
                unsafe { self.put(i0 + q, r0 + c, vc) };
            }
        }
    }
}

/// `out[n, rows] = x[n, cols] · Wᵀ`; shapes were checked by the caller.
pub(crate) fn run(m: &QMatrix, x: &[f32], out: &mut [f32], simd: bool, pool: &Pool) {
    let (rows, cols) = (m.rows(), m.cols());
    let Some(kernel) = kernel(m.ggml_type(), simd) else {
        return;
    };
    let n = x.len() / cols;
    let kernel = match kernel {
        // Rows too far apart for the wide kernels' gathers: the row kernels.
        Kernel::Q8 {
            dot,
            dot4,
            wide: Some(_),
            ..
        } if !int8_wide::fits(m.row_bytes()) => Kernel::Q8 {
            dot,
            dot4,
            tile: None,
            panel: None,
            wide: None,
        },
        k => k,
    };
    let k_wide = match kernel {
        Kernel::Q8K { wide, .. } => wide.filter(|_| n >= k_wide::PANEL_FROM),
        _ => None,
    };
    let group = match kernel {
        Kernel::Q8 { wide: Some(_), .. } => WIDE,
        _ if k_wide.is_some() => k_wide::WIDE,
        _ => W_ROWS,
    };
    let per_task = rows_per_task(rows, pool.n_threads(), group);
    let job = Job {
        w: m.bytes(),
        row_bytes: m.row_bytes(),
        rows,
        cols,
        n,
        per_task,
        out: OutPtr::new(out),
    };
    let n_tasks = rows.div_ceil(per_task);
    match kernel {
        Kernel::Q8 { wide: Some(k), .. } => run_wide(&job, x, k, n_tasks, pool),
        Kernel::Q8 {
            dot,
            dot4,
            tile,
            panel,
            wide: None,
        } => {
            // The panels for prefill only: decode's one row would not repay the decoding.
            let panel = panel.filter(|_| job.n > X_ROWS && panels_on());
            if tile.is_some() || panel.is_some() {
                run_q8_groups(&job, x, dot, (tile, panel), n_tasks, pool)
            } else {
                run_q8(&job, x, dot, dot4, n_tasks, pool)
            }
        }
        Kernel::Q8K {
            unpack, dot, row, ..
        } => match (k_wide, row) {
            (Some(k), _) => run_k_wide(&job, x, k, n_tasks, pool),
            (None, Some(row)) => run_k_rows(&job, x, row, n_tasks, pool),
            (None, None) => run_q8k(&job, x, unpack, dot, n_tasks, pool),
        },
        Kernel::Float => {
            if let Some(deq) = dequantizer(m.ggml_type()) {
                run_float(&job, x, deq, n_tasks, pool)
            }
        }
    }
}

fn run_q8(job: &Job<'_>, x: &[f32], dot: Q8Dot, dot4: Option<Q8Dot4>, n_tasks: usize, pool: &Pool) {
    let acts = quantize_rows::<Q8Block>(x, job.cols, quantize_row_q8);
    let nb = job.cols / 32;
    let act = |i: usize| &acts[i * nb..(i + 1) * nb];
    // Four activation rows per tile where a tile kernel exists.
    let tiled = if dot4.is_some() { job.n / 4 * 4 } else { 0 };
    pool.run(n_tasks, &|t| {
        for r in job.task_rows(t) {
            let wr = job.w_row(r);
            if let Some(dot4) = dot4 {
                for i in (0..tiled).step_by(4) {
                    // SAFETY: `dot4` is an AVX2 kernel only where `kernel()` saw
                    // `avx2_available()`; it reads at most min(blocks of `wr`, `nb`)
                    // blocks of each row, so lengths cannot overrun.
                    let v = unsafe { dot4(wr, [act(i), act(i + 1), act(i + 2), act(i + 3)]) };
                    for (k, v) in v.into_iter().enumerate() {
                        // SAFETY: i + k < tiled <= n; r is in this task's rows.
                        unsafe { job.put(i + k, r, v) };
                    }
                }
            }
            for i in tiled..job.n {
                // SAFETY: `dot` is scalar or AVX2 after `avx2_available()` (as `dot4`);
                // i < n and r is in this task's rows.
                unsafe { job.put(i, r, dot(wr, act(i))) };
            }
        }
    });
}

thread_local! {
    /// The activation rows' Q8 blocks.
    static ACTS: Scratch<Q8Block> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// How many groups of weight rows ahead of the wide kernels the prefetch runs: the
/// memory latency is longer than one group's compute on a small model's rows.
const PREFETCH_GROUPS: usize = 2;
/// The same for the four-row tiles (Q8_0), whose groups are a quarter of the wide
/// kernels': asked for a part per block as the tile before runs, four groups ahead
/// keeps the requests a group's time early. Gemma-3 decode (its 178 MB Q8_0 LM head),
/// 1 thread, median of 5: 38.2 tok/s with the group asked for at once, 40.0 spread
/// (AVX-512 VNNI); 31.3 and 35.2 on the AVX2 kernels; with no prefetch 22.7.
const TILE_AHEAD: usize = 4;

/// How a group of [`W_ROWS`] consecutive weight rows meets the activation rows: `load`
/// once per group, then `dot` for every [`X_ROWS`] activation rows at a time.
trait Group {
    /// # Safety
    /// The kernel's CPU check passed; `w` holds `W_ROWS` whole rows of `rb` bytes and
    /// outlives the `dot`s that follow.
    unsafe fn load<'a>(&mut self, w: &'a [u8], rb: usize) -> Loaded<'a>;
    /// `xs` are the activation rows from `i0` on.
    /// # Safety
    /// After a `load` of `g`; each of the 1..=[`X_ROWS`] rows of `xs` has a block per
    /// weight block of a row.
    unsafe fn dot(&mut self, g: Loaded<'_>, i0: usize, xs: &[&[Q8Block]], out: &mut TileOut);
}

/// The group a [`Group::load`] took: its bytes and row stride.
#[derive(Clone, Copy)]
struct Loaded<'a> {
    w: &'a [u8],
    rb: usize,
    /// Rows a later group takes, for a tile to prefetch as it goes (decode).
    ahead: &'a [u8],
}

/// The tile kernel: every call reads the group's bytes as stored (decode, and prefill
/// on VNNI CPUs).
impl Group for Tile {
    /// # Safety
    /// As [`Group::load`].
    unsafe fn load<'a>(&mut self, w: &'a [u8], rb: usize) -> Loaded<'a> {
        Loaded { w, rb, ahead: &[] }
    }
    /// # Safety
    /// As [`Group::dot`]: the tile's own contract.
    unsafe fn dot(&mut self, g: Loaded<'_>, _: usize, xs: &[&[Q8Block]], out: &mut TileOut) {
        self((g.w, g.ahead), g.rb, xs, out)
    }
}

/// The prefill panel: the group decoded once into this thread's panel.
struct Panels<'p> {
    kernel: PanelKernel,
    panel: &'p mut Panel,
    nb: usize,
}

impl Group for Panels<'_> {
    /// # Safety
    /// As [`Group::load`]: `fill`'s own contract.
    unsafe fn load<'a>(&mut self, w: &'a [u8], rb: usize) -> Loaded<'a> {
        (self.kernel.fill)(w, rb, self.nb, self.panel);
        Loaded { w, rb, ahead: &[] }
    }
    /// # Safety
    /// As [`Group::dot`]: the panel was filled by the same type's `fill`.
    unsafe fn dot(&mut self, _: Loaded<'_>, _: usize, xs: &[&[Q8Block]], out: &mut TileOut) {
        (self.kernel.dot)(self.panel, xs, out)
    }
}

/// Whether prefill takes the panels (`LINEAGE_PANELS=0` keeps the tiles; read once).
fn panels_on() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("LINEAGE_PANELS").map_or(true, |v| v != "0"))
}

thread_local! {
    /// The panel of the task running on this thread, reused call after call.
    static PANEL: std::cell::RefCell<Panel> = std::cell::RefCell::new(Panel::default());
}

/// Every full group of [`W_ROWS`] weight rows through `group` (the tile kernel, or the
/// prefill panels when `panel` is given) against up to [`X_ROWS`] activation rows at a
/// time (the group's weights stay in L1 while every activation row passes), in decode
/// [`TILE_AHEAD`] groups ahead prefetched; a task's leftover rows one by one. Every
/// output gets the bits `dot` gives it.
fn run_q8_groups(
    job: &Job<'_>,
    x: &[f32],
    dot: Q8Dot,
    (tile, panel): (Option<Tile>, Option<PanelKernel>),
    n_tasks: usize,
    pool: &Pool,
) {
    ACTS.with_borrow_mut(|(acts, row)| {
        quantize_into(x, job.cols, quantize_row_q8, acts, row, pool);
        let nb = job.cols / 32;
        let acts: &[Q8Block] = acts;
        pool.run(n_tasks, &|t| match (panel, tile) {
            (Some(kernel), _) => PANEL.with_borrow_mut(|panel| {
                let mut g = Panels { kernel, panel, nb };
                task_groups(job, t, dot, acts, &mut g)
            }),
            (None, Some(mut tile)) => task_groups(job, t, dot, acts, &mut tile),
            (None, None) => unreachable!("a group kernel was chosen"),
        });
    })
}

/// Task `t`'s rows of [`run_q8_groups`], against `acts` (every activation row's blocks).
fn task_groups(job: &Job<'_>, t: usize, dot: Q8Dot, acts: &[Q8Block], group: &mut impl Group) {
    let (rb, nb) = (job.row_bytes, job.cols / 32);
    let act = |i: usize| &acts[i * nb..(i + 1) * nb];
    let mut rows = job.task_rows(t);
    let mut v = [[0f32; W_ROWS]; X_ROWS];
    let mut xs: [&[Q8Block]; X_ROWS] = [&[]; X_ROWS];
    // Decode only: there a group's dots are shorter than its memory latency. In prefill
    // a group meets every activation row, the hardware prefetcher keeps up, and these
    // prefetches stalled on the line-fill buffers (5% of a Gemma-3 prefill).
    let decode = job.n <= X_ROWS;
    let ahead = |from: usize, groups: usize| {
        let (a, b) = (from.min(rows.end), (from + groups * W_ROWS).min(rows.end));
        if decode {
            prefetch(&job.w[a * rb..b * rb]);
        }
    };
    ahead(rows.start, TILE_AHEAD);
    while rows.len() >= W_ROWS {
        let r0 = rows.start;
        // SAFETY: the kernels are only handed out after their CPU check; the group is
        // W_ROWS whole rows of the matrix, which outlives this task.
        let mut g = unsafe { group.load(&job.w[r0 * rb..(r0 + W_ROWS) * rb], rb) };
        if decode {
            // Asked for a part per block as the tile runs (a panel ignores it).
            let a = (r0 + TILE_AHEAD * W_ROWS).min(rows.end);
            g.ahead = &job.w[a * rb..(a + W_ROWS).min(rows.end) * rb];
        }
        for i0 in (0..job.n).step_by(X_ROWS) {
            let m = X_ROWS.min(job.n - i0);
            for (q, slot) in xs.iter_mut().enumerate().take(m) {
                *slot = act(i0 + q);
            }
            // SAFETY: after the group's `load`; each of the m (1..=4) activation rows
            // has a block per weight block of a row.
            unsafe { group.dot(g, i0, &xs[..m], &mut v) };
            // SAFETY: i0 + m <= n; rows r0..r0 + W_ROWS are in this task's rows.
            unsafe { job.put_group((i0, r0), &v, m, W_ROWS) };
        }
        rows.start += W_ROWS;
    }
    for r in rows {
        for i in 0..job.n {
            // SAFETY: as in `run_q8`.
            unsafe { job.put(i, r, dot(job.w_row(r), act(i))) };
        }
    }
}

thread_local! {
    /// The wide kernels' panel of the task running on this thread, and every
    /// activation block's offset term, reused call after call.
    static WIDE_PANEL: std::cell::RefCell<WidePanel> = std::cell::RefCell::new(WidePanel::default());
    static OFFS: std::cell::RefCell<Vec<i32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The nibble formats on AVX2 and AVX-512 VNNI: groups of [`WIDE`] weight rows (the last
/// one short where the rows run out), each met by every activation row; in decode
/// straight from the weights, the group [`PREFETCH_GROUPS`] ahead prefetched a part per
/// block (spread so, decode ran 1.21x faster on VNNI and 1.25x on AVX2 than with the
/// group asked for at once: SmolLM2 Q4_1, 1 thread, median of 5), in prefill through
/// the thread's panel. Every output gets the block-sum numerics (int8_wide.rs).
fn run_wide(job: &Job<'_>, x: &[f32], k: WideKernel, n_tasks: usize, pool: &Pool) {
    ACTS.with_borrow_mut(|(acts, row)| {
        quantize_into(x, job.cols, quantize_row_q8, acts, row, pool);
        let acts: &[Q8Block] = acts;
        OFFS.with_borrow_mut(|offs| {
            match k.offset {
                Some(off) => int8_wide::offset_terms(acts, off, offs),
                None => offs.clear(),
            }
            let offs: &[i32] = offs;
            pool.run(n_tasks, &|t| {
                WIDE_PANEL.with_borrow_mut(|p| wide_task(job, t, k, (acts, offs), p))
            });
        })
    })
}

/// Task `t`'s rows of [`run_wide`].
fn wide_task(
    job: &Job<'_>,
    t: usize,
    k: WideKernel,
    (acts, offs): (&[Q8Block], &[i32]),
    panel: &mut WidePanel,
) {
    let (rb, nb) = (job.row_bytes, job.cols / 32);
    let rows = job.task_rows(t);
    let decode = job.n < int8_wide::PANEL_FROM;
    // Decode: the group PREFETCH_GROUPS ahead is asked for a part per block while
    // this one runs (the first ones at once).
    let group = |from: usize| {
        let (a, b) = (from.min(rows.end), (from + WIDE).min(rows.end));
        &job.w[a * rb..b * rb]
    };
    if decode {
        (0..PREFETCH_GROUPS).for_each(|g| prefetch(group(rows.start + g * WIDE)));
    }
    let mut v = [[0f32; WIDE]; int8_wide::X_MAX];
    let mut xs: [&[Q8Block]; int8_wide::X_MAX] = [&[]; int8_wide::X_MAX];
    let mut os: [&[i32]; int8_wide::X_MAX] = [&[]; int8_wide::X_MAX];
    for r0 in rows.clone().step_by(WIDE) {
        let valid = WIDE.min(rows.end - r0);
        let w = &job.w[r0 * rb..(r0 + valid) * rb];
        let mut ahead = group(r0 + PREFETCH_GROUPS * WIDE);
        if !decode {
            // SAFETY: `k` is only handed out after its CPU check; `w` is `valid` whole
            // rows of `nb` blocks.
            unsafe { (k.fill)(w, rb, valid, nb, panel) };
        }
        for i0 in (0..job.n).step_by(int8_wide::X_MAX) {
            let m = int8_wide::X_MAX.min(job.n - i0);
            for q in 0..m {
                xs[q] = &acts[(i0 + q) * nb..(i0 + q + 1) * nb];
                if k.offset.is_some() {
                    os[q] = &offs[(i0 + q) * nb..(i0 + q + 1) * nb];
                }
            }
            let os = if k.offset.is_some() { &os[..m] } else { &[] };
            // SAFETY: as the fill; each of the m activation rows has a block per weight
            // block (and its offset terms where the format has an offset); in decode
            // m < PANEL_FROM <= 4 + 1, the direct kernel's limit.
            unsafe {
                if decode {
                    (k.direct)(
                        (w, std::mem::take(&mut ahead)),
                        rb,
                        valid,
                        &xs[..m],
                        os,
                        &mut v,
                    )
                } else {
                    (k.dot)(panel, &xs[..m], os, &mut v)
                }
            };
            // SAFETY: i0 + m <= n; rows r0..r0 + valid are in this task's rows.
            unsafe { job.put_group((i0, r0), &v, m, valid) };
        }
    }
}

fn run_q8k(job: &Job<'_>, x: &[f32], unpack: Unpack, dot: KDot, n_tasks: usize, pool: &Pool) {
    let acts = quantize_rows::<Q8KBlock>(x, job.cols, quantize_row_q8k);
    let nb = job.cols / 256;
    pool.run(n_tasks, &|t| {
        let mut ks = Vec::with_capacity(nb);
        for r in job.task_rows(t) {
            // Unpacked once per weight row, reused for all n activation rows.
            unpack_row(unpack, job.row_bytes / nb.max(1), job.w_row(r), &mut ks);
            for i in 0..job.n {
                // SAFETY: `dot` is scalar or AVX2 after `avx2_available()`; it zips
                // the two block slices, so lengths cannot overrun; i < n and r is in
                // this task's rows.
                unsafe { job.put(i, r, dot(&ks, &acts[i * nb..(i + 1) * nb])) };
            }
        }
    });
}

thread_local! {
    /// The activation rows' Q8_K blocks.
    static ACTS_K: Scratch<Q8KBlock> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// K-quant rows straight from their bytes (no unpacking), each against every activation
/// row in one call (the kernel splits each super-block once for all of them); every
/// output the bits of [`run_q8k`]'s.
fn run_k_rows(job: &Job<'_>, x: &[f32], row: KRow, n_tasks: usize, pool: &Pool) {
    ACTS_K.with_borrow_mut(|(acts, one)| {
        quantize_into(x, job.cols, quantize_row_q8k, acts, one, pool);
        let nb = job.cols / 256;
        // Decode's one row without an allocation; prefill's rows in a Vec.
        let (mut few, many): ([&[Q8KBlock]; 4], Vec<&[Q8KBlock]>);
        let rows = acts.chunks_exact(nb.max(1)).take(job.n);
        let xs: &[&[Q8KBlock]] = if job.n <= 4 {
            few = [&[]; 4];
            few.iter_mut().zip(rows).for_each(|(f, r)| *f = r);
            &few[..job.n]
        } else {
            many = rows.collect();
            &many
        };
        pool.run(n_tasks, &|t| {
            let (mut few, mut many) = ([0f32; 4], Vec::new());
            let v: &mut [f32] = if job.n <= 4 {
                &mut few[..job.n]
            } else {
                many.resize(job.n, 0.0);
                &mut many
            };
            let rows = job.task_rows(t);
            for r in rows.clone() {
                if let Some(next) = (r + 1 < rows.end).then(|| job.w_row(r + 1)) {
                    prefetch(next);
                }
                // SAFETY: `row` is only handed out after its CPU check; it reads the
                // blocks the weight row and each activation row have.
                unsafe { row(job.w_row(r), xs, v) };
                for (i, &vi) in v.iter().enumerate() {
                    // SAFETY: i < n; r is in this task's rows.
                    unsafe { job.put(i, r, vi) };
                }
            }
        });
    })
}

thread_local! {
    /// The K-quant panel of the task running on this thread, reused call after call.
    static K_PANEL: std::cell::RefCell<KPanel> = std::cell::RefCell::new(KPanel::default());
}

/// K-quant prefill on AVX-512 VNNI: groups of [`k_wide::WIDE`] weight rows (the last
/// one short where the rows run out) decoded into the thread's panel, each met by every
/// activation row; every output the bits of [`run_k_rows`]'s.
fn run_k_wide(job: &Job<'_>, x: &[f32], k: KWide, n_tasks: usize, pool: &Pool) {
    ACTS_K.with_borrow_mut(|(acts, one)| {
        quantize_into(x, job.cols, quantize_row_q8k, acts, one, pool);
        let (rb, nb) = (job.row_bytes, job.cols / 256);
        let acts: &[Q8KBlock] = acts;
        pool.run(n_tasks, &|t| {
            K_PANEL.with_borrow_mut(|panel| {
                let rows = job.task_rows(t);
                let mut v = [[0f32; k_wide::WIDE]; k_wide::X_MAX];
                let mut xs: [&[Q8KBlock]; k_wide::X_MAX] = [&[]; k_wide::X_MAX];
                for r0 in rows.clone().step_by(k_wide::WIDE) {
                    let valid = k_wide::WIDE.min(rows.end - r0);
                    // SAFETY: `k` is only handed out after its CPU check; the group is
                    // `valid` whole rows of `nb` super-blocks.
                    unsafe { (k.fill)(&job.w[r0 * rb..(r0 + valid) * rb], rb, valid, nb, panel) };
                    for i0 in (0..job.n).step_by(k_wide::X_MAX) {
                        let m = k_wide::X_MAX.min(job.n - i0);
                        for (q, slot) in xs.iter_mut().enumerate().take(m) {
                            *slot = &acts[(i0 + q) * nb..(i0 + q + 1) * nb];
                        }
                        // SAFETY: as the fill; each of the m rows has the panel's blocks.
                        unsafe { (k.dot)(panel, &xs[..m], &mut v) };
                        // SAFETY: i0 + m <= n; rows r0..r0 + valid are this task's.
                        unsafe { job.put_group((i0, r0), &v, m, valid) };
                    }
                }
            })
        });
    })
}

fn run_float(job: &Job<'_>, x: &[f32], deq: Dequant, n_tasks: usize, pool: &Pool) {
    pool.run(n_tasks, &|t| {
        let mut wf = vec![0f32; job.cols];
        for r in job.task_rows(t) {
            deq(job.w_row(r), &mut wf);
            for (i, xr) in x.chunks_exact(job.cols).enumerate() {
                // SAFETY: i < n (chunks of `cols` in `n * cols`); r is in this task's rows.
                unsafe { job.put(i, r, dot_f32(&wf, xr)) };
            }
        }
    });
}
