//! `y = x Wᵀ` over any leading dims, W stored `[out, in]`, as one GEMM each way:
//! forward `y = x Wᵀ`, backward `dx = dy W` and `dW = dyᵀ x`, with the transposes as
//! strides. In candle ops the same product is a reshape, a transposed view of W, a
//! matmul and a reshape back, and autodiff gives each of those nodes a gradient of its
//! own (a zeroed buffer plus an add, and for the transposed W a strided add).

use candle_core::{bail, CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use gemm::Parallelism;

use super::cpu::{by_dtype, contiguous, tensor, with_slice};
use super::Float;

/// The name its errors carry.
const OP: &str = "fused linear";

/// `x` `[..., in]` times `w` `[out, in]` transposed -> `[..., out]`.
pub fn linear(x: &Tensor, w: &Tensor) -> crate::Result<Tensor> {
    Ok(x.contiguous()?.apply_op2(&w.contiguous()?, Linear)?)
}

struct Linear;

/// A matrix operand: its data and the strides of its rows and columns.
struct Mat<'a, T> {
    data: &'a [T],
    rs: usize,
    cs: usize,
}

/// `dst (m x n) = scale · lhs (m x k) · rhs (k x n)`, dst row-major (the GEMM applies
/// the scale as it stores).
fn mm<T: Float>(m: usize, n: usize, k: usize, lhs: Mat<T>, rhs: Mat<T>, scale: T) -> Vec<T> {
    if m * n * k == 0 {
        return vec![T::ZERO; m * n];
    }
    // Left unwritten: the GEMM (read_dst false) stores every element, and zeroing first
    // was a serial pass over each output, about 5% of a training step on two threads.
    let mut dst: Vec<T> = Vec::with_capacity(m * n);
    let threads = super::cpu::threads();
    let par = if threads > 1 && m * n * k > 1 << 16 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: lhs covers (m-1) rs + (k-1) cs, rhs (k-1) rs + (n-1) cs (checked by the
    // callers' shapes), dst has capacity m x n and is distinct from both; with read_dst
    // false the GEMM writes all m x n elements before the length is set.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            T::ZERO,
            scale,
            false,
            false,
            false,
            par,
        );
        dst.set_len(m * n);
    };
    dst
}

/// (rows, in, out) of `x` `[..., in]` and `w` `[out, in]`.
pub(crate) fn dims(x: &[usize], w: &[usize]) -> Result<(usize, usize, usize)> {
    match (x.last(), w) {
        (Some(&i), [o, wi]) if i == *wi => Ok((x.iter().product::<usize>() / i.max(1), i, *o)),
        _ => bail!("fused linear: x {x:?} times w {w:?} transposed"),
    }
}

/// `x W^T` for row-major `x` `[n, i]` and `w` `[o, i]`: `[n, o]`.
pub(crate) fn forward<T: Float>(x: &[T], w: &[T], (n, i, o): (usize, usize, usize)) -> Vec<T> {
    let lhs = Mat {
        data: x,
        rs: i,
        cs: 1,
    };
    let rhs = Mat {
        data: w,
        rs: 1,
        cs: i,
    }; // Wᵀ
    mm(n, o, i, lhs, rhs, T::ONE)
}

/// `(dx, dw)` of `y = x W^T` for the output gradient `scale · dy`.
pub(crate) fn backward<T: Float>(
    x: &[T],
    w: &[T],
    dy: &[T],
    (n, i, o): (usize, usize, usize),
    scale: T,
) -> (Vec<T>, Vec<T>) {
    let dx = mm(
        n,
        i,
        o,
        Mat {
            data: dy,
            rs: o,
            cs: 1,
        },
        Mat {
            data: w,
            rs: i,
            cs: 1,
        },
        scale,
    );
    let dw = mm(
        o,
        i,
        n,
        Mat {
            data: dy,
            rs: 1,
            cs: o,
        },
        Mat {
            data: x,
            rs: i,
            cs: 1,
        },
        scale,
    );
    (dx, dw)
}

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        "fused_linear"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        super::count(self.name());
        let d = dims(xl.dims(), wl.dims())?;
        let out = match (x, w) {
            (CpuStorage::F32(x), CpuStorage::F32(w)) => {
                CpuStorage::F32(forward(contiguous(x, xl, OP)?, contiguous(w, wl, OP)?, d))
            }
            (CpuStorage::F64(x), CpuStorage::F64(w)) => {
                CpuStorage::F64(forward(contiguous(x, xl, OP)?, contiguous(w, wl, OP)?, d))
            }
            _ => bail!("fused linear: f32 or f64 operands of one dtype"),
        };
        let mut shape = xl.dims().to_vec();
        *shape.last_mut().expect("checked by dims") = d.2;
        Ok((out, Shape::from(shape)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        fn typed<T: Float>(x: &Tensor, w: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor)> {
            let d = dims(x.dims(), w.dims())?;
            with_slice::<T, _>(x, |xs| {
                with_slice::<T, _>(w, |ws| {
                    with_slice::<T, _>(dy, |dys| {
                        let (dx, dw) = backward(xs, ws, dys, d, T::ONE);
                        Ok((tensor(dx, x.dims())?, tensor(dw, w.dims())?))
                    })
                })
            })
        }
        let (dx, dw) = by_dtype!(OP, x.dtype(), typed(x, w, dy))?;
        Ok((Some(dx), Some(dw)))
    }
}
