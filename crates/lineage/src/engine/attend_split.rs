//! Decode attention split over the threads (flash-decoding's aim, not its arithmetic).
//!
//! A decode step has one task per (sequence, KV head): one task for a one-KV-head model
//! such as Gemma-3-270M, so the other threads idle through each layer's attention, which
//! at long contexts is much of the step. Here each task runs in `parts` pieces, twice:
//! first each piece scores a share of the key blocks into score rows every piece can
//! read, then (after the join) each piece takes the softmax of whole rows and the
//! weighted values of a share of the output columns. Each key and value is read once
//! between the pieces; the softmax runs once per piece (a row of exponentials per query
//! head, against `head_dim` multiply-adds per key).
//!
//! Flash-decoding instead keeps a softmax per share of keys and rescales them; that
//! changes the rounding with the split. Here no value depends on the split: a score is
//! one key's dot product, the softmax sees the whole row, and an output column is the
//! same chain of multiply-adds over the keys in order. So a query's output is the same
//! bits on one thread or many, in decode or in a speculative verification batch, which
//! speculative decoding's identity with greedy needs.

use std::sync::Mutex;

use super::attend::TILE;
use super::mat::SyncPtr;

/// What one call does of a one-tile task's work.
#[derive(Clone, Copy)]
pub(super) enum Stage {
    /// Scores, softmax and weighted values of every tile: the unsplit task.
    Whole,
    /// Piece `part` of `parts`: the scores of its share of the key blocks, copied into
    /// the shared score rows `rows`.
    Scores {
        part: usize,
        parts: usize,
        rows: SyncPtr,
    },
    /// Piece `part` of `parts`: the softmax of the shared score rows `rows` (every key's
    /// score written), then the weighted values of its share of the output columns.
    Values {
        part: usize,
        parts: usize,
        rows: SyncPtr,
    },
}

impl Stage {
    /// This piece's share `lo..hi` of `0..n` items (`parts` shares in order, within
    /// `align` items of each other, each starting at a multiple of `align`).
    pub(super) fn share(part: usize, parts: usize, n: usize, align: usize) -> (usize, usize) {
        let units = n.div_ceil(align);
        let at = |k: usize| (units * k / parts * align).min(n);
        (at(part), at(part + 1))
    }
}

/// Multiply-adds (scores and values) below which a split costs more than it saves: a
/// second fork-join, and the score rows copied twice.
const MIN_WORK: usize = 1 << 19;

/// Pieces per task: the pool's threads where there are fewer tasks than threads (a
/// thread would idle through the whole attention), each sequence's queries fit one tile,
/// and the work pays for it; else 1 (no split).
///
/// Only then: splitting SmolLM2's three tasks over two threads lost time (decode after
/// 1950 tokens 156 against 173 tok/s, after 7000 61 against 75). Decode attention there
/// streams the cache at the memory's pace on both threads already, and pieces of the
/// same rows split each row's cache lines between the cores.
pub(super) fn parts(threads: usize, n_tasks: usize, max_n: usize, work: usize) -> usize {
    if n_tasks < threads && max_n <= TILE && work >= MIN_WORK {
        threads
    } else {
        1
    }
}

/// The score rows the pieces of one split share, kept between calls: grown to the
/// largest batch and context seen (to a power of two, so a growing context reallocates
/// rarely), then reused.
static ROWS: Mutex<Vec<f32>> = Mutex::new(Vec::new());

/// Runs `f` on `len` shared score values, or returns `None` where another split holds
/// them (a second engine in the process) and `wait` is false: the caller then runs
/// unsplit. (The tests, which force a split, wait.)
pub(super) fn with_rows<R>(len: usize, wait: bool, f: impl FnOnce(&mut [f32]) -> R) -> Option<R> {
    use std::sync::TryLockError;
    let held = if wait {
        ROWS.lock().map_err(TryLockError::from)
    } else {
        ROWS.try_lock()
    };
    let mut rows = match held {
        Ok(r) => r,
        // A panic in an earlier split poisoned the lock; the buffer holds only scores.
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
        Err(TryLockError::WouldBlock) => return None,
    };
    if rows.len() < len {
        rows.resize(len.next_power_of_two(), 0.0);
    }
    Some(f(&mut rows[..len]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shares cover `0..n` in order, without gaps, aligned but the last.
    #[test]
    fn shares_tile_the_range() {
        for n in 0..70 {
            for parts in 1..5 {
                for align in [1, 8, 16] {
                    let mut end = 0;
                    for p in 0..parts {
                        let (lo, hi) = Stage::share(p, parts, n, align);
                        assert_eq!(lo, end, "n {n} parts {parts} align {align}");
                        assert!(lo <= hi && (hi == n || hi % align == 0));
                        end = hi;
                    }
                    assert_eq!(end, n);
                }
            }
        }
    }

    /// Split where threads would idle, not where every thread has a task or the tasks
    /// are long.
    #[test]
    fn parts_rule() {
        assert_eq!(parts(2, 1, 1, MIN_WORK), 2); // one KV head
        assert_eq!(parts(4, 2, 1, MIN_WORK), 4); // two KV heads on four threads
        assert_eq!(parts(2, 3, 1, MIN_WORK), 1); // three KV heads on two threads
        assert_eq!(parts(2, 4, 1, MIN_WORK), 1); // even
        assert_eq!(parts(1, 1, 1, MIN_WORK), 1); // one thread
        assert_eq!(parts(2, 1, TILE + 1, MIN_WORK), 1); // more than one tile of queries
        assert_eq!(parts(2, 1, 1, MIN_WORK - 1), 1); // too little work
    }
}
