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
        let (b, t, s, d) = (2, 5, 9, 8);
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
        let run = |fused: bool| {
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
            let g = (&y * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let grad = |x: &Var| g.get(x.as_tensor()).unwrap().clone();
            (y, grad(&qv), grad(&kv), grad(&vv))
        };
        let (f, r) = (run(true), run(false));
        let what = format!("h {h} hkv {hkv} window {window:?} q0 {q0} k0 {k0}");
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
