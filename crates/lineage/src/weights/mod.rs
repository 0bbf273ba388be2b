//! Weight files and the canonical weight store the model is built from.
//!
//! Canonical tensor names follow llama.cpp's vocabulary (`token_embd.weight`,
//! `blk.{i}.attn_q.weight`, ...); matrices are `[out, in]` like `nn.Linear`.

pub mod mxfp4;
pub mod safetensors;

use std::collections::BTreeMap;

use candle_core::Tensor;

pub use mxfp4::Mxfp4Tensor;

use crate::{Error, Result};

/// One stored weight: dense (f32 on the reference path) or kept packed.
#[derive(Debug, Clone)]
pub enum Weight {
    Dense(Tensor),
    /// MXFP4 expert stack `[E, out, in]`, dequantised on the fly.
    Mxfp4(Mxfp4Tensor),
}

impl Weight {
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Weight::Dense(t) => t.dims().to_vec(),
            Weight::Mxfp4(m) => m.shape().to_vec(),
        }
    }
    pub fn resident_bytes(&self) -> usize {
        match self {
            Weight::Dense(t) => t.elem_count() * t.dtype().size_in_bytes(),
            Weight::Mxfp4(m) => m.resident_bytes(),
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
        self.map.get(name).ok_or_else(|| Error::MissingTensor { name: name.to_string() })
    }

    /// A dense tensor with the expected shape.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        match self.get(name)? {
            Weight::Dense(t) => {
                check_shape(name, t.dims(), shape)?;
                Ok(t.clone())
            }
            Weight::Mxfp4(_) => Err(Error::BadInput(format!("tensor `{name}` is MXFP4, expected dense"))),
        }
    }

    /// A dense tensor if present.
    pub fn opt_tensor(&self, name: &str, shape: &[usize]) -> Result<Option<Tensor>> {
        if self.contains(name) { self.tensor(name, shape).map(Some) } else { Ok(None) }
    }

    /// Any weight with the expected logical shape.
    pub fn weight(&self, name: &str, shape: &[usize]) -> Result<Weight> {
        let w = self.get(name)?;
        check_shape(name, &w.shape(), shape)?;
        Ok(w.clone())
    }

    /// Total number of parameters (logical elements).
    pub fn n_params(&self) -> usize {
        self.map.values().map(|w| w.shape().iter().product::<usize>()).sum()
    }

    /// Mutable access for tools such as finite-difference checks.
    pub fn replace(&mut self, name: &str, t: Tensor) -> Result<()> {
        let slot = self.map.get_mut(name).ok_or_else(|| Error::MissingTensor { name: name.to_string() })?;
        *slot = Weight::Dense(t);
        Ok(())
    }
}

pub fn check_shape(name: &str, found: &[usize], expected: &[usize]) -> Result<()> {
    if found != expected {
        return Err(Error::ShapeMismatch { name: name.into(), expected: expected.to_vec(), found: found.to_vec() });
    }
    Ok(())
}
