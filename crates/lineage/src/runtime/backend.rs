//! The face generation, the server and benchmarks use: the fast [`Engine`], which runs
//! every family of the layer plan (the candle `Model` is the differentiable reference
//! for training and tests, never an inference fallback), and a per-sequence [`Sequence`].

use crate::engine::prefix::PrefixCache;
use crate::engine::{Batch, Engine, State};
use crate::weights::Weights;
use crate::{ModelConfig, Result};

pub struct Backend {
    engine: Engine,
}

impl Backend {
    /// The engine for contexts up to the model's own.
    pub fn new(cfg: &ModelConfig, w: &Weights) -> Result<Self> {
        Ok(Self {
            engine: Engine::new(cfg, w, cfg.context_len)?,
        })
    }

    /// The backend with its KV cache storing `ty` (`engine::KvType`; f32 by default).
    pub fn with_kv_type(self, ty: crate::engine::KvType) -> Result<Self> {
        Ok(Self {
            engine: self.engine.with_kv_type(ty)?,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        self.engine.config()
    }

    /// The engine itself (speculative decoding drives it directly).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Which forward runs, for reports: always "engine".
    pub fn name(&self) -> &'static str {
        "engine"
    }

    /// A fresh sequence (empty cache).
    pub fn start(&self) -> Sequence<'_> {
        Sequence {
            backend: self,
            st: Box::new(self.engine.new_state()),
        }
    }
}

/// Scratch shared by the batched forwards of one thread ([`Backend::forward_batch`]).
pub struct BatchScratch {
    engine: Batch,
}

impl Backend {
    pub fn new_batch(&self) -> BatchScratch {
        BatchScratch {
            engine: self.engine.new_batch(),
        }
    }

    /// One forward over several sequences: each item's ids are appended to its sequence.
    /// Returns `[items, vocab]`, the logits of each item's last position, bit-identical
    /// to what each sequence's own forward gives. The engine reads each weight once for
    /// the whole batch (at most `engine::MAX_BATCH` ids in all).
    pub fn forward_batch<'b>(
        &self,
        b: &'b mut BatchScratch,
        items: &mut [(&mut Sequence<'_>, &[u32])],
    ) -> Result<&'b [f32]> {
        let mut states: Vec<(&mut State, &[u32])> = items
            .iter_mut()
            .map(|(seq, ids)| (&mut *seq.st, *ids))
            .collect();
        self.engine.forward_batch(&mut b.engine, &mut states)
    }

    /// KV blocks held by the engine's sequences and prefix cache.
    pub fn live_blocks(&self) -> usize {
        self.engine.live_blocks()
    }

    /// Whether sequences of this backend can reuse cached prefixes.
    pub fn prefix_cacheable(&self) -> bool {
        self.engine.prefix_cacheable()
    }
}

/// One sequence being decoded: its KV cache and the last logits.
pub struct Sequence<'a> {
    backend: &'a Backend,
    st: Box<State>,
}

impl Sequence<'_> {
    /// Starts this fresh sequence with the cached blocks of the longest cached prefix of
    /// `tokens` (leaving at least one token to compute); returns the positions reused.
    pub fn attach_prefix(&mut self, cache: &mut PrefixCache, tokens: &[u32]) -> usize {
        if self.backend.prefix_cacheable() {
            cache.attach(&mut self.st, tokens)
        } else {
            0
        }
    }

    /// KV cache bytes per position: the paged cache's f32 rows of every layer (K and V,
    /// or MLA's latent and RoPE key).
    pub fn kv_bytes_per_token(&self) -> Option<usize> {
        Some(self.st.kv().block_bytes() / crate::engine::kv::BLOCK)
    }

    /// Offers the full blocks of this sequence, whose positions hold `tokens`, to `cache`.
    pub fn publish_prefix(&self, cache: &mut PrefixCache, tokens: &[u32]) {
        if self.backend.prefix_cacheable() {
            cache.publish(&self.st, tokens);
        }
    }

    /// Appends `ids`; logits `[vocab]` of the last position.
    pub fn forward(&mut self, ids: &[u32]) -> Result<&[f32]> {
        self.backend.engine.forward(&mut self.st, ids)
    }
}
