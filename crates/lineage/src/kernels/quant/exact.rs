//! The exact-activation matmul: f32 activations times weights dequantized block by
//! block on the fly, never the whole matrix. Decode (n <= 3) dequantizes each block
//! into registers and feeds FMAs against every activation row; prefill dequantizes a
//! panel of 4 weight rows once into a small buffer and runs a 4 x 3 register-blocked
//! f32 micro-kernel over all activation rows, so the dequantization is amortised and
//! the inner loop is loads and FMAs only.
//!
//! The result is "dequantize, then f32 matmul" up to f32 summation order: no
//! activation rounding (unlike [`super::matmul`], which mirrors llama.cpp's 8-bit
//! activations).
//!
//! Batch invariance: every path sums one output in the same order (the AVX2 order:
//! 8-wide groups dealt round-robin to 4 FMA chains, joined `((a0 + a1) + a2) + a3`, then
//! [`hsum_ps`](super::simd::x86::hsum_ps); the scalar build: `dot_f32` everywhere). So
//! an activation row gets bit-identical outputs whatever other rows share the call, and
//! the decode kernels, the prefill panels and the batched decode of a server agree. Reference: the panel/micro-kernel split of BLIS and of llamafile's
//! `tinyBLAS` (sgemm.cpp), with the dequantization folded into the panel packing.

use super::dispatch::dequantizer;
use super::float::dot_f32;
use super::matmul::{Job, OutPtr};
use super::simd::avx2_available;
use super::types::GgmlType;
use super::QMatrix;
use crate::kernels::pool::Pool;
use crate::kernels::prefetch::prefetch;

/// Up to this many activation rows share one register pass over the weights (decode).
pub(crate) const DECODE_MAX_ROWS: usize = 3;
/// Weight rows per prefill panel: the micro-kernel's height.
pub(super) const PANEL: usize = 4;
/// Activation rows per micro-kernel tile (4 x 3 = 12 accumulators + 4 weight vectors
/// fill the 16 AVX2 registers).
pub(super) const TILE: usize = 3;
/// Activation bytes per prefill block: a block stays in L2 (512 KiB here) while every
/// panel of the task streams past it; panels are dequantized again per block.
const X_BLOCK_BYTES: usize = 192 * 1024;

/// Row of weight blocks · up to [`DECODE_MAX_ROWS`] activation rows -> `out[..xs.len()]`.
/// # Safety
/// The CPU has the features the kernel was picked for (AVX2+FMA+F16C, see [`kernels`]);
/// `w` is whole blocks, `xs` holds 1..=3 rows each at least as long as `w`'s values, and
/// `out` has a slot per row.
pub(crate) type RowDot = unsafe fn(&[u8], &[&[f32]], &mut [f32]);
/// Weight rows a [`RowsDot`] takes at once.
pub(crate) const ROWS: usize = PANEL;
/// [`ROWS`] consecutive weight rows (`w`, each `row_bytes` of whole blocks) · one
/// activation row -> `out[..ROWS]`, each output the bits [`RowDot`] gives it.
/// # Safety
/// The CPU has the features the kernel was picked for; `w` holds `ROWS * row_bytes`
/// bytes, `x` at least a row's values, `out` [`ROWS`] slots.
pub(crate) type RowsDot = unsafe fn(&[u8], usize, &[f32], &mut [f32]);
/// Whole blocks of one weight row -> f32.
/// # Safety
/// The CPU has the features the kernel was picked for (see [`kernels`]). Lengths are no
/// safety condition (the kernels stop at the shorter of `w`'s blocks and `out`'s
/// values); debug builds assert that they match.
pub(crate) type RowDeq = unsafe fn(&[u8], &mut [f32]);

struct Kernels {
    /// Register dequant-dot for decode; `None`: dequantize the row, then f32 dots.
    dot: Option<RowDot>,
    /// The same for [`ROWS`] rows and one activation row, where there is one.
    dots: Option<RowsDot>,
    deq: RowDeq,
    /// AVX2 micro-kernel for the panels.
    simd: bool,
}

fn kernels(ty: GgmlType, simd: bool) -> Option<Kernels> {
    let deq = dequantizer(ty)?;
    let simd = simd && avx2_available();
    let mut k = Kernels {
        dot: None,
        dots: None,
        deq,
        simd,
    };
    if simd {
        if let Some((dot, deq)) = avx2::for_type(ty) {
            (k.dot, k.deq, k.dots) = (Some(dot), deq, avx2::rows_dot(ty));
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(deq) = super::exact_avx512::row_dequantizer(ty) {
            k.deq = deq;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(dot) = super::exact_avx512::row_dot(ty) {
            // Only AVX-512's own rows kernel with it: the AVX2 one pairs rows but runs
            // half-width, slower than AVX-512 one row at a time on the K-quants.
            (k.dot, k.dots) = (Some(dot), super::exact_avx512::rows_dot(ty));
        }
    }
    Some(k)
}

/// The AVX2 row dequantizer of `ty`, where the type and this CPU have one: the property
/// tests compare it with the scalar [`dequantizer`] bit for bit.
#[cfg(test)]
pub(crate) fn simd_dequantizer(ty: GgmlType) -> Option<RowDeq> {
    kernels(ty, true).filter(|k| k.dot.is_some()).map(|k| k.deq)
}

/// `out[n, rows] = x[n, cols] · Wᵀ` with f32 activations; shapes were checked by the caller.
pub(crate) fn run(m: &QMatrix, x: &[f32], out: &mut [f32], simd: bool, pool: &Pool) {
    let Some(k) = kernels(m.ggml_type(), simd) else {
        return;
    };
    if x.is_empty() {
        // No activation rows: nothing to write (and the decode kernels need >= 1 row).
        return;
    }
    let rows = m.rows();
    // A multiple of the panel height, about four tasks per thread (never 0: rows = 0
    // would divide by it below).
    let per_task = rows
        .div_ceil(pool.n_threads() * 4)
        .next_multiple_of(PANEL)
        .max(PANEL);
    let job = Job {
        w: m.bytes(),
        row_bytes: m.row_bytes(),
        rows,
        cols: m.cols(),
        n: x.len() / m.cols(),
        per_task,
        out: OutPtr::new(out),
    };
    let n_tasks = rows.div_ceil(per_task);
    if job.n <= DECODE_MAX_ROWS {
        run_decode(&job, x, &k, n_tasks, pool)
    } else {
        run_panels(&job, x, &k, n_tasks, pool)
    }
}

fn run_decode(job: &Job<'_>, x: &[f32], k: &Kernels, n_tasks: usize, pool: &Pool) {
    // A fixed array, not a Vec: this runs for every matmul of every decoded token.
    let mut rows_buf: [&[f32]; DECODE_MAX_ROWS] = [&[]; DECODE_MAX_ROWS];
    for (slot, xr) in rows_buf.iter_mut().zip(x.chunks_exact(job.cols)) {
        *slot = xr;
    }
    let xs = &rows_buf[..job.n];
    pool.run(n_tasks, &|t| {
        let mut wf = Vec::new();
        let mut v = [0f32; DECODE_MAX_ROWS];
        let mut rows = job.task_rows(t);
        if let (Some(dots), 1) = (k.dots, job.n) {
            let mut vs = [0f32; ROWS];
            while rows.len() >= ROWS {
                let (r0, rb) = (rows.start, job.row_bytes);
                // The next group's bytes start arriving while this one runs: four rows
                // read side by side are no longer one stream the CPU's prefetcher follows.
                let next = (r0 + ROWS).min(rows.end)..(r0 + 2 * ROWS).min(rows.end);
                prefetch(&job.w[next.start * rb..next.end * rb]);
                // SAFETY: `dots` is only set after the CPU check; ROWS whole-block rows of
                // `cols` values, `xs[0]` has `cols`, `vs` ROWS slots.
                unsafe { dots(&job.w[r0 * rb..(r0 + ROWS) * rb], rb, xs[0], &mut vs) };
                for (i, &vi) in vs.iter().enumerate() {
                    // SAFETY: row `r0 + i` is in this task's disjoint row range.
                    unsafe { job.put(0, r0 + i, vi) };
                }
                rows.start += ROWS;
            }
        }
        for r in rows {
            let wr = job.w_row(r);
            match k.dot {
                // SAFETY: `dot` is only set by `kernels` after `avx2_available()`; `wr` is
                // one row of whole blocks (`cols` values), `xs` has `n` in 1..=3 rows of
                // `cols` (`run` returned on n = 0) and `v` has 3 slots.
                Some(dot) => unsafe { dot(wr, xs, &mut v) },
                None => {
                    wf.resize(job.cols, 0.0);
                    // SAFETY: the scalar dequantizer, or an AVX2 one that `kernels` picked
                    // after `avx2_available()`; it writes at most `wf.len()` values.
                    unsafe { (k.deq)(wr, &mut wf) };
                    for (vi, xr) in v.iter_mut().zip(xs) {
                        *vi = dot_dequantized(k.simd, &wf, xr);
                    }
                }
            }
            for (i, &vi) in v.iter().enumerate().take(job.n) {
                // SAFETY: i < n and r is in this task's disjoint row range.
                unsafe { job.put(i, r, vi) };
            }
        }
    });
}

fn run_panels(job: &Job<'_>, x: &[f32], k: &Kernels, n_tasks: usize, pool: &Pool) {
    let cols = job.cols;
    let block = (X_BLOCK_BYTES / (4 * cols)).max(TILE) / TILE * TILE;
    pool.run(n_tasks, &|t| {
        // 64-byte aligned: the AVX-512 tile's loads never split a cache line.
        let mut panel = crate::kernels::aligned::AlignedF32::new(PANEL * cols);
        let rows = job.task_rows(t);
        for i0 in (0..job.n).step_by(block) {
            let i1 = (i0 + block).min(job.n);
            for r0 in rows.clone().step_by(PANEL) {
                let h = PANEL.min(rows.end - r0);
                for (p, dst) in panel.chunks_exact_mut(cols).enumerate() {
                    match p < h {
                        // SAFETY: as in `run_decode`; `dst` is one `cols`-wide panel row.
                        true => unsafe { (k.deq)(job.w_row(r0 + p), dst) },
                        false => dst.fill(0.0),
                    }
                }
                // The next panel's weights come from memory while this one's tiles run
                // (the tiles are compute-bound, the dequantization waits on memory).
                let next = (r0 + PANEL).min(rows.end)..(r0 + 2 * PANEL).min(rows.end);
                prefetch(&job.w[next.start * job.row_bytes..next.end * job.row_bytes]);
                let mut i = i0;
                while i < i1 {
                    let m = tile_rows(i1 - i);
                    let acc = tile(k.simd, &panel, &x[i * cols..(i + m) * cols], cols);
                    for (p, accp) in acc.iter().enumerate().take(h) {
                        for (q, &v) in accp.iter().enumerate().take(m) {
                            // SAFETY: i + q < i1 <= n, and r0 + p < rows.end (p < h) is in
                            // this task's disjoint row range.
                            unsafe { job.put(i + q, r0 + p, v) };
                        }
                    }
                    i += m;
                }
            }
        }
    });
}

/// Rows of the next tile when `left` remain: 3, except that a remainder of 1 is avoided
/// (4 left -> 2 + 2), since a 1-row tile loads a weight vector per FMA. Any split gives
/// the same numbers (each output's sum order does not depend on the tile).
fn tile_rows(left: usize) -> usize {
    match left {
        4 => 2,
        l => TILE.min(l),
    }
}

/// A dequantized row · an activation row in the module's one summation order.
fn dot_dequantized(simd: bool, w: &[f32], x: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is only set by `kernels` after `avx2_available()`; the kernel
        // reads the shorter length of the two slices.
        return unsafe { avx2::dot_chains(w, x) };
    }
    let _ = simd;
    dot_f32(w, x)
}

/// `acc[p][q] = panel row p · x row q` for the `x.len() / cols <= TILE` rows of `x`.
fn tile(simd: bool, panel: &[f32], x: &[f32], cols: usize) -> [[f32; TILE]; PANEL] {
    // The AVX2 micro-kernel reads PANEL x cols and m x cols values unchecked: one compare
    // per tile (12 * cols FMAs) keeps this safe function sound for any slices.
    let m = x.len() / cols;
    assert!(panel.len() >= PANEL * cols && (1..=TILE).contains(&m));
    #[cfg(target_arch = "x86_64")]
    if simd && super::exact_avx512::available() {
        // SAFETY: `simd` implies `avx2_available()`, `available()` checked AVX-512F; the
        // assert above gives the lengths the kernel reads.
        return unsafe {
            match m {
                3 => super::exact_avx512::tile::<3>(panel, x, cols),
                2 => super::exact_avx512::tile::<2>(panel, x, cols),
                _ => super::exact_avx512::tile::<1>(panel, x, cols),
            }
        };
    }
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is only set by `kernels` after `avx2_available()`; the assert
        // above gives `panel.len() >= PANEL * cols` and `x.len() >= M * cols` for the
        // `M = m` chosen below.
        return unsafe {
            match m {
                3 => avx2::tile::<3>(panel, x, cols),
                2 => avx2::tile::<2>(panel, x, cols),
                _ => avx2::tile::<1>(panel, x, cols),
            }
        };
    }
    let _ = simd;
    let mut acc = [[0f32; TILE]; PANEL];
    for (p, wr) in panel.chunks_exact(cols).enumerate() {
        for (q, xr) in x.chunks_exact(cols).enumerate() {
            acc[p][q] = dot_f32(wr, xr);
        }
    }
    acc
}

#[cfg(not(target_arch = "x86_64"))]
mod avx2 {
    pub(super) fn for_type(_: super::GgmlType) -> Option<(super::RowDot, super::RowDeq)> {
        None
    }

    pub(super) fn rows_dot(_: super::GgmlType) -> Option<super::RowsDot> {
        None
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::super::deq_avx2::{self as d, load_ps, Deq};
    use super::super::simd::x86::hsum_ps;
    use super::{GgmlType, RowDeq, RowDot, RowsDot, PANEL, ROWS, TILE};

    /// FMA chains per output: enough to hide FMA latency at n = 1, and the one order
    /// every kernel here sums in.
    const CHAINS: usize = 4;

    /// The chains of one output joined in the fixed order, then summed across lanes.
    /// # Safety
    /// AVX2 and FMA are available (register-only otherwise).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn join(acc: [__m256; CHAINS]) -> f32 {
        let s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), acc[2]), acc[3]);
        hsum_ps(s)
    }

    /// `w · x` over their shorter length: 8-wide group `g` goes to chain `g % 4` (as in
    /// `dot_rows`), the last `len % 8` values are added one by one (as in `tile`).
    /// # Safety
    /// AVX2 and FMA are available. Any lengths: loads stay below the shorter one.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_chains(w: &[f32], x: &[f32]) -> f32 {
        let n = w.len().min(x.len());
        let (wp, xp, groups) = (w.as_ptr(), x.as_ptr(), n / 8);
        let mut acc = [_mm256_setzero_ps(); CHAINS];
        for g in 0..groups {
            let (wv, xv) = (
                load_ps(wp.wrapping_add(8 * g)),
                load_ps(xp.wrapping_add(8 * g)),
            );
            acc[g % CHAINS] = _mm256_fmadd_ps(wv, xv, acc[g % CHAINS]);
        }
        let mut s = join(acc);
        for c in groups * 8..n {
            s += w[c] * x[c];
        }
        s
    }

    // Pointer arithmetic here is `wrapping_add`: every offset stays inside the slices
    // (sizes checked by the callers), and unlike `add` it carries no debug-build
    // precondition check, which in `opt-level = 3` dev builds split the FMA chains.

    pub(super) fn for_type(ty: GgmlType) -> Option<(RowDot, RowDeq)> {
        fn pair<T: Deq>() -> (RowDot, RowDeq) {
            (dot_any::<T>, deq_row::<T>)
        }
        Some(match ty {
            GgmlType::Q4_0 => pair::<d::Q4_0>(),
            GgmlType::Q4_1 => pair::<d::Q4_1>(),
            GgmlType::Q5_0 => pair::<d::Q5_0>(),
            GgmlType::Q5_1 => pair::<d::Q5_1>(),
            GgmlType::Q8_0 => pair::<d::Q8_0>(),
            GgmlType::Q4_K => pair::<d::Q4K>(),
            GgmlType::Q6_K => pair::<d::Q6K>(),
            _ => return None,
        })
    }

    /// One weight row against `N` activation rows with `A` accumulators each (so that
    /// FMA latency, not the chain, bounds n = 1); each group of 8 weights is
    /// dequantized once into a register and used `N` times.
    /// # Safety
    /// AVX2, FMA and F16C are available; `w` is whole `T` blocks, `xs` has `N` rows of at
    /// least `w`'s `nb * VALS` values, `out` has `N` slots. Then block `j` is
    /// `w[j * BYTES..][..BYTES]` and every `load_ps` reads `xs[k][j * VALS + 8 g..][..8]`
    /// with `g < VALS / 8`: all in bounds.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot_rows<T: Deq, const N: usize, const A: usize>(
        w: &[u8],
        xs: &[&[f32]],
        out: &mut [f32],
    ) {
        let nb = w.len() / T::BYTES;
        debug_assert!(w.len() % T::BYTES == 0 && (T::VALS / 8) % A == 0);
        debug_assert!(xs.len() == N && out.len() >= N);
        debug_assert!(xs.iter().all(|x| x.len() >= nb * T::VALS));
        let mut acc = [[_mm256_setzero_ps(); A]; N];
        let mut xp = [std::ptr::null::<f32>(); N];
        for k in 0..N {
            xp[k] = xs[k].as_ptr();
        }
        for j in 0..nb {
            let b = w.as_ptr().wrapping_add(j * T::BYTES);
            let s = T::scales(b);
            for g0 in (0..T::VALS / 8).step_by(A) {
                for a in 0..A {
                    let g = g0 + a;
                    let v = T::group(b, &s, g);
                    for k in 0..N {
                        let xv = load_ps(xp[k].wrapping_add(j * T::VALS + 8 * g));
                        acc[k][a] = _mm256_fmadd_ps(v, xv, acc[k][a]);
                    }
                }
            }
        }
        for k in 0..N {
            let mut s = acc[k][0];
            for a in 1..A {
                s = _mm256_add_ps(s, acc[k][a]);
            }
            out[k] = hsum_ps(s);
        }
        debug_assert!(A == CHAINS, "the batch-invariant order has {CHAINS} chains");
    }

    /// The [`RowsDot`] of `ty`: [`ROWS`] rows against one activation row.
    pub(super) fn rows_dot(ty: GgmlType) -> Option<RowsDot> {
        Some(match ty {
            GgmlType::Q4_0 => dots::<d::Q4_0>,
            GgmlType::Q4_1 => dots::<d::Q4_1>,
            GgmlType::Q5_0 => dots::<d::Q5_0>,
            GgmlType::Q5_1 => dots::<d::Q5_1>,
            GgmlType::Q8_0 => dots::<d::Q8_0>,
            GgmlType::Q4_K => dots::<d::Q4K>,
            GgmlType::Q6_K => dots::<d::Q6K>,
            _ => return None,
        })
    }

    /// [`ROWS`] consecutive rows against one activation row, two rows at a time (their 8
    /// chains fill the registers with the values and `x`): each row's groups go to
    /// chain `g % 4` and are joined as in [`dot_rows`], so every output has its bits.
    /// # Safety
    /// AVX2, FMA and F16C are available; `w` holds `ROWS * row_bytes` bytes of whole `T`
    /// blocks, `x` at least a row's `nb * VALS` values, `out` [`ROWS`] slots: block `j`
    /// of row `r` is `w[r * row_bytes + j * BYTES..][..BYTES]`, loads read
    /// `x[j * VALS + 8 g..][..8]` with `g < VALS / 8`.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dots<T: Deq>(w: &[u8], row_bytes: usize, x: &[f32], out: &mut [f32]) {
        let nb = row_bytes / T::BYTES;
        assert!(w.len() >= ROWS * row_bytes && out.len() >= ROWS && x.len() >= nb * T::VALS);
        for pair in 0..ROWS / 2 {
            let rows = [2 * pair, 2 * pair + 1].map(|r| w.as_ptr().wrapping_add(r * row_bytes));
            let mut acc = [[_mm256_setzero_ps(); CHAINS]; 2];
            for j in 0..nb {
                for (k, row) in rows.iter().enumerate() {
                    let b = row.wrapping_add(j * T::BYTES);
                    let s = T::scales(b);
                    for g in 0..T::VALS / 8 {
                        let xv = load_ps(x.as_ptr().wrapping_add(j * T::VALS + 8 * g));
                        let c = g % CHAINS;
                        acc[k][c] = _mm256_fmadd_ps(T::group(b, &s, g), xv, acc[k][c]);
                    }
                }
            }
            for (k, a) in acc.iter().enumerate() {
                out[2 * pair + k] = join(*a);
            }
        }
    }

    /// # Safety
    /// AVX2, FMA and F16C are available; `xs` holds 1..=3 rows of the row's length.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot_any<T: Deq>(w: &[u8], xs: &[&[f32]], out: &mut [f32]) {
        debug_assert!((1..=3).contains(&xs.len()));
        // Four chains for every row count: the batch-invariant order (module doc).
        match xs.len() {
            1 => dot_rows::<T, 1, CHAINS>(w, xs, out),
            2 => dot_rows::<T, 2, CHAINS>(w, xs, out),
            _ => dot_rows::<T, 3, CHAINS>(w, xs, out),
        }
    }

    /// # Safety
    /// AVX2, FMA and F16C are available. Any lengths: `nb` whole blocks that fit both `w`
    /// and `out`, so block `j` reads `w[j * BYTES..][..BYTES]` and its 8-value groups
    /// store into `out[j * VALS..][..VALS]`.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn deq_row<T: Deq>(w: &[u8], out: &mut [f32]) {
        let nb = (w.len() / T::BYTES).min(out.len() / T::VALS);
        debug_assert!(w.len() % T::BYTES == 0 && out.len() == nb * T::VALS);
        let o = out.as_mut_ptr();
        for j in 0..nb {
            let b = w.as_ptr().wrapping_add(j * T::BYTES);
            let s = T::scales(b);
            for g in 0..T::VALS / 8 {
                _mm256_storeu_ps(o.wrapping_add(j * T::VALS + 8 * g), T::group(b, &s, g));
            }
        }
    }

    /// The 4 x `M` micro-kernel: 4 panel rows (stride `cols`) against `M` rows of `x`,
    /// in [`CHAINS`] passes: pass `a` sums the 8-wide groups `g` with `g % 4 == a`, so
    /// each output is summed as `dot_rows` and [`dot_chains`] sum it (the register
    /// tile stays 4 x 3; the panel and the rows are in L1 across the passes).
    /// # Safety
    /// AVX2 and FMA are available; `panel` holds `PANEL * cols`, `x` `M * cols` values.
    /// The vector loop reads `[p * cols + c..][..8]` with `c + 8 <= k8 <= cols`, the tail
    /// `[p * cols + c]` with `c < cols`: inside those lengths.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn tile<const M: usize>(
        panel: &[f32],
        x: &[f32],
        cols: usize,
    ) -> [[f32; TILE]; PANEL] {
        debug_assert!(panel.len() >= PANEL * cols && x.len() >= M * cols && M <= TILE);
        let (pp, xp) = (panel.as_ptr(), x.as_ptr());
        let mut parts = [[[_mm256_setzero_ps(); CHAINS]; M]; PANEL];
        let k8 = cols / 8 * 8;
        for a in 0..CHAINS {
            let mut acc = [[_mm256_setzero_ps(); M]; PANEL];
            let mut c = 8 * a;
            while c + 8 <= k8 {
                let mut wv = [_mm256_setzero_ps(); PANEL];
                for p in 0..PANEL {
                    wv[p] = load_ps(pp.wrapping_add(p * cols + c));
                }
                for q in 0..M {
                    let xv = load_ps(xp.wrapping_add(q * cols + c));
                    for p in 0..PANEL {
                        acc[p][q] = _mm256_fmadd_ps(wv[p], xv, acc[p][q]);
                    }
                }
                c += 8 * CHAINS;
            }
            for p in 0..PANEL {
                for q in 0..M {
                    parts[p][q][a] = acc[p][q];
                }
            }
        }
        let mut out = [[0f32; TILE]; PANEL];
        for p in 0..PANEL {
            for q in 0..M {
                let mut s = join(parts[p][q]);
                for c in k8..cols {
                    s += *pp.wrapping_add(p * cols + c) * *xp.wrapping_add(q * cols + c);
                }
                out[p][q] = s;
            }
        }
        out
    }
}
