//! Fused CPU kernels for the differentiable forward, each with its hand-written backward:
//! linear maps, norms, the FFN nonlinearity, RoPE, causal softmax attention and bias
//! adds. As primitive candle
//! ops each of these writes a handful of full-size tensors forward and twice as many
//! back (one allocation and one single-threaded pass per op); fused, a forward reads its
//! inputs once and writes one output, and a backward writes only the gradients. They are
//! what makes training fast; the primitive-op forms in `model/` (`Norm::forward_reference`,
//! `ops::activation`, `RopeTable::apply`, `attend`) stay the reference they are tested
//! against (`tests/fused_ops.rs`), values and gradients, in f32 and f64.

mod attention;
mod bias;
pub(crate) mod cpu;
mod float;
mod glu;
mod linear;
mod norm;
mod rope;
#[cfg(test)]
mod tests;

pub use attention::{causal_attention, Causal};
pub use bias::add_bias;
pub(crate) use float::Float;
pub use glu::{activation, glu, supports};
pub use linear::linear;
pub use norm::{layer_norm, rms_norm};
pub use rope::{rope, MAX_ROTARY};

use std::cell::Cell;

thread_local! {
    static REFERENCE: Cell<bool> = const { Cell::new(false) };
    static FORWARDS: Cell<u64> = const { Cell::new(0) };
}

/// How many fused kernels this thread has run forward (tests check that a path they
/// compare really went through the kernels).
pub fn forwards_on_this_thread() -> u64 {
    FORWARDS.with(Cell::get)
}

/// Counts one fused forward (each kernel's `cpu_fwd` runs on the calling thread).
fn count() {
    FORWARDS.with(|c| c.set(c.get() + 1));
}

/// Whether forwards built on this thread use the fused kernels (the default).
pub fn enabled() -> bool {
    !REFERENCE.with(Cell::get)
}

/// Runs `f` with the primitive-op reference forms instead of the fused kernels on this
/// thread (the graph records which ops ran, so its backward follows). For the tests that
/// hold the kernels to the reference.
pub fn with_reference<R>(f: impl FnOnce() -> R) -> R {
    let before = REFERENCE.with(|r| r.replace(true));
    let out = f();
    REFERENCE.with(|r| r.set(before));
    out
}

/// Whether `x` can go through the fused kernels: on this thread they are on, and it is
/// an f32 or f64 CPU tensor.
pub fn applies(x: &candle_core::Tensor) -> bool {
    enabled()
        && x.device().is_cpu()
        && matches!(x.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
}
