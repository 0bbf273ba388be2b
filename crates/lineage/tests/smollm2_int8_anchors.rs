//! The 8-bit-activation path (`LINEAGE_QUANT_ACT=int8`: llama.cpp's numerics, or on
//! AVX-512 VNNI its own block-sum numerics, int8_wide.rs) on the real SmolLM2 Q4_1 against the anchors: as close
//! to the exact float64 pass as llama.cpp is, on average over the prompts, within
//! llama.cpp's own spread over its settings ([`SETTINGS`]).
//! One test per binary: the precision is read from the environment once per process.

mod common;

use candle_core::{Device, Tensor};
use common::anchors::{ids_of, prompts, top10_error};
use lineage::families::GgufPrecision;
use lineage::model::Model;
use lineage::runtime::generate::greedy;

#[test]
fn smollm2_int8_path_as_close_to_exact_as_llama_cpp() {
    // SAFETY (of the environment write): the only test of this binary, set before any
    // thread of the library reads the environment.
    std::env::set_var("LINEAGE_QUANT_ACT", "int8");
    assert_eq!(
        lineage::kernels::quant::ActPrecision::for_linear(),
        lineage::kernels::quant::ActPrecision::Int8
    );
    let test = "smollm2_int8_path_as_close_to_exact_as_llama_cpp";
    let Some(path) = lineage::cache::test_model(lineage::cache::SMOLLM2_Q4_1, test) else {
        return;
    };
    let opts = lineage::LoadOptions {
        gguf: GgufPrecision::Quantized,
    };
    let (cfg, w) = lineage::load_with(&path, opts).unwrap();
    let m = Model::new(&cfg, &w).unwrap();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for (lc, ex) in prompts() {
        let ids = ids_of(&lc, "prompt_token_ids");
        let t = Tensor::new(ids.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let logits = m.forward(&t, None).unwrap();
        let last = logits.get(0).unwrap().get(ids.len() - 1).unwrap();
        let (err, top1) = top10_error(&last.to_vec1::<f32>().unwrap(), &ex);
        // llama.cpp's distance with each recorded setting (flash attention auto, off).
        let lc_err: Vec<f64> = SETTINGS
            .iter()
            .map(|k| {
                ex["llama_cpp_distance"][k]["max_abs_diff_exact_top10"]
                    .as_f64()
                    .unwrap()
            })
            .collect();
        eprintln!("{}: int8 {err:.3}, llama.cpp {lc_err:.3?}", ex["name"]);
        assert!(
            top1,
            "{}: top-1 differs from the exact reference",
            ex["name"]
        );
        assert!(err <= 0.5, "{}: top-10 max|Δ| {err:.3} > 0.5", ex["name"]);
        ours.push(err);
        theirs.push(lc_err);
        // Greedy: with the exact path as long as llama.cpp stays with it, or up to the
        // first near tie of the exact pass (top-1/top-2 margin below 0.1), whichever
        // comes first. At a near tie the side a path falls on is down to its rounding:
        // on AVX-512 VNNI this path has its own (int8_wide.rs), not llama.cpp's.
        let want = ids_of(&ex, "greedy_token_ids");
        let tie = ex["greedy_top1_top2_margin"]
            .as_array()
            .unwrap()
            .iter()
            .position(|m| m.as_f64().unwrap() < 0.1)
            .unwrap_or(want.len());
        let need = ex["first_divergence_from_llama_cpp_greedy"]
            .as_u64()
            .map_or(want.len(), |d| d as usize)
            .min(tie);
        let got = greedy(&m, &t, want.len()).unwrap().remove(0)[ids.len()..].to_vec();
        let agree = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
        assert!(
            agree >= need,
            "{}: greedy agrees with exact for {agree} steps, needs {need} (llama.cpp's, or the first near tie)",
            ex["name"]
        );
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let a = mean(&ours);
    let b: Vec<f64> = (0..SETTINGS.len())
        .map(|k| mean(&theirs.iter().map(|t: &Vec<f64>| t[k]).collect::<Vec<_>>()))
        .collect();
    let bound = b.iter().copied().fold(0.0, f64::max);
    assert!(
        a <= bound,
        "mean top-10 max|Δ|: int8 {a:.3}, llama.cpp {b:.3?} ({SETTINGS:?})"
    );
}

/// llama.cpp's recorded settings. Its own flash-attention switch moves its mean
/// distance from 0.29 to 0.38, and two int8 paths that differ only in rounding (the
/// AVX2 and the AVX-512 VNNI kernels) land 0.28 and 0.31: a rounding change re-rounds
/// activations layer after layer. So the path is held within llama.cpp's own spread,
/// not to one of its settings.
const SETTINGS: [&str; 2] = ["llama.cpp flash_attn=auto", "llama.cpp flash_attn=off"];
