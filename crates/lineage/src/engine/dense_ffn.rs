//! The dense FFN on the engine's buffers: gate|up in one stacked matmul, the activation
//! fused in place, then `ffn_down`. Also the shape of one expert and of shared experts.

use super::lin::{Lin, Stack};
use super::rows::ffn_act;
use super::state::Scratch;
use crate::config::FfnKind;
use crate::plan::DensePlan;
use crate::weights::Weights;
use crate::Result;

#[derive(Debug, Clone)]
pub struct DenseFfn {
    kind: FfnKind,
    /// [gate,] up.
    gate_up: Stack,
    down: Lin,
    width: usize,
}

impl DenseFfn {
    pub fn load(f: &DensePlan, w: &Weights) -> Result<Self> {
        let mut parts = Vec::new();
        if let Some(g) = &f.gate {
            parts.push(Lin::load(w, g)?);
        }
        parts.push(Lin::load(w, &f.up)?);
        Ok(Self::from_parts(f.kind, parts, Lin::load(w, &f.down)?))
    }

    /// From its projections: `[gate,] up` and down (an expert's slices of the stacks).
    pub fn from_parts(kind: FfnKind, gate_up: Vec<Lin>, down: Lin) -> Self {
        let width = gate_up.last().map_or(0, Lin::rows);
        Self {
            kind,
            gate_up: Stack::new(gate_up),
            down,
            width,
        }
    }

    /// Hidden width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// `out[..n, d]` = FFN of `x[..n, d]`, with `gate`, `up` and `tmp` as hidden buffers.
    pub fn apply(&self, x: &[f32], n: usize, h: Hidden, out: &mut [f32]) -> Result<()> {
        let nf = n * self.width;
        let (gate, up) = (&mut h.gate[..nf], &mut h.up[..nf]);
        match self.kind {
            FfnKind::Mlp(_) => self.gate_up.apply(x, n, h.tmp, &mut [&mut *up])?,
            _ => self
                .gate_up
                .apply(x, n, h.tmp, &mut [&mut *gate, &mut *up])?,
        }
        ffn_act(self.kind, gate, up);
        self.down.apply(up, n, out)
    }

    /// The sublayer: `Scratch::xn` -> `Scratch::o`.
    pub fn forward(&self, s: &mut Scratch, n: usize) -> Result<()> {
        let h = Hidden {
            gate: &mut s.gate,
            up: &mut s.up,
            tmp: &mut s.tmp,
        };
        self.apply(&s.xn, n, h, &mut s.o)
    }
}

/// The hidden buffers an FFN writes.
pub struct Hidden<'a> {
    pub gate: &'a mut [f32],
    pub up: &'a mut [f32],
    pub tmp: &'a mut [f32],
}
