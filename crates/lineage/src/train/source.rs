//! What the trainer needs from data: training windows as a pure function of the step,
//! a fixed set of validation windows, and the byte count behind the tokens.

use crate::Result;

/// A source of `[batch, seq_len + 1]` token windows.
pub trait TokenSource {
    /// Largest token id + 1 the data can contain.
    fn vocab_size(&self) -> usize;
    /// Micro-batch `micro` of optimizer step `step`, row-major `[batch, seq_len + 1]`.
    /// Must depend only on (seed, step, micro): that makes resume bit-exact.
    fn train_batch(&self, step: u64, micro: u32) -> Result<Vec<u32>>;
    /// The same validation windows every call, at most `max` of them.
    fn val_windows(&self, max: usize) -> Result<Vec<Vec<u32>>>;
    /// UTF-8 bytes per validation token (for bits per byte), when the text is known.
    fn val_bytes_per_token(&self) -> Option<f64>;
    /// Cross-entropy of the validation tokens under the training unigram distribution:
    /// the loss a model that ignores context reaches.
    fn unigram_loss(&self) -> Option<f64>;
}
