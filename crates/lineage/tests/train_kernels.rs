//! The fused training kernels against their references: the cross-entropy kernel's loss
//! and gradient against candle's log-softmax + gather + mean (itself checked against
//! PyTorch by `train_oracle.rs`) and against central finite differences in f64, on
//! logits of several shapes and scales; and its error on a target outside the
//! vocabulary; and the fused LM head + cross-entropy against the head's matmul followed
//! by that reference, values and both gradients. (The fused AdamW is checked by
//! `train_oracle.rs`'s ten PyTorch steps.)

use candle_core::{DType, Device, Tensor, Var};
use lineage::train::head_ce_kernel::head_cross_entropy;
use lineage::train::loss::{cross_entropy, cross_entropy_reference};

/// Seeded logits `[b, t, v]` of magnitude up to `scale`, and targets `[b, t]`.
fn case(b: usize, t: usize, v: usize, scale: f64, seed: u64, dtype: DType) -> (Tensor, Tensor) {
    let mut s = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let x: Vec<f64> = (0..b * t * v)
        .map(|_| ((next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale)
        .collect();
    let y: Vec<u32> = (0..b * t).map(|_| (next() % v as u64) as u32).collect();
    let logits = Tensor::from_vec(x, (b, t, v), &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    (logits, Tensor::from_vec(y, (b, t), &Device::Cpu).unwrap())
}

fn loss_and_grad(
    f: fn(&Tensor, &Tensor) -> lineage::Result<Tensor>,
    x: &Tensor,
    y: &Tensor,
) -> (f64, Vec<f64>) {
    let var = Var::from_tensor(x).unwrap();
    let loss = f(var.as_tensor(), y).unwrap();
    let grads = loss.backward().unwrap();
    let g = grads
        .get(var.as_tensor())
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap();
    (
        loss.to_dtype(DType::F64)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap(),
        g.to_vec1().unwrap(),
    )
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn fused_cross_entropy_equals_the_candle_reference() {
    for (i, &(b, t, v, scale)) in [
        (1, 1, 2, 1.0),
        (2, 5, 7, 3.0),
        (3, 16, 257, 10.0),
        (2, 64, 1024, 30.0),
    ]
    .iter()
    .enumerate()
    {
        for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 2e-5)] {
            let (x, y) = case(b, t, v, scale, i as u64 + 1, dtype);
            let (l0, g0) = loss_and_grad(cross_entropy_reference, &x, &y);
            let (l1, g1) = loss_and_grad(cross_entropy, &x, &y);
            assert!(
                (l0 - l1).abs() <= tol * l0.abs().max(1.0),
                "{dtype:?} [{b},{t},{v}]: loss {l1} vs {l0}"
            );
            let gmax = g0.iter().fold(0f64, |m, g| m.max(g.abs()));
            assert!(
                max_diff(&g0, &g1) <= tol * gmax.max(1e-3),
                "{dtype:?} [{b},{t},{v}]: gradient off by {}",
                max_diff(&g0, &g1)
            );
        }
    }
}

#[test]
fn fused_cross_entropy_gradient_matches_finite_differences() {
    let (x, y) = case(2, 3, 11, 4.0, 9, DType::F64);
    let (_, g) = loss_and_grad(cross_entropy, &x, &y);
    let base: Vec<f64> = x.flatten_all().unwrap().to_vec1().unwrap();
    let at = |v: &[f64]| {
        let t = Tensor::from_slice(v, x.shape(), &Device::Cpu).unwrap();
        cross_entropy(&t, &y).unwrap().to_scalar::<f64>().unwrap()
    };
    let h = 1e-6;
    for i in 0..base.len() {
        let (mut up, mut down) = (base.clone(), base.clone());
        up[i] += h;
        down[i] -= h;
        let fd = (at(&up) - at(&down)) / (2.0 * h);
        assert!(
            (fd - g[i]).abs() < 1e-8,
            "element {i}: finite difference {fd}, gradient {}",
            g[i]
        );
    }
}

#[test]
fn fused_cross_entropy_rejects_a_target_outside_the_vocabulary() {
    let (x, _) = case(1, 2, 5, 1.0, 3, DType::F32);
    let y = Tensor::new(&[[1u32, 5]], &Device::Cpu).unwrap();
    let err = cross_entropy(&x, &y).unwrap_err().to_string();
    assert!(
        err.contains("target id 5 outside the vocabulary of 5"),
        "{err}"
    );
}

/// Loss and the gradients of `h` and `w` of `f(h, w)`.
fn head_loss_and_grads(
    f: impl Fn(&Tensor, &Tensor) -> Tensor,
    h: &Tensor,
    w: &Tensor,
) -> (f64, Vec<f64>, Vec<f64>) {
    let (hv, wv) = (Var::from_tensor(h).unwrap(), Var::from_tensor(w).unwrap());
    let loss = (f(hv.as_tensor(), wv.as_tensor()) * 0.75).unwrap(); // an incoming gradient != 1
    let grads = loss.backward().unwrap();
    let flat = |v: &Var| -> Vec<f64> {
        let g = grads.get(v.as_tensor()).unwrap();
        g.to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let l = loss
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    (l, flat(&hv), flat(&wv))
}

#[test]
fn fused_head_cross_entropy_equals_the_head_then_the_reference_loss() {
    for (i, &(n, d, v, scale)) in [
        (1, 1, 2, 1.0),
        (5, 7, 13, 2.0),
        (48, 32, 257, 4.0),
        (130, 64, 1031, 3.0),
    ]
    .iter()
    .enumerate()
    {
        for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 3e-5)] {
            let (h, _) = case(1, n, d, scale, 40 + i as u64, dtype);
            let (w, _) = case(1, v, d, 1.0, 80 + i as u64, dtype);
            let (_, y) = case(1, n, v, 1.0, 120 + i as u64, dtype); // targets below v
            let (h, w, y) = (
                h.squeeze(0).unwrap(),
                w.squeeze(0).unwrap(),
                y.squeeze(0).unwrap(),
            );
            let reference = |h: &Tensor, w: &Tensor| {
                let logits = h.matmul(&w.t().unwrap()).unwrap().unsqueeze(0).unwrap();
                cross_entropy_reference(&logits, &y.unsqueeze(0).unwrap()).unwrap()
            };
            let fused = |h: &Tensor, w: &Tensor| head_cross_entropy(h, w, &y).unwrap();
            let (l0, gh0, gw0) = head_loss_and_grads(reference, &h, &w);
            let (l1, gh1, gw1) = head_loss_and_grads(fused, &h, &w);
            let what = format!("{dtype:?} n {n} d {d} v {v}");
            assert!(
                (l0 - l1).abs() <= tol * l0.abs().max(1.0),
                "{what}: loss {l1} vs {l0}"
            );
            for (name, g0, g1) in [("h", &gh0, &gh1), ("w", &gw0, &gw1)] {
                let gmax = g0.iter().fold(0f64, |m, g| m.max(g.abs()));
                let diff = max_diff(g0, g1);
                assert!(
                    diff <= tol * gmax.max(1e-3),
                    "{what}: d{name} off by {diff:.2e} of {gmax:.2e}"
                );
            }
        }
    }
}

#[test]
fn fused_head_cross_entropy_backward_twice_gives_the_same_gradients() {
    // The forward keeps softmax - onehot for the first backward; a second backward over
    // the same graph recomputes it.
    let (h, _) = case(1, 9, 16, 2.0, 5, DType::F64);
    let (w, _) = case(1, 21, 16, 1.0, 6, DType::F64);
    let (h, w) = (
        Var::from_tensor(&h.squeeze(0).unwrap()).unwrap(),
        w.squeeze(0).unwrap(),
    );
    let y = Tensor::from_vec(
        (0..9u32).map(|i| (i * 7) % 21).collect::<Vec<_>>(),
        9,
        &Device::Cpu,
    )
    .unwrap();
    let loss = head_cross_entropy(h.as_tensor(), &w, &y).unwrap();
    let grad = |g: &candle_core::backprop::GradStore| -> Vec<f64> {
        g.get(h.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let (first, second) = (
        grad(&loss.backward().unwrap()),
        grad(&loss.backward().unwrap()),
    );
    assert_eq!(first, second);
    assert!(first.iter().any(|g| g.abs() > 1e-6));
}

#[test]
fn fused_head_cross_entropy_rejects_a_target_outside_the_vocabulary() {
    let (h, _) = case(1, 2, 4, 1.0, 3, DType::F32);
    let (w, _) = case(1, 5, 4, 1.0, 4, DType::F32);
    let y = Tensor::new(&[1u32, 5], &Device::Cpu).unwrap();
    let err = head_cross_entropy(&h.squeeze(0).unwrap(), &w.squeeze(0).unwrap(), &y)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("target id 5 outside the vocabulary of 5"),
        "{err}"
    );
}
