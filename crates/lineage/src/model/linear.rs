//! `y = x W^T + b` with W stored `[out, in]`: dense (a candle tensor, differentiable) or
//! quantized (GGUF blocks, multiplied by our kernels without dequantising; inference only).

use candle_core::{DType, Device, Tensor};

use crate::kernels::quant::{ActPrecision, QMatrix};
use crate::plan::LinearSlot;
use crate::weights::{Weight, Weights};
use crate::{Error, Result};

#[derive(Debug, Clone)]
enum Matrix {
    Dense(Tensor),
    Quant(QMatrix),
}

#[derive(Debug, Clone)]
pub struct Linear {
    weight: Matrix,
    bias: Option<Tensor>,
}

impl Linear {
    /// Loads the slot's `.weight` `[out, in]` and, if it has one, `.bias` `[out]`.
    pub fn load(w: &Weights, s: &LinearSlot) -> Result<Self> {
        let (name, out, inp, bias) = (&s.name, s.out, s.inp, s.bias);
        let wname = format!("{name}.weight");
        let weight = match w.weight(&wname, &[out, inp])? {
            Weight::Dense(t) => Matrix::Dense(t),
            Weight::Quant(q) => Matrix::Quant(q),
            Weight::Mxfp4(_) | Weight::QuantStack(_) => {
                return Err(Error::BadInput(format!(
                    "`{wname}`: an expert stack where one matrix belongs"
                )))
            }
        };
        let bias = if bias {
            Some(w.tensor(&format!("{name}.bias"), &[out])?)
        } else {
            None
        };
        Ok(Self { weight, bias })
    }

    pub fn from_parts(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self {
            weight: Matrix::Dense(weight),
            bias,
        }
    }

    pub fn from_quant(q: QMatrix) -> Self {
        Self {
            weight: Matrix::Quant(q),
            bias: None,
        }
    }

    /// The same weight with `bias` instead of its own.
    pub fn with_bias(self, bias: Option<Tensor>) -> Self {
        Self { bias, ..self }
    }

    /// The weight when the map is exactly `x Wᵀ`: dense and without a bias.
    pub fn plain_weight(&self) -> Option<&Tensor> {
        match (&self.weight, &self.bias) {
            (Matrix::Dense(w), None) => Some(w),
            _ => None,
        }
    }

    pub fn out_dim(&self) -> usize {
        match &self.weight {
            Matrix::Dense(t) => t.dims()[0],
            Matrix::Quant(q) => q.rows(),
        }
    }

    /// `x`: `[..., in]` -> `[..., out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if let Matrix::Dense(w) = &self.weight {
            if super::fused::applies(x) && w.dtype() == x.dtype() {
                let y = super::fused::linear(x, w)?;
                return match &self.bias {
                    Some(b) => super::fused::add_bias(&y, b),
                    None => Ok(y),
                };
            }
        }
        let dims = x.dims().to_vec();
        let inp = *dims.last().expect("rank >= 1");
        let rows = x.elem_count() / inp.max(1);
        let x2 = x.reshape((rows, inp))?;
        let y = match &self.weight {
            Matrix::Dense(w) => x2.matmul(&w.t()?)?,
            Matrix::Quant(q) => quant_matmul(q, &x2)?,
        };
        let y = match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        let mut out = dims;
        *out.last_mut().expect("rank >= 1") = self.out_dim();
        Ok(y.reshape(out)?)
    }
}

fn quant_matmul(q: &QMatrix, x: &Tensor) -> Result<Tensor> {
    let (n, _) = x.dims2()?;
    let dtype = x.dtype();
    let xs = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let mut out = vec![0f32; n * q.rows()];
    q.matmul_act(&xs, &mut out, ActPrecision::for_linear())?;
    Ok(Tensor::from_vec(out, (n, q.rows()), &Device::Cpu)?.to_dtype(dtype)?)
}
