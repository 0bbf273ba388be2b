//! One face for the two forwards: the fast [`Engine`] when the config is in its scope,
//! else the candle [`Model`] (MoE, MLA, ALiBi). Generation and benchmarks go through
//! [`Backend`] and a per-sequence [`Sequence`] and never ask which one runs.

use candle_core::{DType, Device, Tensor};

use super::kv_cache::KvCache;
use crate::engine::{Engine, State};
use crate::model::Model;
use crate::weights::Weights;
use crate::{Error, ModelConfig, Result};

pub enum Backend {
    Engine(Engine),
    Model(Model),
}

impl Backend {
    /// The engine for contexts up to the model's own, or the model when the engine
    /// refuses the config.
    pub fn new(cfg: &ModelConfig, w: &Weights) -> Result<Self> {
        match Engine::new(cfg, w, cfg.context_len) {
            Ok(e) => Ok(Self::Engine(e)),
            Err(Error::EngineUnsupported(_)) => Ok(Self::Model(Model::new(cfg, w)?)),
            Err(e) => Err(e),
        }
    }

    pub fn config(&self) -> &ModelConfig {
        match self {
            Self::Engine(e) => e.config(),
            Self::Model(m) => m.config(),
        }
    }

    /// "engine" or "model", for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Engine(_) => "engine",
            Self::Model(_) => "model",
        }
    }

    /// A fresh sequence (empty cache).
    pub fn start(&self) -> Sequence<'_> {
        let inner = match self {
            Self::Engine(e) => SeqState::Engine(Box::new(e.new_state())),
            Self::Model(m) => SeqState::Model {
                cache: KvCache::new(m.config()),
                logits: Vec::new(),
            },
        };
        Sequence {
            backend: self,
            inner,
        }
    }
}

enum SeqState {
    Engine(Box<State>),
    Model { cache: KvCache, logits: Vec<f32> },
}

/// One sequence being decoded: its KV cache and the last logits.
pub struct Sequence<'a> {
    backend: &'a Backend,
    inner: SeqState,
}

impl Sequence<'_> {
    /// Appends `ids`; logits `[vocab]` of the last position.
    pub fn forward(&mut self, ids: &[u32]) -> Result<&[f32]> {
        match (self.backend, &mut self.inner) {
            (Backend::Engine(e), SeqState::Engine(st)) => e.forward(st, ids),
            (Backend::Model(m), SeqState::Model { cache, logits }) => {
                if ids.is_empty() {
                    return Err(Error::BadInput("forward: no token ids".into()));
                }
                let t = Tensor::new(ids, &Device::Cpu)?.unsqueeze(0)?;
                let l = m.forward(&t, Some(cache))?;
                *logits = l
                    .get(0)?
                    .get(ids.len() - 1)?
                    .to_dtype(DType::F32)?
                    .to_vec1::<f32>()?;
                Ok(logits)
            }
            _ => Err(Error::BadInput("sequence used with another backend".into())),
        }
    }
}
