//! Kernel-level checks the model-level test (`tests/fused_ops.rs`) cannot reach: RoPE's
//! interleaved pairing and partial rotation on standard attention, and attention with
//! the queries after the keys (a cached prefix) and windows.

use candle_core::{DType, Device, Tensor, Var, D};

use super::{causal_attention, Causal};
use crate::config::{Rope, RopePairing, RopeScaling};
use crate::model::attend::{attend, AttendParams};
use crate::model::rope::RopeTable;

fn random(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed;
    let v: Vec<f64> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

/// Value and gradient (of a random projection of the output) of `f` at `x`.
fn value_and_grad(x: &Tensor, w: &Tensor, f: impl Fn(&Tensor) -> Tensor) -> (Tensor, Tensor) {
    let v = Var::from_tensor(x).unwrap();
    let y = f(v.as_tensor());
    let g = (&y * w).unwrap().sum_all().unwrap().backward().unwrap();
    (y, g.get(v.as_tensor()).unwrap().clone())
}

#[test]
fn rope_kernel_equals_the_reference_for_both_pairings_and_partial_rotation() {
    for (pairing, rotary) in [
        (RopePairing::RotateHalf, 8),
        (RopePairing::RotateHalf, 4),
        (RopePairing::Interleaved, 8),
        (RopePairing::Interleaved, 6),
    ] {
        let rope = RopeTable::new(&Rope {
            theta: 10_000.0,
            rotary_dim: rotary,
            pairing,
            scaling: RopeScaling::None,
        });
        let cs = rope.cos_sin(3..10, DType::F64).unwrap();
        let x = random(&[2, 7, 3, 8], 1); // [B, T, H, hd]
        let w = random(&[2, 7, 3, 8], 2);
        let (yf, gf) = value_and_grad(&x, &w, |x| rope.apply_bthd(x, &cs).unwrap());
        let (yr, gr) = value_and_grad(&x, &w, |x| {
            let y = rope.apply(&x.transpose(1, 2).unwrap(), &cs).unwrap();
            y.transpose(1, 2).unwrap()
        });
        assert!(max_diff(&yf, &yr) < 1e-14, "{pairing:?} {rotary}: values");
        assert!(
            max_diff(&gf, &gr) < 1e-14,
            "{pairing:?} {rotary}: gradients"
        );
    }
}

#[test]
fn attention_kernel_equals_the_reference_with_offsets_windows_and_gqa() {
    for (h, hkv, window, q0, k0) in [
        (4, 2, None, 0, 0),
        (4, 1, Some(3), 0, 0),
        (2, 2, Some(5), 6, 2),
        (6, 3, None, 5, 0),
    ] {
        // Head width 8: a row of P (9 keys) is at most four head widths, so the forward
        // keeps P for the backward; width 2: the backward recomputes it.
        for d in [8, 2] {
            let (b, t, s) = (2, 5, 9);
            // The queries are the last t of the keys' positions k0..k0+s, or inside them.
            let (q, k, v) = (
                random(&[b, t, h, d], 3),
                random(&[b, s, hkv, d], 4),
                random(&[b, s, hkv, d], 5),
            );
            let w = random(&[b, t, h, d], 6);
            let c = Causal {
                scale: 0.3,
                window,
                q0,
                k0,
            };
            let p = AttendParams {
                scale: 0.3,
                softcap: None,
                window,
                alibi: None,
                sinks: None,
                q0,
                k0,
            };
            // `backwards` > 1: the later backwards over one graph recompute P.
            let run = |fused: bool, backwards: usize| {
                let (qv, kv, vv) = (
                    Var::from_tensor(&q).unwrap(),
                    Var::from_tensor(&k).unwrap(),
                    Var::from_tensor(&v).unwrap(),
                );
                let y = if fused {
                    causal_attention(qv.as_tensor(), kv.as_tensor(), vv.as_tensor(), c).unwrap()
                } else {
                    let tr = |x: &Tensor| x.transpose(1, 2).unwrap();
                    let y = attend(
                        &tr(qv.as_tensor()),
                        &tr(kv.as_tensor()),
                        &tr(vv.as_tensor()),
                        &p,
                    )
                    .unwrap();
                    tr(&y)
                };
                let loss = (&y * &w).unwrap().sum_all().unwrap();
                let mut g = loss.backward().unwrap();
                for _ in 1..backwards {
                    g = loss.backward().unwrap();
                }
                let grad = |x: &Var| g.get(x.as_tensor()).unwrap().clone();
                (y, grad(&qv), grad(&kv), grad(&vv))
            };
            let r = run(false, 1);
            for backwards in [1, 2] {
                let kept = || super::forwards_on_this_thread("fused_causal_attention_kept_probs");
                let before = kept();
                let f = run(true, backwards);
                assert_eq!(kept() > before, d == 8, "d {d}: P kept by the forward");
                let what = format!("h {h} hkv {hkv} d {d} window {window:?} q0 {q0} k0 {k0}, {backwards} backwards");
                assert!(max_diff(&f.0, &r.0) < 1e-13, "{what}: values");
                assert!(max_diff(&f.1, &r.1) < 1e-13, "{what}: dq");
                assert!(max_diff(&f.2, &r.2) < 1e-13, "{what}: dk");
                assert!(max_diff(&f.3, &r.3) < 1e-13, "{what}: dv");
                assert!(
                    f.0.sum(D::Minus1)
                        .unwrap()
                        .abs()
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f64>()
                        .unwrap()
                        > 0.0
                );
            }
        }
    }
}

/// Value and the gradients of `x` and each weight of `f(x, weights)` (through a random
/// projection of the output), taking the backward `backwards` times over one graph.
fn grads_of(
    x: &Tensor,
    ws: &[Tensor],
    proj: &Tensor,
    backwards: usize,
    f: impl Fn(&Tensor, &[Tensor]) -> Tensor,
) -> (Tensor, Vec<Tensor>) {
    let xv = Var::from_tensor(x).unwrap();
    let wv: Vec<Var> = ws.iter().map(|w| Var::from_tensor(w).unwrap()).collect();
    let wt: Vec<Tensor> = wv.iter().map(|v| v.as_tensor().clone()).collect();
    let y = f(xv.as_tensor(), &wt);
    let loss = (&y * proj).unwrap().sum_all().unwrap();
    let mut g = loss.backward().unwrap();
    for _ in 1..backwards {
        g = loss.backward().unwrap();
    }
    let mut grads = vec![g.get(xv.as_tensor()).unwrap().clone()];
    grads.extend(wt.iter().map(|w| g.get(w).unwrap().clone()));
    (y, grads)
}

#[test]
fn ffn_input_kernels_equal_the_linears_then_the_activation() {
    use crate::config::Activation;
    let (n, d, f) = (11, 8, 20);
    let x = random(&[1, n, d], 10);
    let (g, u) = (random(&[f, d], 11), random(&[f, d], 12));
    let proj = random(&[1, n, f], 13);
    let lin = |x: &Tensor, w: &Tensor| x.broadcast_matmul(&w.t().unwrap()).unwrap();
    for act in [Activation::Silu, Activation::GeluTanh, Activation::Relu] {
        let reference = |x: &Tensor, w: &[Tensor]| match w {
            [g, u] => {
                (crate::model::ops::activation(&lin(x, g), act).unwrap() * lin(x, u)).unwrap()
            }
            [u] => crate::model::ops::activation(&lin(x, u), act).unwrap(),
            _ => unreachable!(),
        };
        let fused = |x: &Tensor, w: &[Tensor]| match w {
            [g, u] => super::glu_in(x, g, u, act).unwrap(),
            [u] => super::mlp_in(x, u, act).unwrap(),
            _ => unreachable!(),
        };
        for ws in [vec![g.clone(), u.clone()], vec![u.clone()]] {
            let (yr, gr) = grads_of(&x, &ws, &proj, 1, reference);
            // A second backward over the same graph recomputes the kept projections.
            for backwards in [1, 2] {
                let (yf, gf) = grads_of(&x, &ws, &proj, backwards, fused);
                let what = format!("{act:?}, {} weights, {backwards} backwards", ws.len());
                assert!(max_diff(&yf, &yr) < 1e-12, "{what}: values");
                for (i, (a, b)) in gf.iter().zip(&gr).enumerate() {
                    assert!(max_diff(a, b) < 1e-12, "{what}: gradient {i}");
                }
            }
        }
    }
    let err = super::glu_in(&x, &g, &random(&[f + 1, d], 14), Activation::Silu).unwrap_err();
    assert!(
        err.to_string().contains("gate [20, 8] and up [21, 8]"),
        "{err}"
    );
}
