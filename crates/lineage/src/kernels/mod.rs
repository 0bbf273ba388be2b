//! Compute kernels: quantized block formats with their matmuls, and the thread pool
//! they share. Reference kernels are the f32 paths these are measured against.

pub mod aligned;
pub mod halves;
pub mod lanes;
pub mod pool;
pub mod prefetch;
pub mod probe;
pub mod quant;
pub mod real;
pub mod vmath;
