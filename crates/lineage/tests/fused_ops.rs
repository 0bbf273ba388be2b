//! The fused training kernels (`model::fused`: norms, FFN nonlinearities, RoPE, causal
//! attention) against the primitive candle ops they replace, on random configs of every
//! family: the loss, the logits and every parameter's gradient, in f64 (to ~1e-10) and
//! in f32. The reference ops are themselves held to HF (`hf_parity.rs`) and to finite
//! differences (`gradients.rs`); PyTorch's gradients are held to the trainer, which runs
//! the fused kernels, in `train_torch_parity.rs`.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::random::{draw, random_weights, Rng};
use lineage::config::{AttentionKind, Position};
use lineage::model::{fused, ops, Model};
use lineage::weights::Weights;
use lineage::ModelConfig;

const CASES: &[&str] = &[
    "llama",
    "llama_tied_mqa",
    "gpt2",
    "gpt_neox",
    "falcon",
    "bloom",
    "mistral",
    "qwen2",
    "qwen3",
    "phi3",
    "olmo2",
    "gemma2",
    "gemma3_text",
    "mixtral",
    "qwen3_moe",
    "deepseek_v3",
    "gpt_oss",
];

/// Logits, loss and the gradient of every weight (in `names` order).
struct Pass {
    logits: Vec<f64>,
    loss: f64,
    grads: Vec<Vec<f64>>,
}

fn pass(cfg: &ModelConfig, w: &Weights, ids: &Tensor, dtype: DType) -> (Pass, Vec<String>) {
    let mut vars = Vec::new();
    let wv = w
        .map_dense(|name, t| {
            let v = Var::from_tensor(&t.to_dtype(dtype)?)?;
            vars.push((name.to_string(), v.clone()));
            Ok(v.as_tensor().clone())
        })
        .unwrap();
    let model = Model::new(cfg, &wv).unwrap();
    let t = ids.dim(1).unwrap();
    let logits = model
        .forward(&ids.narrow(1, 0, t - 1).unwrap(), None)
        .unwrap();
    let target = ids
        .narrow(1, 1, t - 1)
        .unwrap()
        .contiguous()
        .unwrap()
        .unsqueeze(2)
        .unwrap();
    let loss = ops::log_softmax_last(&logits)
        .unwrap()
        .gather(&target, 2)
        .unwrap()
        .mean_all()
        .unwrap()
        .neg()
        .unwrap();
    let store = loss.backward().unwrap();
    let f64s = |t: &Tensor| {
        t.to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap()
    };
    let grads = vars
        .iter()
        .map(|(_, v)| store.get(v.as_tensor()).map_or_else(Vec::new, f64s))
        .collect();
    let names = vars.into_iter().map(|(n, _)| n).collect();
    let p = Pass {
        logits: f64s(&logits),
        loss: f64s(&loss)[0],
        grads,
    };
    (p, names)
}

/// `max |a - b| / max(max |b|, floor)`.
fn rel(a: &[f64], b: &[f64], floor: f64) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(floor, |m, x| m.max(x.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn compare(what: &str, fused: &Pass, reference: &Pass, names: &[String], tol: f64) {
    let dl = rel(&fused.logits, &reference.logits, 1e-3);
    assert!(dl <= tol, "{what}: logits differ by {dl:.2e} (relative)");
    let loss = (fused.loss - reference.loss).abs() / reference.loss.abs();
    assert!(
        loss <= tol,
        "{what}: loss {} vs {}",
        fused.loss,
        reference.loss
    );
    // Some gradients are zero but for rounding (a key bias shifts all of a query's
    // scores alike): relative to the largest gradient of the model at least.
    let floor = 1e-3
        * reference
            .grads
            .iter()
            .flatten()
            .fold(0.0f64, |m, g| m.max(g.abs()));
    for ((f, r), name) in fused.grads.iter().zip(&reference.grads).zip(names) {
        assert_eq!(
            f.len(),
            r.len(),
            "{what}: {name} has a gradient on one path only"
        );
        let d = rel(f, r, floor);
        assert!(
            d <= 10.0 * tol,
            "{what}: gradient of {name} differs by {d:.2e} (relative)"
        );
    }
}

/// Whether the fused causal kernel should compute `cfg`'s attention: MLA always (it has
/// no soft-cap or sinks), standard attention without soft-cap, sinks or ALiBi.
fn attention_fuses(cfg: &ModelConfig) -> bool {
    let a = &cfg.attention;
    match a.kind {
        AttentionKind::Latent(_) => true,
        AttentionKind::Standard => {
            a.softcap.is_none() && !a.sinks && cfg.position != Position::Alibi
        }
    }
}

#[test]
fn fused_kernels_equal_the_reference_ops_on_random_configs_of_every_family() {
    let mut r = Rng(0x5eed_f05e);
    let mut fused_attention = 0;
    let glu_in_before = fused::forwards_on_this_thread("fused_glu_in");
    for case in CASES {
        for draw_i in 0..2 {
            let mut cfg = draw(&mut r, case);
            cfg.validate().unwrap();
            // A few layers of each kind the draw gives; dropout off (it draws masks).
            cfg.dropout = 0.0;
            let w = random_weights(&cfg, &mut r);
            let (b, t) = (2, 2 + r.below(20));
            let ids: Vec<u32> = (0..b * t).map(|_| r.below(cfg.vocab_size) as u32).collect();
            let ids = Tensor::from_vec(ids, (b, t), &Device::Cpu).unwrap();
            for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 2e-4)] {
                let what = format!("{case} draw {draw_i} {dtype:?}");
                let ran = |k: &str| fused::forwards_on_this_thread(k);
                let before = (
                    ran("fused_norm"),
                    ran("fused_linear"),
                    ran("fused_causal_attention"),
                );
                let (f, names) = pass(&cfg, &w, &ids, dtype);
                // Every family has norms and dense projections.
                assert!(ran("fused_norm") > before.0, "{what}: no fused norm ran");
                assert!(
                    ran("fused_linear") > before.1,
                    "{what}: no fused linear ran"
                );
                let attended = ran("fused_causal_attention") > before.2;
                assert_eq!(
                    attended,
                    attention_fuses(&cfg),
                    "{what}: fused attention ran: {attended}"
                );
                fused_attention += attended as usize;
                let before_ref = ran("fused_norm");
                let (reference, _) = fused::with_reference(|| pass(&cfg, &w, &ids, dtype));
                assert_eq!(
                    ran("fused_norm"),
                    before_ref,
                    "{what}: the reference ran a kernel"
                );
                compare(&what, &f, &reference, &names, tol);
            }
        }
    }
    assert!(
        fused_attention > 0,
        "no draw went through the fused attention"
    );
    assert!(
        fused::forwards_on_this_thread("fused_glu_in") > glu_in_before,
        "no draw went through the fused GLU input projections"
    );
}
