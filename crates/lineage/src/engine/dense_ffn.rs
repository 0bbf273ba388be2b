//! The dense FFN on the engine's buffers: gate|up in one stacked matmul, the activation
//! read straight from its rows (ffn_act.rs), then `ffn_down`. Also the shape of one
//! expert and of shared experts.

use super::ffn_act::{ffn_act_rows, Rows};
use super::lin::{Lin, Stack};
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
        let (w, nf) = (self.width, n * self.width);
        // The up part's place in a row of the projections: after the gate, if any.
        let up_at = usize::from(!matches!(self.kind, FfnKind::Mlp(_)));
        let act_out = &mut h.up[..nf];
        let rows = |buf, stride, at| Rows {
            buf,
            stride,
            at,
            width: w,
        };
        match self.gate_up.stacked_into(x, n, h.tmp)? {
            Some(total) => {
                let both = &h.tmp[..n * total];
                let (gate, up) = (rows(both, total, 0), rows(both, total, up_at * w));
                ffn_act_rows(self.kind, gate, up, act_out);
            }
            None => {
                let (gate, staged) = (&mut h.gate[..nf], &mut h.tmp[..nf]);
                let mut outs = [gate, staged];
                // Apart, the parts need no stacking scratch.
                self.gate_up.apply(x, n, &mut [], &mut outs[1 - up_at..])?;
                let (gate, up) = (rows(&h.gate[..nf], w, 0), rows(&h.tmp[..nf], w, 0));
                ffn_act_rows(self.kind, gate, up, act_out);
            }
        }
        self.down.apply(&h.up[..nf], n, out)
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
