//! Multi-head latent attention (DeepSeek-V2/V3) on the engine's buffers, with a
//! latent-only cache: per position and layer the normalised latent `c_kv`
//! (kv_lora_rank values) and the shared RoPE key, nothing per head. Attention is
//! absorbed (DeepSeek-V2 paper, §2.1.2): head h's query becomes `W_UK_hᵀ q_nope_h` in
//! latent space, so the scores are `q_lat · c_j + q_pe · k_pe_j`, the weighted sum is
//! taken over the latents, and `W_UV_h` expands it once per query instead of once per
//! cached position. The same arithmetic as `crate::model::mla`, reassociated.

use super::attend::AttnIo;
use super::attend_latent::{attend_latent, LatentSpec};
use super::layer::{write_kv, Seg};
use super::lin::Lin;
use super::mat::Mat;
use super::rows::{rope_head, RowNorm};
use super::self_attn::io_of;
use super::state::Scratch;
use super::Dims;
use crate::config::MlaConfig;
use crate::plan::{LatentPlan, LatentQuery};
use crate::weights::Weights;
use crate::Result;

#[derive(Debug, Clone)]
enum Query {
    Direct(Lin),
    LoRa { down: Lin, norm: RowNorm, up: Lin },
}

#[derive(Debug, Clone)]
pub struct LatentAttn {
    m: MlaConfig,
    n_heads: usize,
    scale: f32,
    query: Query,
    kv_a: Lin,
    kv_norm: RowNorm,
    /// Per head: `W_UK_hᵀ` `[r, nope]` (absorbs the query) and `W_UV_h` `[v, r]`.
    uk_t: Vec<Mat>,
    uv: Vec<Mat>,
    o: Lin,
    window: Option<usize>,
    rope: Option<usize>,
}

impl LatentAttn {
    pub fn load(l: &LatentPlan, w: &Weights, rope: Option<usize>) -> Result<Self> {
        let query = match &l.query {
            LatentQuery::Direct(q) => Query::Direct(Lin::load(w, q)?),
            LatentQuery::LoRa { down, norm, up } => Query::LoRa {
                down: Lin::load(w, down)?,
                norm: RowNorm::of(w, norm)?,
                up: Lin::load(w, up)?,
            },
        };
        let (uk_t, uv) = split_kv_b(l, w)?;
        Ok(Self {
            m: l.m.clone(),
            n_heads: l.n_heads,
            scale: l.scale as f32,
            query,
            kv_a: Lin::load(w, &l.kv_a)?,
            kv_norm: RowNorm::of(w, &l.kv_norm)?,
            uk_t,
            uv,
            o: Lin::load(w, &l.o)?,
            window: l.sees.window,
            rope,
        })
    }

    pub fn forward(
        &self,
        dm: &Dims,
        s: &mut Scratch,
        segs: &mut [Seg],
        li: usize,
        n: usize,
    ) -> Result<()> {
        let m = &self.m;
        let (h, r, pe) = (self.n_heads, m.kv_lora_rank, m.qk_rope_head_dim);
        let (nope, vd) = (m.qk_nope_head_dim, m.v_head_dim);
        let (qk, kw) = (nope + pe, r + pe);
        let q = &mut s.q[..n * h * qk];
        match &self.query {
            Query::Direct(l) => l.apply(&s.xn, n, q)?,
            Query::LoRa { down, norm, up } => {
                let t = &mut s.tmp[..n * down.rows()];
                down.apply(&s.xn, n, t)?;
                norm.apply_inplace(t);
                up.apply(t, n, q)?;
            }
        }
        let kv = &mut s.k[..n * kw];
        self.kv_a.apply(&s.xn, n, kv)?;
        for row in kv.chunks_exact_mut(kw) {
            self.kv_norm.apply_inplace(&mut row[..r]);
        }
        if let Some(ri) = self.rope {
            let (half, pairing) = (dm.rope_half[ri], dm.rope_pairing[ri]);
            for i in 0..n {
                let c = &s.cos[ri][i * half..(i + 1) * half];
                let sn = &s.sin[ri][i * half..(i + 1) * half];
                for hh in 0..h {
                    let at = i * h * qk + hh * qk + nope;
                    rope_head(&mut q[at..at + pe], c, sn, pairing);
                }
                rope_head(&mut kv[i * kw + r..(i + 1) * kw], c, sn, pairing);
            }
        }
        write_kv(segs, li, kv, kw, &[], 0);
        self.absorb_queries(s, n)?;
        let spec = LatentSpec {
            n_heads: h,
            rank: r,
            width: kw,
            scale: self.scale,
            window: self.window,
        };
        let (qa, lat) = (&s.v[..n * h * kw], &mut s.lat[..n * h * r]);
        match segs {
            // One sequence (every `lineage run` step): no list to build.
            [g] => attend_latent(&spec, &[io_of(g, qa, h * kw, li)], lat),
            _ => {
                let ios: Vec<AttnIo> = segs.iter().map(|g| io_of(g, qa, h * kw, li)).collect();
                attend_latent(&spec, &ios, lat)
            }
        }
        self.expand_values(s, n, vd)?;
        self.o.apply(&s.att, n, &mut s.o)
    }

    /// `s.v` `[n, H, r + pe]` = per head (`W_UK_hᵀ q_nope`, `q_pe`) from `s.q`.
    fn absorb_queries(&self, s: &mut Scratch, n: usize) -> Result<()> {
        let m = &self.m;
        let (h, r, pe, nope) = (
            self.n_heads,
            m.kv_lora_rank,
            m.qk_rope_head_dim,
            m.qk_nope_head_dim,
        );
        let (qk, kw) = (nope + pe, r + pe);
        let (xin, xout) = s.tmp.split_at_mut(n * nope);
        for (hh, uk) in self.uk_t.iter().enumerate() {
            for i in 0..n {
                let at = i * h * qk + hh * qk;
                xin[i * nope..(i + 1) * nope].copy_from_slice(&s.q[at..at + nope]);
            }
            uk.matmul(xin, n, xout)?;
            for i in 0..n {
                let (at, src) = (i * h * kw + hh * kw, i * h * qk + hh * qk + nope);
                s.v[at..at + r].copy_from_slice(&xout[i * r..(i + 1) * r]);
                s.v[at + r..at + kw].copy_from_slice(&s.q[src..src + pe]);
            }
        }
        Ok(())
    }

    /// `s.att` `[n, H * v]` = per head `W_UV_h` times its latent output in `s.lat`.
    fn expand_values(&self, s: &mut Scratch, n: usize, vd: usize) -> Result<()> {
        let (h, r) = (self.n_heads, self.m.kv_lora_rank);
        let (xin, xout) = s.tmp.split_at_mut(n * r);
        for (hh, uv) in self.uv.iter().enumerate() {
            for i in 0..n {
                let at = (i * h + hh) * r;
                xin[i * r..(i + 1) * r].copy_from_slice(&s.lat[at..at + r]);
            }
            uv.matmul(xin, n, xout)?;
            for i in 0..n {
                let at = (i * h + hh) * vd;
                s.att[at..at + vd].copy_from_slice(&xout[i * vd..(i + 1) * vd]);
            }
        }
        Ok(())
    }

    /// Scratch widths: q, the latent row, absorbed queries, latent outputs, values, tmp.
    pub fn widths(&self) -> LatentWidths {
        let m = &self.m;
        let (h, r, pe) = (self.n_heads, m.kv_lora_rank, m.qk_rope_head_dim);
        let (nope, vd) = (m.qk_nope_head_dim, m.v_head_dim);
        let q_lora = match &self.query {
            Query::LoRa { down, .. } => down.rows(),
            Query::Direct(_) => 0,
        };
        LatentWidths {
            q: h * (nope + pe),
            k: r + pe,
            qa: h * (r + pe),
            lat: h * r,
            att: h * vd,
            tmp: q_lora.max(nope + r).max(r + vd),
        }
    }
}

/// Per-row widths of the buffers a latent layer uses.
pub struct LatentWidths {
    pub q: usize,
    pub k: usize,
    pub qa: usize,
    pub lat: usize,
    pub att: usize,
    pub tmp: usize,
}

/// `attn_kv_b` `[H * (nope + v), r]` into per-head `W_UK_hᵀ` `[r, nope]` and `W_UV_h`
/// `[v, r]` (dense f32: the absorption reads `W_UK` transposed).
fn split_kv_b(l: &LatentPlan, w: &Weights) -> Result<(Vec<Mat>, Vec<Mat>)> {
    let m = &l.m;
    let (r, nope, vd) = (m.kv_lora_rank, m.qk_nope_head_dim, m.v_head_dim);
    let kv_b = dense_kv_b(l, w)?;
    let (mut uk_t, mut uv) = (Vec::new(), Vec::new());
    for h in 0..l.n_heads {
        let head = &kv_b[h * (nope + vd) * r..(h + 1) * (nope + vd) * r];
        let mut t = vec![0f32; r * nope];
        for i in 0..nope {
            for c in 0..r {
                t[c * nope + i] = head[i * r + c];
            }
        }
        uk_t.push(Mat::Dense {
            w: t.into(),
            rows: r,
            cols: nope,
        });
        uv.push(Mat::Dense {
            w: head[nope * r..].to_vec().into(),
            rows: vd,
            cols: r,
        });
    }
    Ok((uk_t, uv))
}

/// `attn_kv_b` as f32 values, dense or dequantised.
fn dense_kv_b(l: &LatentPlan, w: &Weights) -> Result<Vec<f32>> {
    let s = &l.kv_b;
    let mat = Mat::load(w, &format!("{}.weight", s.name), s.out, s.inp)?;
    let mut out = vec![0f32; s.out * s.inp];
    for (row, o) in out.chunks_exact_mut(s.inp).enumerate() {
        mat.row_into(row, o)?;
    }
    Ok(out)
}
