//! Reads canonical weights for export: dense f32 with the shape the config implies, each
//! marked used, so that a weight the exporter would leave out is an error, not a silent
//! drop (the mirror of `families::tensor_map::TensorMap::finish`).

use std::collections::BTreeSet;

use candle_core::{DType, Device, Tensor};

use crate::weights::{check_shape, Weight, Weights};
use crate::{Error, Result};

pub(super) struct Taker<'a> {
    w: &'a Weights,
    used: BTreeSet<String>,
}

impl<'a> Taker<'a> {
    pub fn new(w: &'a Weights) -> Self {
        Self {
            w,
            used: BTreeSet::new(),
        }
    }

    /// Dense f32 tensor `name` of `shape`.
    pub fn get(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = match self.w.get(name)? {
            Weight::Dense(t) => t,
            _ => {
                return Err(Error::BadInput(format!(
                    "tensor `{name}` is stored quantized or packed; export needs dense weights \
                     (load a GGUF with f32 precision, or export the run's f32 checkpoint)"
                )))
            }
        };
        check_shape(name, t.dims(), shape)?;
        self.used.insert(name.to_string());
        Ok(t.to_dtype(DType::F32)?.contiguous()?)
    }

    /// `name` when `present`, else None (what the config says decides, not the file).
    pub fn get_if(&mut self, present: bool, name: &str, shape: &[usize]) -> Result<Option<Tensor>> {
        present.then(|| self.get(name, shape)).transpose()
    }

    /// `name`, or zeros when the config has none (a bias the target format requires).
    pub fn get_or_zeros(&mut self, present: bool, name: &str, shape: &[usize]) -> Result<Tensor> {
        if present {
            self.get(name, shape)
        } else {
            Ok(Tensor::zeros(shape, DType::F32, &Device::Cpu)?)
        }
    }

    /// Every weight must have been used.
    pub fn finish(self) -> Result<()> {
        let left: Vec<&str> = self.w.names().filter(|n| !self.used.contains(*n)).collect();
        if left.is_empty() {
            return Ok(());
        }
        Err(Error::BadInput(format!(
            "weights the config does not use, which export would drop: {}",
            left.iter().take(8).copied().collect::<Vec<_>>().join(", ")
        )))
    }
}
