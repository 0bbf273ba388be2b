//! The per-token hook of constrained decoding: before each sample the constraint masks
//! the tokens it does not allow (their logits become -inf), after it the sampled token is
//! committed to it, and once it is complete generation stops as at EOS.
//!
//! A request carries a [`ConstraintFactory`] (shared, cheap to clone) in its
//! `GenerateOptions`; each `Decoder` starts its own [`Constraint`] from it, so the
//! choices of `n > 1` are constrained independently. The implementation over
//! llguidance is `text::grammar`.
//! Reference: llguidance's `Matcher` (`compute_mask`, `consume_token`, `is_stopped`).

use std::fmt::Debug;

use crate::Result;

/// One sequence's constraint, advanced token by token.
pub trait Constraint: Send {
    /// Sets the logits of the tokens not allowed next to -inf.
    fn mask(&mut self, logits: &mut [f32]) -> Result<()>;
    /// The token sampled from the masked logits.
    fn commit(&mut self, id: u32) -> Result<()>;
    /// Nothing but the end may follow: generation stops here.
    fn done(&self) -> bool;
}

/// What a request carries: a compiled constraint that starts one [`Constraint`] per sequence.
pub trait ConstraintFactory: Debug + Send + Sync {
    fn start(&self) -> Result<Box<dyn Constraint>>;
}
