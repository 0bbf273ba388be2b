//! The LM head and the mean cross-entropy as one op: `loss = CE(h Wᵀ, targets)` for the
//! final hidden states `h` `[N, D]` and the head `W` `[V, D]`. Apart, the head's output
//! is a `[N, V]` graph node (16 MB for 1024 tokens at a 4096 vocabulary) whose gradient
//! candle starts as a zeroed tensor and adds the loss's gradient into, and the loss
//! reads the logits twice (forward, then backward). Fused, the forward's GEMM writes
//! the logits into a buffer the op keeps, one pass per row turns them into `softmax -
//! onehot` while summing the loss, and the backward is the two GEMMs of the head with
//! `g / N` applied as they store. The separate head + `ce_kernel` stay the reference it
//! is tested against (`tests/train_kernels.rs`).

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Shape, Tensor};

use super::ce_kernel::loss_into_gradient;
use crate::kernels::real::Float;
use crate::model::fused::cpu::{by_dtype, contiguous, tensor, with_slice, Kept};
use crate::model::fused::linear;
use crate::Result;

const OP: &str = "fused head cross-entropy";

/// Mean cross-entropy of `h` `[N, D]` times `w` `[V, D]` transposed against `targets`
/// `[N]` (u32): a scalar of `h`'s dtype, differentiable in `h` and `w`.
pub fn head_cross_entropy(h: &Tensor, w: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let op = HeadCe {
        gradient: Kept::empty(),
    };
    Ok(h.contiguous()?
        .apply_op3(&w.contiguous()?, &targets.contiguous()?, op)?)
}

struct HeadCe {
    /// `softmax - onehot` from the forward.
    gradient: Kept<CpuStorage>,
}

/// (N, D, V) of the operands, the targets checked against the vocabulary.
fn dims(hl: &[usize], wl: &[usize], targets: &[u32]) -> candle_core::Result<(usize, usize, usize)> {
    let (n, d, v) = linear::dims(hl, wl)?;
    if hl.len() != 2 || targets.len() != n {
        bail!(
            "{OP}: h {hl:?} must be [N, D] with N = {} targets",
            targets.len()
        );
    }
    if let Some(bad) = targets.iter().find(|&&t| t as usize >= v) {
        bail!("{OP}: target id {bad} outside the vocabulary of {v}");
    }
    Ok((n, d, v))
}

/// `(mean loss, softmax - onehot)`.
fn loss_and_gradient<T: Float>(
    h: &[T],
    w: &[T],
    targets: &[u32],
    d: (usize, usize, usize),
) -> (T, Vec<T>) {
    let mut logits = linear::forward(h, w, d);
    let loss = loss_into_gradient(&mut logits, d.2, targets);
    (loss, logits)
}

fn targets_of<'a>(t: &'a CpuStorage, tl: &Layout) -> candle_core::Result<&'a [u32]> {
    match t {
        CpuStorage::U32(t) => contiguous(t, tl, OP),
        _ => bail!("{OP}: targets must be u32"),
    }
}

impl CustomOp3 for HeadCe {
    fn name(&self) -> &'static str {
        "fused_head_cross_entropy"
    }

    fn cpu_fwd(
        &self,
        h: &CpuStorage,
        hl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
        t: &CpuStorage,
        tl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let targets = targets_of(t, tl)?;
        let d = dims(hl.dims(), wl.dims(), targets)?;
        let (loss, grad) = match (h, w) {
            (CpuStorage::F32(h), CpuStorage::F32(w)) => {
                let (l, g) =
                    loss_and_gradient(contiguous(h, hl, OP)?, contiguous(w, wl, OP)?, targets, d);
                (CpuStorage::F32(vec![l]), CpuStorage::F32(g))
            }
            (CpuStorage::F64(h), CpuStorage::F64(w)) => {
                let (l, g) =
                    loss_and_gradient(contiguous(h, hl, OP)?, contiguous(w, wl, OP)?, targets, d);
                (CpuStorage::F64(vec![l]), CpuStorage::F64(g))
            }
            _ => bail!("{OP}: f32 or f64 operands of one dtype"),
        };
        self.gradient.put(Some(grad));
        Ok((loss, Shape::from(())))
    }

    fn bwd(
        &self,
        h: &Tensor,
        w: &Tensor,
        t: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let kept = self.gradient.take();
        let g = grad.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        let targets = t.to_vec1::<u32>()?;
        fn typed<T: Float>(
            h: &Tensor,
            w: &Tensor,
            targets: &[u32],
            kept: Option<CpuStorage>,
            g: f64,
        ) -> candle_core::Result<(Tensor, Tensor)> {
            let d = dims(h.dims(), w.dims(), targets)?;
            with_slice::<T, _>(h, |hs| {
                with_slice::<T, _>(w, |ws| {
                    let dlogits = match kept.as_ref().map(|k| k.as_slice::<T>()) {
                        Some(Ok(k)) => std::borrow::Cow::Borrowed(k),
                        _ => std::borrow::Cow::Owned(loss_and_gradient(hs, ws, targets, d).1),
                    };
                    let scale = T::of(g / d.0.max(1) as f64);
                    let (dh, dw) = linear::backward(hs, ws, &dlogits, d, scale);
                    Ok((tensor(dh, h.dims())?, tensor(dw, w.dims())?))
                })
            })
        }
        let (dh, dw) = by_dtype!(OP, h.dtype(), typed(h, w, &targets, kept, g))?;
        Ok((Some(dh), Some(dw), None))
    }
}
