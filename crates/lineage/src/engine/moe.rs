//! The mixture-of-experts FFN on the engine's buffers. The router picks k experts per
//! token (`route`); then, expert by expert, that expert's tokens are gathered into
//! consecutive rows and go through its FFN in one matmul per projection (prefill groups
//! tokens per expert); outputs are added back with their routing weights, in expert
//! order as the reference does, and the shared experts run on every token. Experts stay
//! in their storage format: dense, GGUF blocks, or MXFP4 repacked into ggml's blocks.

use super::dense_ffn::{DenseFfn, Hidden};
use super::lin::Lin;
use super::mat::{dense_vec, Mat};
use super::route::route_row;
use super::state::Scratch;
use crate::config::MoeConfig;
use crate::kernels::quant::{GgmlType, QMatrix};
use crate::plan::{MoePlan, StackSlot};
use crate::weights::{Weight, Weights};
use crate::Result;

#[derive(Debug, Clone)]
pub struct MoeFfn {
    cfg: MoeConfig,
    d: usize,
    router: Lin,
    correction: Option<Vec<f32>>,
    experts: Vec<DenseFfn>,
    shared: Option<DenseFfn>,
}

impl MoeFfn {
    pub fn load(m: &MoePlan, w: &Weights) -> Result<Self> {
        let e = m.cfg.n_experts;
        let correction = m
            .correction
            .as_ref()
            .map(|c| dense_vec(c, w, &[e]))
            .transpose()?;
        let mut gates = match &m.gate {
            Some(g) => expert_lins(w, g)?.into_iter().map(Some).collect(),
            None => vec![None; e],
        };
        let (ups, downs) = (expert_lins(w, &m.up)?, expert_lins(w, &m.down)?);
        let experts = ups
            .into_iter()
            .zip(downs)
            .zip(gates.iter_mut())
            .map(|((up, down), gate)| {
                let parts = gate.take().into_iter().chain([up]).collect();
                DenseFfn::from_parts(m.kind, parts, down)
            })
            .collect();
        Ok(Self {
            cfg: m.cfg.clone(),
            d: m.router.inp,
            router: Lin::load(w, &m.router)?,
            correction,
            experts,
            shared: m
                .shared
                .as_ref()
                .map(|s| DenseFfn::load(s, w))
                .transpose()?,
        })
    }

    /// Widest hidden layer (an expert's or the shared experts').
    pub fn width(&self) -> usize {
        let e = self.experts.first().map_or(0, DenseFfn::width);
        e.max(self.shared.as_ref().map_or(0, DenseFfn::width))
    }

    pub fn n_experts(&self) -> usize {
        self.cfg.n_experts
    }

    /// The sublayer: `Scratch::xn` -> `Scratch::o`.
    pub fn forward(&self, s: &mut Scratch, n: usize) -> Result<()> {
        let (d, ne, k) = (self.d, self.cfg.n_experts, self.cfg.top_k);
        self.router.apply(&s.xn, n, &mut s.route)?;
        // Per expert: (token row, routing weight), tokens in order (the lists live in the
        // scratch, so a decode step allocates nothing once they have grown).
        let mut per = std::mem::take(&mut s.moe_rows);
        per.resize_with(ne, Vec::new);
        per.iter_mut().for_each(Vec::clear);
        let (mut chosen, mut weights) = (Vec::with_capacity(k), Vec::with_capacity(k));
        for i in 0..n {
            let logits = &s.route[i * ne..(i + 1) * ne];
            let corr = self.correction.as_deref();
            route_row(&self.cfg.router, logits, corr, k, &mut chosen, &mut weights);
            for (&e, &wt) in chosen.iter().zip(&weights) {
                per[e].push((i, wt));
            }
        }
        s.o[..n * d].fill(0.0);
        for (e, rows) in per.iter().enumerate() {
            if rows.is_empty() {
                continue; // unselected experts do no work
            }
            for (t, &(i, _)) in rows.iter().enumerate() {
                s.moe_x[t * d..(t + 1) * d].copy_from_slice(&s.xn[i * d..(i + 1) * d]);
            }
            let h = Hidden {
                gate: &mut s.gate,
                up: &mut s.up,
                tmp: &mut s.tmp,
            };
            self.experts[e].apply(&s.moe_x, rows.len(), h, &mut s.moe_y)?;
            for (t, &(i, wt)) in rows.iter().enumerate() {
                let (o, y) = (&mut s.o[i * d..(i + 1) * d], &s.moe_y[t * d..(t + 1) * d]);
                o.iter_mut().zip(y).for_each(|(o, y)| *o += y * wt);
            }
        }
        if let Some(sh) = &self.shared {
            let h = Hidden {
                gate: &mut s.gate,
                up: &mut s.up,
                tmp: &mut s.tmp,
            };
            sh.apply(&s.xn, n, h, &mut s.moe_y)?;
            let (o, y) = (&mut s.o[..n * d], &s.moe_y[..n * d]);
            o.iter_mut().zip(y).for_each(|(o, y)| *o += y);
        }
        s.moe_rows = per;
        Ok(())
    }
}

/// Each expert's matrix of a stack (with its bias row), in the stack's own format.
fn expert_lins(w: &Weights, s: &StackSlot) -> Result<Vec<Lin>> {
    let name = format!("{}.weight", s.name);
    let (rows, cols) = (s.out, s.inp);
    let mats: Vec<Mat> = match w.weight(&name, &[s.experts, rows, cols])? {
        Weight::Dense(t) => {
            let v = t
                .to_dtype(candle_core::DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            v.chunks_exact(rows * cols)
                .map(|c| Mat::Dense {
                    w: c.to_vec().into(),
                    rows,
                    cols,
                })
                .collect()
        }
        Weight::QuantStack(qs) => qs.into_iter().map(Mat::Quant).collect(),
        Weight::Mxfp4(m) => (0..s.experts)
            .map(|e| {
                let b = m.ggml_blocks(e);
                QMatrix::from_vec(&name, GgmlType::MXFP4, rows, cols, b).map(Mat::Quant)
            })
            .collect::<Result<_>>()?,
        Weight::Quant(_) => {
            return Err(crate::Error::BadInput(format!(
                "`{name}`: a 2-D weight where an expert stack belongs"
            )))
        }
    };
    let bias = if s.bias {
        Some(dense_vec(
            &format!("{}.bias", s.name),
            w,
            &[s.experts, rows],
        )?)
    } else {
        None
    };
    Ok(mats
        .into_iter()
        .enumerate()
        .map(|(e, m)| {
            let b = bias.as_ref().map(|b| b[e * rows..(e + 1) * rows].to_vec());
            Lin::from_parts(m, b)
        })
        .collect())
}
