//! Deterministic training batches and a fixed validation walk over one token file.
//!
//! The file is cut into `windows_per_epoch = (len - 1) / seq_len` windows of
//! `seq_len + 1` tokens starting at multiples of `seq_len` (neighbours share one token),
//! so inputs `w[..seq_len]` and targets `w[1..]` make every token after the first a
//! target exactly once per epoch. Draw number `d = (step * micro_steps + micro) * batch
//! + row` is window `perm_e(d mod W)` of epoch `e = d div W`, with `perm_e` a keyed
//! permutation of the windows (`permute`) whose key mixes the seed and the epoch.
//!
//! A batch is a pure function of (seed, step, micro): `--resume` at step s draws the
//! same batches as the uninterrupted run without saving any iterator state.

use super::permute::Permutation;
use super::token_file::TokenFile;
use crate::runtime::sampler::rng::mix2;
use crate::{Error, Result};

/// Draws `[batch, seq_len + 1]` token windows from one file.
#[derive(Debug, Clone)]
pub struct Batcher {
    file: TokenFile,
    seq_len: usize,
    batch: usize,
    micro_steps: u32,
    seed: u64,
    windows: u64,
}

impl Batcher {
    /// A batcher over `file` with one micro-batch per step (see `with_micro_steps`).
    /// A file shorter than one window (`seq_len + 1` tokens) is an error naming it.
    pub fn new(file: &TokenFile, seq_len: usize, batch: usize, seed: u64) -> Result<Self> {
        if seq_len == 0 || batch == 0 {
            return Err(Error::invalid(
                if seq_len == 0 { "seq_len" } else { "batch" },
                "must be at least 1",
            ));
        }
        let need = seq_len as u64 + 1;
        if file.len() < need {
            return Err(Error::bad_file(
                file.path(),
                format!(
                    "has {} tokens, fewer than one window of seq_len + 1 = {need}; use more \
                     text or a shorter --seq-len",
                    file.len()
                ),
            ));
        }
        Ok(Self {
            file: file.clone(),
            seq_len,
            batch,
            micro_steps: 1,
            seed,
            windows: (file.len() - 1) / seq_len as u64,
        })
    }

    /// Gradient-accumulation micro-batches per optimizer step (`micro < micro_steps` in
    /// `batch`), so the draws of consecutive steps do not overlap. At least 1.
    pub fn with_micro_steps(mut self, micro_steps: u32) -> Self {
        self.micro_steps = micro_steps.max(1);
        self
    }

    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// Windows in one epoch.
    pub fn windows_per_epoch(&self) -> u64 {
        self.windows
    }

    /// The number of draw `row` of (step, micro): its epoch is `draw / windows_per_epoch`.
    pub fn draw(&self, step: u64, micro: u32, row: usize) -> u64 {
        step.wrapping_mul(self.micro_steps as u64)
            .wrapping_add(micro as u64)
            .wrapping_mul(self.batch as u64)
            .wrapping_add(row as u64)
    }

    /// Epoch that (step, micro) starts in.
    pub fn epoch(&self, step: u64, micro: u32) -> u64 {
        self.draw(step, micro, 0) / self.windows
    }

    /// Index of the window (start `index * seq_len`) that row `row` of (step, micro) gets.
    pub fn window_index(&self, step: u64, micro: u32, row: usize) -> u64 {
        let d = self.draw(step, micro, row);
        let key = mix2(self.seed, d / self.windows);
        Permutation::new(self.windows, key).apply(d % self.windows)
    }

    /// Row-major `[batch, seq_len + 1]` tokens of micro-batch `micro` of step `step`.
    pub fn batch(&self, step: u64, micro: u32) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.batch * (self.seq_len + 1));
        self.batch_into(step, micro, &mut out);
        out
    }

    /// `batch` into a reused buffer (cleared first).
    pub fn batch_into(&self, step: u64, micro: u32, out: &mut Vec<u32>) {
        out.clear();
        for row in 0..self.batch {
            let w = self.window_index(step, micro, row);
            self.read_window(w, out);
        }
    }

    fn read_window(&self, w: u64, out: &mut Vec<u32>) {
        // w < windows, so w * seq_len + seq_len + 1 <= len by the definition of windows.
        self.file
            .read_into(w * self.seq_len as u64, self.seq_len + 1, out)
            .expect("window inside the file by construction");
    }

    /// The first `max_windows` windows of the file in order (all of them when fewer):
    /// the same every evaluation, so validation losses compare across steps and runs.
    pub fn eval_windows(&self, max_windows: usize) -> impl Iterator<Item = Vec<u32>> + '_ {
        let n = self.windows.min(max_windows as u64);
        (0..n).map(move |w| {
            let mut v = Vec::with_capacity(self.seq_len + 1);
            self.read_window(w, &mut v);
            v
        })
    }
}
