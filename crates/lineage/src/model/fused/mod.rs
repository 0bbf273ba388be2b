//! Fused CPU kernels for the differentiable forward, each with its hand-written backward:
//! linear maps, norms, the FFN nonlinearity (alone, or with the FFN's input projections),
//! RoPE, causal softmax attention and bias adds. As primitive candle ops each of these writes a handful of full-size tensors
//! forward and twice as many back (one allocation and one single-threaded pass per op); fused, a forward reads its
//! inputs once and writes one output, and a backward writes only the gradients. They are
//! what makes training fast; the primitive-op forms in `model/` (`Norm::forward_reference`,
//! `ops::activation`, `RopeTable::apply`, `attend`) stay the reference they are tested
//! against (`tests/fused_ops.rs`), values and gradients, in f32 and f64.

mod attention;
mod bias;
pub(crate) mod cpu;
mod ffn_in;
mod glu;
pub(crate) mod linear;
mod norm;
mod rope;
#[cfg(test)]
mod tests;

pub(crate) use crate::kernels::real::Float;
pub use attention::{causal_attention, Causal};
pub use bias::add_bias;
pub use ffn_in::{glu_in, mlp_in};
pub use glu::{activation, glu, supports};
pub use linear::linear;
pub use norm::{layer_norm, rms_norm};
pub use rope::{rope, MAX_ROTARY};

use std::cell::{Cell, RefCell};

thread_local! {
    static REFERENCE: Cell<bool> = const { Cell::new(false) };
    static FORWARDS: RefCell<Vec<(&'static str, u64)>> = const { RefCell::new(Vec::new()) };
}

/// How many times this thread has run the fused kernel named `kernel` forward (its op
/// name, e.g. `fused_causal_attention`); tests check that a path they compare really
/// went through the kernels.
pub fn forwards_on_this_thread(kernel: &str) -> u64 {
    FORWARDS.with(|f| {
        f.borrow()
            .iter()
            .find(|(k, _)| *k == kernel)
            .map_or(0, |e| e.1)
    })
}

/// Counts one forward of `kernel` (each kernel's `cpu_fwd` runs on the calling thread).
fn count(kernel: &'static str) {
    FORWARDS.with(|f| {
        let mut f = f.borrow_mut();
        match f.iter_mut().find(|(k, _)| *k == kernel) {
            Some(e) => e.1 += 1,
            None => f.push((kernel, 1)),
        }
    });
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
