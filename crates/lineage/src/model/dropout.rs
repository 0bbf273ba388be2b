//! Inverted dropout for training (Srivastava et al. 2014): each element is zeroed with
//! probability p and the survivors scaled by 1/(1-p), so inference needs no rescale.
//! Masks come from SplitMix64 seeded by (run seed, step, call index): a training step is
//! a pure function of its inputs, which is what makes `--resume` bit-exact.

use std::cell::Cell;

use candle_core::Tensor;

use crate::runtime::sampler::rng::SplitMix64;
use crate::Result;

/// Dropout for one forward pass; each `apply` draws a fresh mask.
#[derive(Debug)]
pub struct Dropout {
    p: f64,
    seed: u64,
    calls: Cell<u64>,
}

impl Dropout {
    /// `p` in [0, 1); `seed` should differ per step and micro-batch.
    pub fn new(p: f64, seed: u64) -> Self {
        Self {
            p,
            seed,
            calls: Cell::new(0),
        }
    }

    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        if self.p <= 0.0 {
            return Ok(x.clone());
        }
        let call = self.calls.get();
        self.calls.set(call + 1);
        let mut rng = SplitMix64::new(self.seed ^ call.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let keep = 1.0 / (1.0 - self.p);
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| {
                if rng.next_f64() >= self.p {
                    keep as f32
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
        Ok((x * mask)?)
    }
}
