//! GGUF export: written file -> lineage's GGUF loader -> logits vs transformers' expected
//! logits. F32 must match as tightly as the HF path; F16 and Q8_0 within bounds set from
//! measurements (comments below).

use lineage::families::GgufPrecision;
use lineage::train::export::{gguf_arch, write_gguf, GgufArch, GgufDtype};

use crate::support::{run_of, scratch, vs_hf};

// Measured on these fixtures (max|Δ| over all [2, 32, V] logits, |logits| ≤ ~6.5), loaded
// with f32 weights (dequantized), so only the storage rounding counts:
//
// | dtype | measured | bound | why |
// |---|---|---|---|
// | F32  | 3.3e-6 .. 8.5e-6 | 1e-4 | HF's own f32-vs-f64 noise is ~5e-6 |
// | F16  | 3.4e-3 .. 1.0e-2 | 2e-2 | each weight rounded by ≤ 2^-11 relative |
// | Q8_0 dense | 0.08 .. 0.27 | 0.5 | ~0.4% rms weight noise, amplified by random-weight models |
// | Q8_0 MoE | 0.25 (mixtral), 0.57 (qwen3_moe) | 1.0 | the same noise also flips routing choices whose margins are ≥ 1e-4 |
const F32_TOL: f32 = 1e-4;
const F16_TOL: f32 = 2e-2;
const Q8_0_TOL: f32 = 0.5;
const Q8_0_MOE_TOL: f32 = 1.0;

fn check(case: &str, arch: GgufArch, dtype: GgufDtype, tol: f32) {
    let dir = scratch(&format!("gguf_{case}_{dtype:?}"));
    let run = run_of(case, &dir, None);
    assert_eq!(gguf_arch(&run.cfg).unwrap(), arch, "{case}: arch");
    let out = dir.join("model.gguf");
    write_gguf(&run.cfg, &run.weights, None, dtype, &out).unwrap_or_else(|e| panic!("{case}: {e}"));
    let (d, at) = vs_hf(&out, case, GgufPrecision::F32);
    eprintln!("{case}: GGUF {dtype:?} export logits vs transformers max|Δ| = {d:.3e}");
    assert!(
        d <= tol,
        "{case}: GGUF {dtype:?} logits max|Δ| = {d:.3e} at flat index {at} (bound {tol:.1e})"
    );
}

macro_rules! cases {
    ($($name:ident => $case:literal, $arch:ident, $q8:expr;)*) => {
        mod export_gguf_f32_logits_match_transformers {
            use super::*;
            $( #[test] fn $name() { check($case, GgufArch::$arch, GgufDtype::F32, F32_TOL); } )*
        }
        mod export_gguf_f16_logits_within_bound {
            use super::*;
            $( #[test] fn $name() { check($case, GgufArch::$arch, GgufDtype::F16, F16_TOL); } )*
        }
        mod export_gguf_q8_0_logits_within_bound {
            use super::*;
            $( #[test] fn $name() { check($case, GgufArch::$arch, GgufDtype::Q8_0, $q8); } )*
        }
    };
}

cases! {
    gpt2 => "gpt2", Gpt2, Q8_0_TOL;
    llama => "llama", Llama, Q8_0_TOL;
    llama_tied_mqa => "llama_tied_mqa", Llama, Q8_0_TOL;
    llama_yarn => "llama_yarn", Llama, Q8_0_TOL;
    llama_linear => "llama_linear", Llama, Q8_0_TOL;
    qwen2 => "qwen2", Llama, Q8_0_TOL;
    qwen3 => "qwen3", Qwen3, Q8_0_TOL;
    mixtral => "mixtral", Llama, Q8_0_MOE_TOL;
    qwen3_moe => "qwen3_moe", Qwen3Moe, Q8_0_MOE_TOL;
}
