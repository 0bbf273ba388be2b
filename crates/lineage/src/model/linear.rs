//! `y = x W^T + b` with W stored `[out, in]`.

use candle_core::Tensor;

use crate::weights::Weights;
use crate::Result;

#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// Loads `{name}.weight` `[out, in]` and, if `bias`, `{name}.bias` `[out]`.
    pub fn load(w: &Weights, name: &str, out: usize, inp: usize, bias: bool) -> Result<Self> {
        let weight = w.tensor(&format!("{name}.weight"), &[out, inp])?;
        let bias = if bias { Some(w.tensor(&format!("{name}.bias"), &[out])?) } else { None };
        Ok(Self { weight, bias })
    }

    pub fn from_parts(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias }
    }

    pub fn out_dim(&self) -> usize {
        self.weight.dims()[0]
    }

    /// `x`: `[..., in]` -> `[..., out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let inp = *dims.last().expect("rank >= 1");
        let rows = x.elem_count() / inp.max(1);
        let y = x.reshape((rows, inp))?.matmul(&self.weight.t()?)?;
        let y = match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        let mut out = dims;
        *out.last_mut().expect("rank >= 1") = self.out_dim();
        Ok(y.reshape(out)?)
    }
}
