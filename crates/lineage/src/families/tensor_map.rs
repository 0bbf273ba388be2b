//! Maps checkpoint tensors onto canonical names, once, at load: renames, Conv1D
//! transposes, fused-projection splits and expert stacking. Every checkpoint tensor must
//! be consumed, so a weight the adapter does not understand is an error, not a silent drop.

use std::collections::BTreeSet;

use candle_core::{Tensor, D};

use crate::weights::safetensors::Checkpoint;
use crate::weights::{Mxfp4Tensor, Weight, Weights};
use crate::{Error, Result};

/// Non-parameter buffers some checkpoints carry.
const BUFFERS: &[&str] = &["rotary_emb.inv_freq", "attn.bias", "attn.masked_bias"];

pub struct TensorMap<'a> {
    ck: &'a Checkpoint,
    out: Weights,
    used: BTreeSet<String>,
}

impl<'a> TensorMap<'a> {
    pub fn new(ck: &'a Checkpoint) -> Self {
        Self {
            ck,
            out: Weights::default(),
            used: BTreeSet::new(),
        }
    }

    pub fn has(&self, hf: &str) -> bool {
        self.ck.contains(hf)
    }

    /// Reads a checkpoint tensor as f32 and marks it consumed.
    pub fn take(&mut self, hf: &str) -> Result<Tensor> {
        let t = self.ck.tensor(hf)?;
        self.used.insert(hf.to_string());
        Ok(t)
    }

    pub fn put(&mut self, canon: impl Into<String>, t: Tensor) {
        self.out.insert(canon, t);
    }

    /// `hf` -> `canon` when present (absence is reported by the model builder if needed).
    pub fn rename(&mut self, hf: &str, canon: &str) -> Result<()> {
        if self.has(hf) {
            let t = self.take(hf)?;
            self.put(canon, t);
        }
        Ok(())
    }

    /// Renames `{hf}.weight`/`{hf}.bias` to `{canon}.weight`/`{canon}.bias`.
    pub fn rename_wb(&mut self, hf: &str, canon: &str) -> Result<()> {
        self.rename(&format!("{hf}.weight"), &format!("{canon}.weight"))?;
        self.rename(&format!("{hf}.bias"), &format!("{canon}.bias"))
    }

    /// Applies `(hf_suffix, canon_suffix)` weight/bias renames for every layer.
    pub fn rename_layers(
        &mut self,
        n: usize,
        hf_prefix: &str,
        table: &[(&str, &str)],
    ) -> Result<()> {
        for i in 0..n {
            for (h, c) in table {
                self.rename_wb(&format!("{hf_prefix}.{i}.{h}"), &format!("blk.{i}.{c}"))?;
            }
        }
        Ok(())
    }

    /// GPT-2 `Conv1D` stores `[in, out]`: transpose to `[out, in]`.
    pub fn take_transposed(&mut self, hf: &str) -> Result<Tensor> {
        Ok(self.take(hf)?.t()?.contiguous()?)
    }

    /// Splits dim 0 of `t` into consecutive parts with the given row counts.
    pub fn split_rows(t: &Tensor, rows: &[usize]) -> Result<Vec<Tensor>> {
        let total: usize = rows.iter().sum();
        if t.dim(0)? != total {
            return Err(Error::ShapeMismatch {
                name: "fused projection".into(),
                expected: vec![total],
                found: t.dims().to_vec(),
            });
        }
        let mut start = 0;
        let mut parts = Vec::new();
        for &r in rows {
            parts.push(t.narrow(0, start, r)?.contiguous()?);
            start += r;
        }
        Ok(parts)
    }

    /// Stacks per-expert matrices `{prefix}.{e}.{name}.weight` into `[E, out, in]`.
    pub fn stack_experts(&mut self, prefix: &str, name: &str, n: usize, canon: &str) -> Result<()> {
        let mut mats = Vec::with_capacity(n);
        for e in 0..n {
            mats.push(self.take(&format!("{prefix}.{e}.{name}.weight"))?);
        }
        let stacked = Tensor::stack(&mats, 0)?;
        self.put(canon, stacked);
        Ok(())
    }

    /// An MXFP4 pair `{hf}_blocks`, `{hf}_scales`, kept packed.
    pub fn take_mxfp4(&mut self, hf: &str, canon: &str) -> Result<()> {
        let (b, s) = (format!("{hf}_blocks"), format!("{hf}_scales"));
        let (bi, si) = (
            self.ck.info(&b)?.shape.clone(),
            self.ck.info(&s)?.shape.clone(),
        );
        let m = Mxfp4Tensor::new(hf, self.ck.bytes(&b)?, &bi, self.ck.bytes(&s)?, &si)?;
        self.used.insert(b);
        self.used.insert(s);
        self.out.insert_weight(canon, Weight::Mxfp4(m));
        Ok(())
    }

    /// Splits a packed MXFP4 stack whose rows alternate between two matrices.
    pub fn split_mxfp4_rows(&mut self, fused: &str, names: [String; 2]) -> Result<()> {
        let Some(Weight::Mxfp4(m)) = self.out.remove(fused) else {
            return Err(Error::MissingTensor {
                name: fused.to_string(),
            });
        };
        for (k, n) in names.into_iter().enumerate() {
            self.out
                .insert_weight(n, Weight::Mxfp4(m.rows_strided(k, 2)));
        }
        Ok(())
    }

    /// Finishes the mapping; any unconsumed checkpoint tensor is an error.
    pub fn finish(self) -> Result<Weights> {
        let left: Vec<&str> = self
            .ck
            .names()
            .filter(|n| !self.used.contains(*n) && !BUFFERS.iter().any(|b| n.ends_with(b)))
            .collect();
        if !left.is_empty() {
            let mut left: Vec<String> = left.into_iter().map(String::from).collect();
            left.sort();
            return Err(Error::BadInput(format!(
                "checkpoint tensors the adapter does not map: {}",
                left.iter().take(8).cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(self.out)
    }
}

/// Splits the last dim's interleaved pairs `[a0, b0, a1, b1, ...]` into `(a, b)`.
pub fn deinterleave_last(t: &Tensor) -> Result<(Tensor, Tensor)> {
    let n = t.dim(D::Minus1)?;
    let mut shape = t.dims().to_vec();
    shape.pop();
    let mut pairs = shape.clone();
    pairs.extend([n / 2, 2]);
    let v = t.reshape(pairs)?;
    let a = v
        .narrow(D::Minus1, 0, 1)?
        .squeeze(D::Minus1)?
        .contiguous()?;
    let b = v
        .narrow(D::Minus1, 1, 1)?
        .squeeze(D::Minus1)?
        .contiguous()?;
    Ok((a, b))
}
