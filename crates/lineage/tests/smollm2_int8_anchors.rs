//! The 8-bit-activation path (`LINEAGE_QUANT_ACT=int8`, llama.cpp's numerics; on
//! AVX-512 VNNI its own kernels) on the real SmolLM2 Q4_1 against the anchors: at least
//! as close to the exact float64 pass as llama.cpp is, on average over the prompts.
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
        let lc_err = ex["llama_cpp_distance"]["llama.cpp flash_attn=auto"]
            ["max_abs_diff_exact_top10"]
            .as_f64()
            .unwrap();
        eprintln!("{}: int8 {err:.3}, llama.cpp {lc_err:.3}", ex["name"]);
        assert!(
            top1,
            "{}: top-1 differs from the exact reference",
            ex["name"]
        );
        assert!(err <= 0.5, "{}: top-10 max|Δ| {err:.3} > 0.5", ex["name"]);
        ours.push(err);
        theirs.push(lc_err);
        // Greedy: with the exact path at least as long as llama.cpp stays with it.
        let want = ids_of(&ex, "greedy_token_ids");
        let need = ex["first_divergence_from_llama_cpp_greedy"]
            .as_u64()
            .map_or(want.len(), |d| d as usize);
        let got = greedy(&m, &t, want.len()).unwrap().remove(0)[ids.len()..].to_vec();
        let agree = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
        assert!(
            agree >= need,
            "{}: greedy agrees with exact for {agree} steps, llama.cpp for {need}",
            ex["name"]
        );
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (a, b) = (mean(&ours), mean(&theirs));
    assert!(a <= b, "mean top-10 max|Δ|: int8 {a:.3}, llama.cpp {b:.3}");
}
