//! The forward is differentiable through candle's autodiff: gradients of the LM loss
//! match central finite differences (in f64), and the f32 path's gradients match the
//! f64 ones. Covers norms, RoPE/ALiBi/learned positions, GQA, sinks, MLA, MoE routing.

mod common;

use candle_core::{DType, Tensor, Var};
use lineage::model::{ops, Model};
use lineage::weights::Weights;

/// Mean next-token cross-entropy of `ids` under the model built from `w`.
fn loss(cfg: &lineage::ModelConfig, w: &Weights, ids: &Tensor) -> Tensor {
    let model = Model::new(cfg, w).unwrap();
    let t = ids.dim(1).unwrap();
    let logits = model
        .forward(&ids.narrow(1, 0, t - 1).unwrap(), None)
        .unwrap();
    let logp = ops::log_softmax_last(&logits).unwrap();
    let target = ids
        .narrow(1, 1, t - 1)
        .unwrap()
        .to_dtype(DType::U32)
        .unwrap()
        .unsqueeze(2)
        .unwrap();
    logp.gather(&target, 2)
        .unwrap()
        .mean_all()
        .unwrap()
        .neg()
        .unwrap()
}

fn as_vars(w: &Weights, dtype: DType, vars: &mut Vec<(String, Var)>) -> Weights {
    w.map_dense(|name, t| {
        let v = Var::from_tensor(&t.to_dtype(dtype)?)?;
        vars.push((name.to_string(), v.clone()));
        Ok(v.as_tensor().clone())
    })
    .unwrap()
}

fn check(case: &str, names: &[&str]) {
    let (cfg, w) = common::load(case, "config.json");
    let ids = common::expected(case)["input_ids"]
        .narrow(1, 0, 12)
        .unwrap();
    let mut vars = Vec::new();
    let w64 = as_vars(&w, DType::F64, &mut vars);
    let grads = loss(&cfg, &w64, &ids).backward().unwrap();
    let mut vars32 = Vec::new();
    let w32 = as_vars(&w, DType::F32, &mut vars32);
    let grads32 = loss(&cfg, &w32, &ids).backward().unwrap();
    for name in names {
        let var = &vars
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{case}: no weight {name}"))
            .1;
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{case}: no gradient for {name}"));
        let g = g.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let base = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for idx in [0, base.len() / 3, base.len() - 1] {
            let fd = finite_difference(&cfg, &w64, name, &base, var.as_tensor().dims(), idx, &ids);
            let err = (fd - g[idx]).abs();
            assert!(
                err <= 1e-6 + 1e-4 * fd.abs(),
                "{case} {name}[{idx}]: autodiff {} vs finite difference {fd} (|Δ| = {err:.2e})",
                g[idx]
            );
        }
        let var32 = &vars32.iter().find(|(n, _)| n == name).unwrap().1;
        let g32 = grads32
            .get(var32.as_tensor())
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let scale = g.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-8);
        let worst = g
            .iter()
            .zip(&g32)
            .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            worst <= 1e-3 * scale,
            "{case} {name}: f32 gradient differs from f64 by {worst:.2e} (scale {scale:.2e})"
        );
    }
}

fn finite_difference(
    cfg: &lineage::ModelConfig,
    w: &Weights,
    name: &str,
    base: &[f64],
    dims: &[usize],
    idx: usize,
    ids: &Tensor,
) -> f64 {
    let eps = 1e-5;
    let eval = |delta: f64| {
        let mut v = base.to_vec();
        v[idx] += delta;
        let mut w2 = w.clone();
        w2.replace(
            name,
            Tensor::from_vec(v, dims, &candle_core::Device::Cpu).unwrap(),
        )
        .unwrap();
        loss(cfg, &w2, ids).to_scalar::<f64>().unwrap()
    };
    (eval(eps) - eval(-eps)) / (2.0 * eps)
}

#[test]
fn gradients_llama_rmsnorm_rope_gqa_match_finite_differences() {
    check(
        "llama",
        &[
            "blk.0.attn_q.weight",
            "blk.1.ffn_gate.weight",
            "blk.0.attn_norm.weight",
            "token_embd.weight",
        ],
    );
}

#[test]
fn gradients_gpt2_layernorm_learned_positions_match_finite_differences() {
    check(
        "gpt2",
        &[
            "position_embd.weight",
            "blk.0.attn_q.bias",
            "blk.1.ffn_up.weight",
            "output_norm.bias",
        ],
    );
}

#[test]
fn gradients_bloom_alibi_match_finite_differences() {
    check("bloom", &["token_embd_norm.weight", "blk.0.attn_k.weight"]);
}

#[test]
fn gradients_gpt_oss_sinks_moe_window_match_finite_differences() {
    check(
        "gpt_oss",
        &[
            "blk.0.attn_sinks.weight",
            "blk.0.ffn_gate_inp.weight",
            "blk.1.ffn_up_exps.weight",
            "blk.0.ffn_down_exps.bias",
        ],
    );
}

/// DeepSeek-V2: MLA without q LoRA, softmax router with max-ranked groups.
#[test]
fn gradients_deepseek_v2_direct_query_softmax_grouped_router_match_finite_differences() {
    check(
        "deepseek_v2",
        &[
            "blk.0.attn_q.weight",
            "blk.1.attn_kv_a_mqa.weight",
            "blk.1.ffn_gate_inp.weight",
            "blk.1.ffn_up_exps.weight",
        ],
    );
}

#[test]
fn gradients_deepseek_mla_grouped_router_match_finite_differences() {
    check(
        "deepseek_v3",
        &[
            "blk.0.attn_kv_b.weight",
            "blk.1.attn_q_a.weight",
            "blk.1.ffn_gate_inp.weight",
            "blk.2.ffn_down_shexp.weight",
        ],
    );
}
