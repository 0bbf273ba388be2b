//! Every dequantizer and quantized matmul kernel on arbitrary block bytes and odd shapes
//! (1-8 rows, 1-4 blocks, 1-5 activation rows): the exact f32-activation kernels, SIMD
//! and scalar, equal dequantise-then-multiply in f64 up to summation order; the 8-bit
//! activation kernels agree between SIMD and scalar. Non-finite scales only must not panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lineage_fuzz::checks::quant_kernels(data));
