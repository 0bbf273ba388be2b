//! Projections on the engine's buffers: one `y = x W^T + b` ([`Lin`]) and the
//! projections of one input stacked into one matmul where their storage allows ([`Stack`]).

use super::mat::{dense_vec, Mat};
use super::rows::add_bias;
use crate::plan::LinearSlot;
use crate::weights::Weights;
use crate::Result;

/// `y = x W^T + b`.
#[derive(Debug, Clone)]
pub struct Lin {
    w: Mat,
    b: Option<Vec<f32>>,
}

impl Lin {
    pub fn load(w: &Weights, s: &LinearSlot) -> Result<Self> {
        let b = if s.bias {
            Some(dense_vec(&format!("{}.bias", s.name), w, &[s.out])?)
        } else {
            None
        };
        Ok(Self {
            w: Mat::load(w, &format!("{}.weight", s.name), s.out, s.inp)?,
            b,
        })
    }

    /// From a matrix and its bias (an expert's slice of a stack).
    pub fn from_parts(w: Mat, b: Option<Vec<f32>>) -> Self {
        Self { w, b }
    }

    pub fn rows(&self) -> usize {
        self.w.rows()
    }

    pub fn apply(&self, x: &[f32], n: usize, out: &mut [f32]) -> Result<()> {
        self.w.matmul(x, n, out)?;
        if let Some(b) = &self.b {
            add_bias(&mut out[..n * b.len()], b);
        }
        Ok(())
    }
}

/// Projections of one input: stacked into one matmul when their storage allows (the
/// output rows then hold the parts side by side and are split by copying), else apart.
#[derive(Debug, Clone)]
pub enum Stack {
    One(Lin, Vec<usize>),
    Many(Vec<Lin>),
}

impl Stack {
    pub fn new(parts: Vec<Lin>) -> Self {
        let mats: Vec<&Mat> = parts.iter().map(|l| &l.w).collect();
        let Some(w) = Mat::stack(&mats) else {
            return Self::Many(parts);
        };
        let widths: Vec<usize> = parts.iter().map(|l| l.w.rows()).collect();
        let b = if parts.iter().any(|l| l.b.is_some()) {
            let mut b = Vec::new();
            for (l, &wd) in parts.iter().zip(&widths) {
                b.extend(l.b.clone().unwrap_or_else(|| vec![0.0; wd]));
            }
            Some(b)
        } else {
            None
        };
        Self::One(Lin { w, b }, widths)
    }

    /// When the parts are one stacked matrix: its product with `x` `[n, in]` into `tmp`
    /// (row `i` holds the parts side by side) and the row width, `sum(widths)`. `None`
    /// (and nothing computed) when they are apart.
    pub fn stacked_into(&self, x: &[f32], n: usize, tmp: &mut [f32]) -> Result<Option<usize>> {
        match self {
            Self::One(l, widths) => {
                l.apply(x, n, tmp)?;
                Ok(Some(widths.iter().sum()))
            }
            Self::Many(_) => Ok(None),
        }
    }

    /// `outs[p]` = part p of `x` `[n, in]`; `tmp` holds `n * sum(widths)` values.
    pub fn apply(
        &self,
        x: &[f32],
        n: usize,
        tmp: &mut [f32],
        outs: &mut [&mut [f32]],
    ) -> Result<()> {
        match self {
            Self::Many(parts) => parts
                .iter()
                .zip(outs)
                .try_for_each(|(l, o)| l.apply(x, n, o)),
            Self::One(l, widths) => {
                let total: usize = widths.iter().sum();
                l.apply(x, n, tmp)?;
                for i in 0..n {
                    let mut off = i * total;
                    for (&w, o) in widths.iter().zip(outs.iter_mut()) {
                        o[i * w..(i + 1) * w].copy_from_slice(&tmp[off..off + w]);
                        off += w;
                    }
                }
                Ok(())
            }
        }
    }
}
