//! Initial weights of a model trained from scratch, drawn per tensor from a generator
//! seeded by (run seed, tensor name), so adding a tensor never shifts the others.

use candle_core::{DType, Device, Tensor};

use super::settings::InitScheme;
use crate::config::{tensors::tensors, ModelConfig, TensorRole};
use crate::runtime::sampler::rng::SplitMix64;
use crate::weights::Weights;
use crate::Result;

/// Every canonical tensor of `cfg`, initialised by `scheme` with standard deviation `std`.
pub fn init_weights(cfg: &ModelConfig, scheme: InitScheme, std: f64, seed: u64) -> Result<Weights> {
    let mut w = Weights::default();
    let resid = match scheme {
        InitScheme::Gpt2 => std / (2.0 * cfg.n_layers() as f64).sqrt(),
        InitScheme::Normal => std,
    };
    for spec in tensors(cfg) {
        let n: usize = spec.shape.iter().product();
        let values: Vec<f32> = match spec.role {
            TensorRole::Embedding | TensorRole::Matrix => normal(n, std, seed, &spec.name),
            TensorRole::ResidualOut => normal(n, resid, seed, &spec.name),
            TensorRole::NormGain { offset_one } => vec![if offset_one { 0.0 } else { 1.0 }; n],
            TensorRole::Bias => vec![0.0; n],
        };
        let t =
            Tensor::from_vec(values, spec.shape.as_slice(), &Device::Cpu)?.to_dtype(DType::F32)?;
        w.insert(spec.name, t);
    }
    Ok(w)
}

/// `n` draws of N(0, std) by Box-Muller.
fn normal(n: usize, std: f64, seed: u64, name: &str) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed ^ fnv1a(name));
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1 = rng.next_f64().max(f64::MIN_POSITIVE);
        let u2 = rng.next_f64();
        let r = (-2.0 * u1.ln()).sqrt() * std;
        let a = std::f64::consts::TAU * u2;
        out.push((r * a.cos()) as f32);
        out.push((r * a.sin()) as f32);
    }
    out.truncate(n);
    out
}

/// FNV-1a: a stable 64-bit hash of a tensor name.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
