//! Weight files and the canonical weight store the model is built from.
//!
//! Canonical tensor names follow llama.cpp's vocabulary (`token_embd.weight`,
//! `blk.{i}.attn_q.weight`, ...); matrices are `[out, in]` like `nn.Linear`.

pub mod gguf;
pub mod mxfp4;
pub mod safetensors;

use std::collections::BTreeMap;

use candle_core::Tensor;

pub use mxfp4::Mxfp4Tensor;

use crate::kernels::quant::QMatrix;

use crate::{Error, Result};

/// One stored weight: dense (f32 on the reference path) or kept packed.
#[derive(Debug, Clone)]
pub enum Weight {
    Dense(Tensor),
    /// MXFP4 expert stack `[E, out, in]`, dequantised on the fly.
    Mxfp4(Mxfp4Tensor),
    /// GGUF block-quantised matrix `[out, in]`, multiplied without dequantising.
    Quant(QMatrix),
    /// GGUF block-quantised expert stack `[E, out, in]`: one matrix per expert, each
    /// over its slice of the file's bytes (never dequantised whole).
    QuantStack(Vec<QMatrix>),
}

impl Weight {
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Weight::Dense(t) => t.dims().to_vec(),
            Weight::Mxfp4(m) => m.shape().to_vec(),
            Weight::Quant(q) => vec![q.rows(), q.cols()],
            Weight::QuantStack(s) => {
                let (r, c) = s.first().map_or((0, 0), |q| (q.rows(), q.cols()));
                vec![s.len(), r, c]
            }
        }
    }
    pub fn resident_bytes(&self) -> usize {
        match self {
            Weight::Dense(t) => t.elem_count() * t.dtype().size_in_bytes(),
            Weight::Mxfp4(m) => m.resident_bytes(),
            Weight::Quant(q) => q.bytes().len(),
            Weight::QuantStack(s) => s.iter().map(|q| q.bytes().len()).sum(),
        }
    }
}

/// Canonical name -> weight.
#[derive(Debug, Clone, Default)]
pub struct Weights {
    map: BTreeMap<String, Weight>,
}

impl Weights {
    pub fn insert(&mut self, name: impl Into<String>, w: Tensor) {
        self.map.insert(name.into(), Weight::Dense(w));
    }

    pub fn insert_weight(&mut self, name: impl Into<String>, w: Weight) {
        self.map.insert(name.into(), w);
    }

    pub fn remove(&mut self, name: &str) -> Option<Weight> {
        self.map.remove(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Weight)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn get(&self, name: &str) -> Result<&Weight> {
        self.map.get(name).ok_or_else(|| Error::MissingTensor {
            name: name.to_string(),
        })
    }

    /// A dense tensor with the expected shape.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        match self.get(name)? {
            Weight::Dense(t) => {
                check_shape(name, t.dims(), shape)?;
                Ok(t.clone())
            }
            _ => Err(Error::BadInput(format!(
                "tensor `{name}` is quantized, expected dense"
            ))),
        }
    }

    /// A dense tensor if present.
    pub fn opt_tensor(&self, name: &str, shape: &[usize]) -> Result<Option<Tensor>> {
        if self.contains(name) {
            self.tensor(name, shape).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Any weight with the expected logical shape.
    pub fn weight(&self, name: &str, shape: &[usize]) -> Result<Weight> {
        let w = self.get(name)?;
        check_shape(name, &w.shape(), shape)?;
        Ok(w.clone())
    }

    /// Total number of parameters (logical elements).
    pub fn n_params(&self) -> usize {
        self.map
            .values()
            .map(|w| w.shape().iter().product::<usize>())
            .sum()
    }

    /// Parameters and resident bytes, per storage format.
    pub fn summary(&self) -> WeightsSummary {
        let mut s = WeightsSummary::default();
        for w in self.map.values() {
            let n = w.shape().iter().product::<usize>();
            let slot = match w {
                Weight::Dense(_) => &mut s.dense,
                Weight::Mxfp4(_) => &mut s.mxfp4,
                Weight::Quant(_) | Weight::QuantStack(_) => &mut s.quant,
            };
            slot.0 += n;
            slot.1 += w.resident_bytes();
        }
        s
    }

    /// Applies `f` to every dense tensor (dtype casts, wrapping in autodiff variables).
    pub fn map_dense(&self, mut f: impl FnMut(&str, &Tensor) -> Result<Tensor>) -> Result<Self> {
        let mut out = Self::default();
        for (name, w) in &self.map {
            let w = match w {
                Weight::Dense(t) => Weight::Dense(f(name, t)?),
                other => other.clone(),
            };
            out.map.insert(name.clone(), w);
        }
        Ok(out)
    }

    /// Mutable access for tools such as finite-difference checks.
    pub fn replace(&mut self, name: &str, t: Tensor) -> Result<()> {
        let slot = self.map.get_mut(name).ok_or_else(|| Error::MissingTensor {
            name: name.to_string(),
        })?;
        *slot = Weight::Dense(t);
        Ok(())
    }
}

/// (parameters, resident bytes) of dense and of MXFP4-packed weights.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WeightsSummary {
    pub dense: (usize, usize),
    pub mxfp4: (usize, usize),
    pub quant: (usize, usize),
}

impl WeightsSummary {
    /// Bits per parameter of the MXFP4 weights (4.25: 4-bit values + an 8-bit scale per 32).
    pub fn mxfp4_bits_per_param(&self) -> Option<f64> {
        (self.mxfp4.0 > 0).then(|| self.mxfp4.1 as f64 * 8.0 / self.mxfp4.0 as f64)
    }
}

impl std::fmt::Display for WeightsSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |b: usize| b as f64 / (1 << 20) as f64;
        let (n, b) = (
            self.dense.0 + self.mxfp4.0 + self.quant.0,
            self.dense.1 + self.mxfp4.1 + self.quant.1,
        );
        write!(f, "{n} params ({:.2} MiB resident)", mib(b))?;
        if self.quant.0 > 0 {
            let bits = self.quant.1 as f64 * 8.0 / self.quant.0 as f64;
            write!(
                f,
                "; quantized matrices: {} params at {bits:.2} bits/param",
                self.quant.0
            )?;
        }
        if let Some(bits) = self.mxfp4_bits_per_param() {
            write!(
                f,
                "; MXFP4 experts: {} params in {:.2} MiB = {bits:.2} bits/param",
                self.mxfp4.0,
                mib(self.mxfp4.1)
            )?;
        }
        Ok(())
    }
}

pub fn check_shape(name: &str, found: &[usize], expected: &[usize]) -> Result<()> {
    if found != expected {
        return Err(Error::ShapeMismatch {
            name: name.into(),
            expected: expected.to_vec(),
            found: found.to_vec(),
        });
    }
    Ok(())
}
