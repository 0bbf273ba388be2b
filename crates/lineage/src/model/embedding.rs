//! Token embedding lookup over a dense or quantized table (quantized rows are
//! dequantised only for the ids looked up), and its reuse as a tied LM head.

use candle_core::{DType, Device, Tensor};

use super::linear::Linear;
use crate::kernels::quant::{dequantize_row, QMatrix};
use crate::weights::{Weight, Weights};
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub enum Embedding {
    Dense(Tensor),
    Quant(QMatrix),
}

impl Embedding {
    pub fn load(w: &Weights, name: &str, vocab: usize, d: usize) -> Result<Self> {
        match w.weight(name, &[vocab, d])? {
            Weight::Dense(t) => Ok(Self::Dense(t)),
            Weight::Quant(q) => Ok(Self::Quant(q)),
            Weight::Mxfp4(_) | Weight::QuantStack(_) => Err(Error::BadInput(format!(
                "`{name}`: an embedding must be one matrix, dense or block-quantized"
            ))),
        }
    }

    /// `ids` (u32 `[N]`) -> `[N, d]`.
    pub fn lookup(&self, ids: &Tensor) -> Result<Tensor> {
        match self {
            Self::Dense(t) => Ok(t.index_select(ids, 0)?),
            Self::Quant(q) => {
                let ids = ids.to_dtype(DType::U32)?.to_vec1::<u32>()?;
                let (d, rb) = (q.cols(), q.row_bytes());
                let mut out = vec![0f32; ids.len() * d];
                for (k, &id) in ids.iter().enumerate() {
                    let row = &q.bytes()[id as usize * rb..(id as usize + 1) * rb];
                    dequantize_row(
                        "token_embd.weight",
                        q.ggml_type(),
                        row,
                        &mut out[k * d..(k + 1) * d],
                    )?;
                }
                Ok(Tensor::from_vec(out, (ids.len(), d), &Device::Cpu)?)
            }
        }
    }

    /// The same matrix as an LM head (`tie_word_embeddings`).
    pub fn as_linear(&self) -> Linear {
        match self {
            Self::Dense(t) => Linear::from_parts(t.clone(), None),
            Self::Quant(q) => Linear::from_quant(q.clone()),
        }
    }
}
