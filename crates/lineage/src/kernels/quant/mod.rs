//! Quantized block formats (ggml/GGUF) and the kernels over them: dequantization and
//! a matmul that keeps weights quantized, with activations either quantized to 8 bits
//! (as llama.cpp) or kept in f32 against weights dequantized on the fly (exact).
//!
//! Reference: ggml `ggml-common.h` (block structs), `ggml-quants.c` (dequantize_row_*),
//! ggml-cpu `quants.c` / `arch/x86/quants.c` (vec_dot kernels); gguf-py `quants.py` is
//! the outside oracle in the tests (`tests/fixtures/quant`).

pub mod act;
#[cfg(target_arch = "x86_64")]
mod act_avx512;
#[cfg(target_arch = "x86_64")]
mod block_format;
mod deq_avx2;
mod dispatch;
mod exact;
#[cfg(target_arch = "x86_64")]
mod exact_avx512;
mod float;
mod int8_avx2;
mod int8_panel;
mod int8_vnni;
mod int8_wide;
mod int8_wide_avx2;
mod k_avx2;
mod k_avx512;
mod k_codes;
mod k_quants;
mod k_unpack;
mod k_wide;
mod matmul;
mod mxfp4;
mod q4;
mod q5;
mod q8;
mod qmatrix;
pub mod quantize;
pub mod quantize_k;
pub mod simd;
mod types;

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod wide_tests;

pub(crate) use float::dot_f32;
pub use qmatrix::{ActPrecision, QData, QMatrix, SharedBytes};
pub use types::GgmlType;

use crate::{Error, Result};

/// Dequantize `bytes` (whole blocks of `ty`) into `out`, whose length must be the number
/// of elements those blocks hold. `tensor` names the data in errors.
pub fn dequantize_row(tensor: &str, ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    let f = dispatch::dequantizer(ty).ok_or_else(|| Error::UnsupportedTensorType {
        tensor: tensor.into(),
        ggml_type: ty.id(),
    })?;
    let (bs, ts) = (ty.block_size(), ty.type_size());
    if !bytes.len().is_multiple_of(ts) || out.len() != bytes.len() / ts * bs {
        return Err(Error::BadInput(format!(
            "tensor `{tensor}`: {} bytes of {ty} (blocks of {ts} bytes, {bs} values) do not fill {} outputs",
            bytes.len(),
            out.len()
        )));
    }
    f(bytes, out);
    Ok(())
}
