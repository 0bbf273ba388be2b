//! KV cache: per layer two tensors stacked along the sequence dim (dim 2). Full layers
//! keep everything; sliding-window layers keep at most W positions (a ring of the last
//! W, which is all a window can see); latent (MLA) layers store the compressed KV and
//! the shared RoPE key instead of per-head K and V.

use candle_core::{Tensor, D};

use crate::config::{AttentionKind, ModelConfig};
use crate::Result;

/// One layer's cache.
#[derive(Debug, Clone, Default)]
pub struct LayerCache {
    a: Option<Tensor>,
    b: Option<Tensor>,
    /// Absolute position of the first cached entry.
    start: usize,
    /// Keep at most this many entries (sliding window).
    cap: Option<usize>,
}

impl LayerCache {
    pub fn new(cap: Option<usize>) -> Self {
        Self {
            cap,
            ..Default::default()
        }
    }

    /// Appends `[B, h, T, d]` entries; returns everything attention may use now and the
    /// absolute position of its first entry. Trims to the window afterwards.
    pub fn append(&mut self, a: &Tensor, b: &Tensor) -> Result<(Tensor, Tensor, usize)> {
        let (a_all, b_all) = match (&self.a, &self.b) {
            (Some(pa), Some(pb)) => (Tensor::cat(&[pa, a], 2)?, Tensor::cat(&[pb, b], 2)?),
            _ => (a.clone(), b.clone()),
        };
        let start = self.start;
        let len = a_all.dim(2)?;
        let keep = self.cap.map_or(len, |c| c.min(len));
        let drop = len - keep;
        self.a = Some(a_all.narrow(2, drop, keep)?.contiguous()?);
        self.b = Some(b_all.narrow(2, drop, keep)?.contiguous()?);
        self.start = start + drop;
        Ok((a_all, b_all, start))
    }

    /// Cached positions.
    pub fn len(&self) -> usize {
        self.a.as_ref().map_or(0, |t| t.dim(2).unwrap_or(0))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        [&self.a, &self.b]
            .iter()
            .filter_map(|t| t.as_ref())
            .map(|t| t.elem_count() * t.dtype().size_in_bytes())
            .sum()
    }

    /// Values stored per position per batch row (sum of both tensors' head*dim).
    pub fn values_per_token(&self) -> usize {
        let per = |t: &Option<Tensor>| {
            t.as_ref()
                .map_or(0, |t| t.dim(1).unwrap_or(0) * t.dim(D::Minus1).unwrap_or(0))
        };
        per(&self.a) + per(&self.b)
    }
}

/// The whole model's cache and the number of positions processed so far.
#[derive(Debug, Clone)]
pub struct KvCache {
    pub layers: Vec<LayerCache>,
    pub pos: usize,
}

impl KvCache {
    pub fn new(cfg: &ModelConfig) -> Self {
        let layers = cfg
            .layers
            .iter()
            .map(|l| LayerCache::new(l.window))
            .collect();
        Self { layers, pos: 0 }
    }

    pub fn bytes(&self) -> usize {
        self.layers.iter().map(LayerCache::bytes).sum()
    }

    /// Whether the config's attention stores a latent rather than per-head K/V.
    pub fn is_latent(cfg: &ModelConfig) -> bool {
        matches!(cfg.attention.kind, AttentionKind::Latent(_))
    }
}
