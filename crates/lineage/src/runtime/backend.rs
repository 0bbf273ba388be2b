//! One face for the two forwards: the fast [`Engine`] when the config is in its scope,
//! else the candle [`Model`] (MoE, MLA, ALiBi). Generation and benchmarks go through
//! [`Backend`] and a per-sequence [`Sequence`] and never ask which one runs.

use candle_core::{DType, Device, Tensor};

use super::kv_cache::KvCache;
use crate::engine::prefix::PrefixCache;
use crate::engine::{Batch, Engine, State};
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

/// Scratch shared by the batched forwards of one thread ([`Backend::forward_batch`]).
pub struct BatchScratch {
    engine: Option<Batch>,
    logits: Vec<f32>,
}

impl Backend {
    pub fn new_batch(&self) -> BatchScratch {
        BatchScratch {
            engine: match self {
                Self::Engine(e) => Some(e.new_batch()),
                Self::Model(_) => None,
            },
            logits: Vec::new(),
        }
    }

    /// One forward over several sequences: each item's ids are appended to its sequence.
    /// Returns `[items, vocab]`, the logits of each item's last position, bit-identical
    /// to what each sequence's own forward gives. The engine reads each weight once for
    /// the whole batch (at most `engine::MAX_BATCH` ids in all); the candle model runs
    /// the sequences one after another.
    pub fn forward_batch<'b>(
        &self,
        b: &'b mut BatchScratch,
        items: &mut [(&mut Sequence<'_>, &[u32])],
    ) -> Result<&'b [f32]> {
        if let (Self::Engine(e), Some(batch)) = (self, b.engine.as_mut()) {
            let mut states = Vec::with_capacity(items.len());
            for (seq, ids) in items.iter_mut() {
                match &mut seq.inner {
                    SeqState::Engine(st) => states.push((&mut **st, *ids)),
                    SeqState::Model { .. } => {
                        return Err(Error::BadInput("sequence used with another backend".into()))
                    }
                }
            }
            return e.forward_batch(batch, &mut states);
        }
        b.logits.clear();
        for (seq, ids) in items.iter_mut() {
            b.logits.extend_from_slice(seq.forward(ids)?);
        }
        Ok(&b.logits)
    }

    /// KV blocks held by the engine's sequences and prefix cache (0 for the model).
    pub fn live_blocks(&self) -> usize {
        match self {
            Self::Engine(e) => e.live_blocks(),
            Self::Model(_) => 0,
        }
    }

    /// Whether sequences of this backend can reuse cached prefixes.
    pub fn prefix_cacheable(&self) -> bool {
        matches!(self, Self::Engine(e) if e.prefix_cacheable())
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
    /// Starts this fresh sequence with the cached blocks of the longest cached prefix of
    /// `tokens` (leaving at least one token to compute); returns the positions reused.
    pub fn attach_prefix(&mut self, cache: &mut PrefixCache, tokens: &[u32]) -> usize {
        match &mut self.inner {
            SeqState::Engine(st) if self.backend.prefix_cacheable() => cache.attach(st, tokens),
            _ => 0,
        }
    }

    /// KV cache bytes per position (engine: the paged cache's f32 K and V of every layer;
    /// `None` for the candle model, whose cache is candle tensors).
    pub fn kv_bytes_per_token(&self) -> Option<usize> {
        match &self.inner {
            SeqState::Engine(st) => Some(st.kv().block_bytes() / crate::engine::kv::BLOCK),
            SeqState::Model { .. } => None,
        }
    }

    /// Offers the full blocks of this sequence, whose positions hold `tokens`, to `cache`.
    pub fn publish_prefix(&self, cache: &mut PrefixCache, tokens: &[u32]) {
        if let SeqState::Engine(st) = &self.inner {
            if self.backend.prefix_cacheable() {
                cache.publish(st, tokens);
            }
        }
    }

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
