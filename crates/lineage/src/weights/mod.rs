//! Weight file formats: GGUF (with ggml quantized blocks, see `kernels::quant`).

pub mod gguf;
