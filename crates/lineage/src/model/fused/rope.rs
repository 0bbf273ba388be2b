//! Rotary embeddings on `[B, T, H, d]` (the projections' own layout: no transpose),
//! rotating each pair `(x1, x2)` of the first `rotary_dim` dims by the angle of its
//! position: `(x1 c - x2 s, x2 c + x1 s)`. The backward is the rotation by minus the
//! angle (the transpose of a rotation), so one kernel does both.

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::cpu::{by_dtype, contiguous, par_for, tensor, with_slice, Shared};
use super::Float;
use crate::config::RopePairing;

/// The widest rotation the kernel takes (every real model's head is at most 256 wide).
pub const MAX_ROTARY: usize = 512;

/// The name its errors carry.
const OP: &str = "fused rope";

/// `x` `[B, T, H, d]` rotated by `cos`/`sin` `[T, rotary_dim / 2]` (row t for position t).
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor, pairing: RopePairing) -> crate::Result<Tensor> {
    let op = Rope { pairing };
    Ok(x.contiguous()?
        .apply_op3(&cos.contiguous()?, &sin.contiguous()?, op)?)
}

struct Rope {
    pairing: RopePairing,
}

/// Rows (one position of one sequence, every head) per parallel task.
const ROWS: usize = 16;

impl Rope {
    /// `y = R(±θ) x` over every row of `[B, T, H, d]`; `sign` is -1 for the backward.
    fn rotate<T: Float>(&self, x: &[T], dims: &[usize], cos: &[T], sin: &[T], sign: T) -> Vec<T> {
        let (t, h, d) = (dims[1], dims[2], dims[3]);
        let half = cos.len() / t.max(1);
        let width = h * d;
        let rows = x.len() / width.max(1);
        let mut y = x.to_vec();
        let out = Shared::new(&mut y);
        par_for(rows.div_ceil(ROWS), |blk| {
            let (r0, r1) = (blk * ROWS, ((blk + 1) * ROWS).min(rows));
            // SAFETY: block `blk` writes only its own rows.
            let ys = unsafe { out.slice(r0 * width, (r1 - r0) * width) };
            for (r, row) in (r0..r1).zip(ys.chunks_exact_mut(width)) {
                let pos = r % t;
                let (c, s) = (&cos[pos * half..][..half], &sin[pos * half..][..half]);
                for head in row.chunks_exact_mut(d) {
                    self.rotate_head(head, c, s, sign);
                }
            }
        });
        y
    }

    #[inline(always)]
    fn rotate_head<T: Float>(&self, x: &mut [T], c: &[T], s: &[T], sign: T) {
        let half = c.len();
        match self.pairing {
            RopePairing::RotateHalf => {
                let (a, b) = x.split_at_mut(half);
                for i in 0..half {
                    let (x1, x2, si) = (a[i], b[i], sign * s[i]);
                    a[i] = x1 * c[i] - x2 * si;
                    b[i] = x2 * c[i] + x1 * si;
                }
            }
            // HF's interleaved form de-interleaves as it rotates: pair (x[2i], x[2i+1])
            // lands at (y[i], y[half + i]). The backward reads the halves and writes the
            // pairs back.
            RopePairing::Interleaved => {
                let mut pairs = [T::ZERO; 2];
                let mut tmp = [T::ZERO; MAX_ROTARY];
                let tmp = &mut tmp[..2 * half];
                for i in 0..half {
                    let si = sign * s[i];
                    if sign > T::ZERO {
                        pairs[0] = x[2 * i];
                        pairs[1] = x[2 * i + 1];
                    } else {
                        pairs[0] = x[i];
                        pairs[1] = x[half + i];
                    }
                    let (x1, x2) = (pairs[0], pairs[1]);
                    let (o1, o2) = (x1 * c[i] - x2 * si, x2 * c[i] + x1 * si);
                    if sign > T::ZERO {
                        tmp[i] = o1;
                        tmp[half + i] = o2;
                    } else {
                        tmp[2 * i] = o1;
                        tmp[2 * i + 1] = o2;
                    }
                }
                x[..2 * half].copy_from_slice(tmp);
            }
        }
    }
}

fn check(xl: &Layout, cl: &Layout, sl: &Layout) -> Result<()> {
    let (x, c) = (xl.dims(), cl.dims());
    let ok = x.len() == 4
        && c.len() == 2
        && c[0] == x[1]
        && 2 * c[1] <= x[3]
        && 2 * c[1] <= MAX_ROTARY
        && cl.dims() == sl.dims();
    if !ok {
        bail!("fused rope: x {x:?} with tables {c:?}");
    }
    Ok(())
}

impl CustomOp3 for Rope {
    fn name(&self) -> &'static str {
        "fused_rope"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        c: &CpuStorage,
        cl: &Layout,
        s: &CpuStorage,
        sl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        super::count(self.name());
        check(xl, cl, sl)?;
        let out = match (x, c, s) {
            (CpuStorage::F32(x), CpuStorage::F32(c), CpuStorage::F32(s)) => {
                let (x, c, s) = (
                    contiguous(x, xl, OP)?,
                    contiguous(c, cl, OP)?,
                    contiguous(s, sl, OP)?,
                );
                CpuStorage::F32(self.rotate(x, xl.dims(), c, s, 1.0))
            }
            (CpuStorage::F64(x), CpuStorage::F64(c), CpuStorage::F64(s)) => {
                let (x, c, s) = (
                    contiguous(x, xl, OP)?,
                    contiguous(c, cl, OP)?,
                    contiguous(s, sl, OP)?,
                );
                CpuStorage::F64(self.rotate(x, xl.dims(), c, s, 1.0))
            }
            _ => bail!("fused rope: f32 or f64 operands of one dtype"),
        };
        Ok((out, xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        fn typed<T: Float>(
            op: &Rope,
            dims: &[usize],
            cos: &Tensor,
            sin: &Tensor,
            dy: &Tensor,
        ) -> Result<Tensor> {
            with_slice::<T, _>(cos, |c| {
                with_slice::<T, _>(sin, |s| {
                    with_slice::<T, _>(dy, |dy| tensor(op.rotate(dy, dims, c, s, -T::ONE), dims))
                })
            })
        }
        let dims = x.dims();
        let dx = by_dtype!(OP, x.dtype(), typed(self, dims, cos, sin, dy))?;
        Ok((Some(dx), None, None))
    }
}
