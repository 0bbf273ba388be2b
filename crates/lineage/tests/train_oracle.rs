//! Training against PyTorch, llm.c style: the loss, every parameter's gradient, and the
//! losses and parameters after 10 AdamW steps with clipping and a warmup + cosine
//! schedule equal transformers + torch's (fixtures/train, made by
//! tools/oracle/make_train_fixtures.py). f64 runs match to rounding of the f32 files;
//! f32 runs match within the f32-vs-f64 drift the generator measured for torch itself.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use lineage::train::settings::{TrainDtype, TrainSettings};
use lineage::train::{TokenSource, Trainer};
use lineage::weights::Weights;
use serde_json::Value;

fn dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/train")
        .join(case)
}

/// The fixture's ten batches, one per step.
struct Batches(Vec<Vec<u32>>, usize);

impl TokenSource for Batches {
    fn vocab_size(&self) -> usize {
        self.1
    }
    fn train_batch(&self, step: u64, _micro: u32) -> lineage::Result<Vec<u32>> {
        Ok(self.0[step as usize].clone())
    }
    fn val_windows(&self, _max: usize) -> lineage::Result<Vec<Vec<u32>>> {
        Ok(vec![])
    }
    fn val_bytes_per_token(&self) -> Option<f64> {
        None
    }
    fn unigram_loss(&self) -> Option<f64> {
        None
    }
}

struct Case {
    cfg: lineage::ModelConfig,
    init: Weights,
    grads: Weights,
    after: Weights,
    steps: HashMap<String, Tensor>,
    settings: TrainSettings,
    tol: Value,
}

fn case(name: &str, dtype: TrainDtype) -> Case {
    let d = dir(name);
    let (cfg, init) = lineage::load(&d).unwrap();
    let (_, grads) = lineage::load(&d.join("grads")).unwrap();
    let (_, after) = lineage::load(&d.join("after")).unwrap();
    let steps = candle_core::safetensors::load(d.join("steps.safetensors"), &Device::Cpu).unwrap();
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("train.json")).unwrap()).unwrap();
    let h = &meta["hyperparameters"];
    let f = |k: &str| h[k].as_f64().unwrap();
    let settings = TrainSettings {
        seq_len: h["T"].as_u64().unwrap() as usize,
        batch: h["B"].as_u64().unwrap() as usize,
        steps: h["total_steps"].as_u64().unwrap(),
        lr: f("lr_max"),
        min_lr: f("lr_min"),
        warmup: h["warmup"].as_u64().unwrap(),
        beta1: h["betas"][0].as_f64().unwrap(),
        beta2: h["betas"][1].as_f64().unwrap(),
        eps: f("eps"),
        weight_decay: f("weight_decay"),
        grad_clip: f("clip"),
        balance_coef: f("balance_coef"),
        z_coef: f("z_coef"),
        dtype,
        ..Default::default()
    };
    settings.validate().unwrap();
    Case {
        cfg,
        init,
        grads,
        after,
        steps,
        settings,
        tol: meta["tolerance_f32_vs_f64"].clone(),
    }
}

fn vec64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn batches(c: &Case) -> Batches {
    let b = c.steps["batches"].to_dtype(DType::U32).unwrap();
    let n = b.dim(0).unwrap();
    let rows = (0..n)
        .map(|s| b.get(s).unwrap().flatten_all().unwrap().to_vec1().unwrap())
        .collect();
    Batches(rows, c.cfg.vocab_size)
}

/// Max |a - b| over a tensor, relative to max |b|.
fn rel_diff(a: &Tensor, b: &Tensor) -> (f64, f64) {
    let (a, b) = (vec64(a), vec64(b));
    let scale = b.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-30);
    let abs = a
        .iter()
        .zip(&b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    (abs, abs / scale)
}

fn check_grads(name: &str, c: &Case, t: &Trainer, data: &Batches, rel_tol: f64) {
    let (grads, ..) = t.gradients(data).unwrap();
    assert_eq!(
        grads.len(),
        c.grads.names().count(),
        "{name}: gradient count"
    );
    for (p, g) in t.params().iter().zip(&grads) {
        let want = c.grads.tensor(&p.name, g.dims()).unwrap();
        // A gradient that is zero in exact arithmetic (GPT-2's key bias: softmax ignores a
        // per-query constant) is rounding noise in both; scale by at least 1e-4.
        let (abs, _) = rel_diff(g, &want);
        let scale = vec64(&want).iter().fold(1e-4f64, |m, x| m.max(x.abs()));
        let rel = abs / scale;
        assert!(
            rel <= rel_tol,
            "{name} grad {}: max|Δ| {abs:.2e} = {rel:.2e} of max|g| (limit {rel_tol:.1e})",
            p.name
        );
    }
}

/// Runs the 10 steps; returns the max |Δ| of loss and grad norm against torch f64.
fn run_steps(name: &str, c: &Case, t: &mut Trainer, data: &Batches) -> (f64, f64) {
    let (loss, norm) = (vec64(&c.steps["loss"]), vec64(&c.steps["grad_norm"]));
    let (ce, aux, z) = (
        vec64(&c.steps["ce"]),
        vec64(&c.steps["aux"]),
        vec64(&c.steps["z"]),
    );
    let lr = vec64(&c.steps["lr"]);
    let (mut worst_loss, mut worst_norm) = (0f64, 0f64);
    for s in 0..loss.len() {
        let r = t.step(data).unwrap();
        let total = r.ce + c.settings.balance_coef * r.balance + c.settings.z_coef * r.z;
        assert!(
            (r.lr - lr[s]).abs() <= 1e-15,
            "{name} step {s}: lr {} vs {}",
            r.lr,
            lr[s]
        );
        for (what, ours, theirs) in [
            ("ce", r.ce, ce[s]),
            ("aux", r.balance, aux[s]),
            ("z", r.z, z[s]),
        ] {
            worst_loss = worst_loss.max((ours - theirs).abs());
            assert!(
                (ours - theirs).abs() <= 1e-3,
                "{name} step {s}: {what} {ours} vs torch {theirs}"
            );
        }
        worst_loss = worst_loss.max((total - loss[s]).abs());
        eprintln!(
            "{name} step {s}: loss Δ {:.2e}, grad-norm Δ {:.2e}",
            total - loss[s],
            r.grad_norm - norm[s]
        );
        worst_norm = worst_norm.max((r.grad_norm - norm[s]).abs() / norm[s]);
    }
    (worst_loss, worst_norm)
}

fn check_params(name: &str, c: &Case, t: &Trainer, abs_tol: f64) {
    let w = t.weights().unwrap();
    for p in t.params() {
        let ours = w.tensor(&p.name, p.var.as_tensor().dims()).unwrap();
        let want = c.after.tensor(&p.name, ours.dims()).unwrap();
        let (abs, _) = rel_diff(&ours, &want);
        assert!(
            abs <= abs_tol,
            "{name} after 10 steps {}: max|Δ| {abs:.2e} (limit {abs_tol:.1e})",
            p.name
        );
    }
}

fn oracle_f64(name: &str) {
    let c = case(name, TrainDtype::F64);
    let data = batches(&c);
    let mut t = Trainer::from_weights(c.cfg.clone(), c.settings.clone(), &c.init).unwrap();
    // The fixtures store f32: compare to the rounding of f32 (2^-24 relative), with margin.
    check_grads(name, &c, &t, &data, 1e-6);
    let (loss, norm) = run_steps(name, &c, &mut t, &data);
    // f64 rounding, amplified by Adam's normalisation over 10 steps (f32 drift: ~6e-7).
    assert!(
        loss <= 2e-9,
        "{name}: f64 loss differs from torch f64 by {loss:.2e}"
    );
    assert!(
        norm <= 2e-9,
        "{name}: f64 grad norm differs from torch f64 by {norm:.2e} (relative)"
    );
    check_params(name, &c, &t, 1e-6);
}

fn oracle_f32(name: &str) {
    let c = case(name, TrainDtype::F32);
    let data = batches(&c);
    let mut t = Trainer::from_weights(c.cfg.clone(), c.settings.clone(), &c.init).unwrap();
    let tol = |k: &str| c.tol[k].as_f64().unwrap();
    check_grads(name, &c, &t, &data, 10.0 * tol("grads0_max_rel_diff"));
    let (loss, norm) = run_steps(name, &c, &mut t, &data);
    assert!(
        loss <= 10.0 * tol("loss_max_abs_diff"),
        "{name}: f32 loss off by {loss:.2e}"
    );
    assert!(
        norm <= 10.0 * tol("grad_norm_max_rel_diff"),
        "{name}: f32 grad norm off by {norm:.2e}"
    );
    // torch's own f32 run is this far from f64 (Adam amplifies near-zero gradients).
    check_params(name, &c, &t, 5.0 * tol("params_final_max_abs_diff"));
}

#[test]
fn train_gpt2_f64_matches_pytorch_grads_and_ten_adamw_steps() {
    oracle_f64("gpt2");
}

#[test]
fn train_llama_gqa_rope_swiglu_f64_matches_pytorch_grads_and_ten_adamw_steps() {
    oracle_f64("llama");
}

#[test]
fn train_mixtral_moe_balance_and_z_loss_f64_matches_pytorch() {
    oracle_f64("mixtral");
}

#[test]
fn train_gpt2_f32_within_torch_f32_drift() {
    oracle_f32("gpt2");
}

#[test]
fn train_llama_f32_within_torch_f32_drift() {
    oracle_f32("llama");
}

#[test]
fn train_mixtral_f32_within_torch_f32_drift() {
    oracle_f32("mixtral");
}

/// A step's shards (data parallelism across cores) are summed in a fixed order: in f64
/// the sharded gradients equal the whole batch's to rounding (so they match PyTorch as
/// the tests above do), and in f32 the bits do not depend on how many threads ran them.
#[test]
fn sharded_gradients_equal_the_whole_batch_and_ignore_the_thread_count() {
    let c = case("llama", TrainDtype::F64);
    let data = batches(&c);
    let trainer = |shards, dtype| {
        let s = TrainSettings {
            shards,
            dtype,
            ..c.settings.clone()
        };
        Trainer::from_weights(c.cfg.clone(), s, &c.init).unwrap()
    };
    let (whole, ce_whole, ..) = trainer(1, TrainDtype::F64).gradients(&data).unwrap();
    let (split, ce_split, ..) = trainer(2, TrainDtype::F64).gradients(&data).unwrap();
    assert!(
        (ce_whole - ce_split).abs() <= 1e-12,
        "ce {ce_split} vs {ce_whole}"
    );
    for (a, b) in split.iter().zip(&whole) {
        let (_, rel) = rel_diff(a, b);
        assert!(rel <= 1e-10, "sharded gradient off by {rel:.2e} (relative)");
    }
    let t = trainer(2, TrainDtype::F32);
    let on = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (grads, ce, ..) = pool.install(|| t.gradients(&data).unwrap());
        let bits: Vec<Vec<u32>> = grads
            .iter()
            .map(|g| {
                g.flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
                    .iter()
                    .map(|x| x.to_bits())
                    .collect()
            })
            .collect();
        (bits, ce.to_bits())
    };
    assert!(
        on(1) == on(2),
        "f32 gradients differ between 1 and 2 threads"
    );
}
