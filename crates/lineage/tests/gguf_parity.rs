//! The GGUF path against Hugging Face: each HF fixture converted to GGUF the way
//! llama.cpp's `convert_hf_to_gguf.py` does (tools/gguf_convert/convert_fixture.py,
//! files in tests/fixtures/gguf), loaded through the GGUF adapter and compared with HF's
//! expected logits. Quantized files are also compared between the two GGUF load modes.

mod common;

use std::path::PathBuf;

use candle_core::Tensor;
use common::{expected, max_abs_diff};
use lineage::config::{FfnKind, Position, RopeScaling};
use lineage::families::GgufPrecision;
use lineage::model::Model;
use lineage::weights::Weight;
use lineage::LoadOptions;

fn gguf_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gguf")
        .join(format!("{file}.gguf"))
}

fn model(file: &str, precision: GgufPrecision) -> Model {
    let path = gguf_path(file);
    let (cfg, w) = lineage::load_with(&path, LoadOptions { gguf: precision })
        .unwrap_or_else(|e| panic!("{file}.gguf ({precision:?}): load failed: {e}"));
    Model::new(&cfg, &w)
        .unwrap_or_else(|e| panic!("{file}.gguf ({precision:?}): build failed: {e}"))
}

fn logits(file: &str, case: &str, precision: GgufPrecision) -> Tensor {
    let ids = &expected(case)["input_ids"];
    model(file, precision)
        .forward(ids, None)
        .unwrap_or_else(|e| panic!("{file}.gguf: forward failed: {e}"))
}

fn max_abs(t: &Tensor) -> f32 {
    t.abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// GGUF (dequantised to f32) logits against HF's, within `tol`.
fn check_hf(file: &str, case: &str, tol: f32) {
    let got = logits(file, case, GgufPrecision::F32);
    let (d, at) = max_abs_diff(&got, &expected(case)["logits"]);
    eprintln!("{file}: GGUF f32 path vs HF logits max|Δ| = {d:.3e}");
    assert!(d <= tol, "{file}.gguf vs HF {case}: logits max|Δ| = {d:.3e} at flat index {at} (tolerance {tol:.1e})");
}

/// The quantized path (packed weights, exact f32 activations by default) against the
/// f32 path on the same file, relative to the largest logit.
fn check_quantized_vs_f32(file: &str, case: &str, rel_tol: f32) {
    let reference = logits(file, case, GgufPrecision::F32);
    let quant = logits(file, case, GgufPrecision::Quantized);
    let (d, at) = max_abs_diff(&quant, &reference);
    let rel = d / max_abs(&reference);
    eprintln!("{file}: quantized vs f32 path max|Δ| = {d:.3e}, relative {rel:.3e}");
    assert!(rel <= rel_tol, "{file}.gguf: quantized path vs f32 path max|Δ| = {d:.3e} at {at}, relative {rel:.3e} > {rel_tol:.1e}");
}

/// Cached greedy generation from the GGUF must reproduce HF's `greedy_ids` exactly.
fn check_greedy(file: &str, case: &str) {
    let exp = expected(case);
    let want = exp["greedy_ids"].to_vec2::<i64>().unwrap();
    let t = exp["input_ids"].dim(1).unwrap();
    let got = lineage::runtime::generate::greedy(
        &model(file, GgufPrecision::F32),
        &exp["input_ids"],
        want[0].len() - t,
    )
    .unwrap();
    for (r, (g, w)) in got.iter().zip(&want).enumerate() {
        let g: Vec<i64> = g.iter().map(|&x| x as i64).collect();
        if let Some(p) = g.iter().zip(w).position(|(a, b)| a != b) {
            panic!(
                "{file}.gguf: row {r} greedy differs at position {p} (step {}): got {} want {}",
                p as i64 - t as i64,
                g[p],
                w[p]
            );
        }
    }
}

// Tolerances, measured on these files (max|Δ| over all [2, 32, V] logits, |logits| ≤ ~6.5):
//
// | format | vs HF, measured | bound | why that size |
// |---|---|---|---|
// | F32 (and MXFP4 experts) | 3.3e-6 .. 8.5e-6 | 1e-4 | HF's own f32-vs-f64 noise is ~5e-6 (fixtures/hf/README) |
// | F16  | 6.8e-3 (qwen3)   | 2e-2 | f16 rounds each weight by ≤ 2^-11 relative; 3x the measurement |
// | Q8_0 | 0.20 .. 0.27     | 0.5  | ~0.4% rms weight noise, amplified by the random-weight models |
// | Q4_0 | 3.0 .. 4.4       | 6.0  | ~8% rms weight noise: a smoke bound; [`q_weights_match_f32_file`] is the sharp check |
//
// Quantized path vs the f32 path on the same file, relative to max|logit|: with the default
// exact f32 activations (weights dequantised in registers) the two differ only in
// summation order, measured 6.5e-7 .. 1.5e-6 on dense and MoE files alike (bound 2e-5).
// `LINEAGE_QUANT_ACT=int8` (llama.cpp's 8-bit activations) is process-wide and moves
// logits by ~2e-2 relative; the quantized kernels' own tests cover that arithmetic.
const F32_TOL: f32 = 1e-4;
const F16_TOL: f32 = 2e-2;
const Q8_0_TOL: f32 = 0.5;
const Q4_0_TOL: f32 = 6.0;
const QUANT_REL_TOL: f32 = 2e-5;

macro_rules! files {
    ($($name:ident => $file:literal, $case:literal, $tol:expr;)*) => {
        mod logits_match_hf { use super::*; $( #[test] fn $name() { check_hf($file, $case, $tol); } )* }
    };
}

macro_rules! quantized_files {
    ($($name:ident => $file:literal, $case:literal;)*) => {
        mod quantized_path_matches_f32_path { use super::*; $( #[test] fn $name() {
            check_quantized_vs_f32($file, $case, QUANT_REL_TOL);
        } )* }
    };
}

files! {
    llama_f32 => "llama.f32", "llama", F32_TOL;
    llama_q4_0 => "llama.q4_0", "llama", Q4_0_TOL;
    llama_tied_mqa_q4_0 => "llama_tied_mqa.q4_0", "llama_tied_mqa", Q4_0_TOL;
    llama_yarn_q8_0 => "llama_yarn.q8_0", "llama_yarn", Q8_0_TOL;
    llama_linear_q4_0 => "llama_linear.q4_0", "llama_linear", Q4_0_TOL;
    qwen2_q8_0 => "qwen2.q8_0", "qwen2", Q8_0_TOL;
    qwen3_f16 => "qwen3.f16", "qwen3", F16_TOL;
    qwen3_moe_f32 => "qwen3_moe.f32", "qwen3_moe", F32_TOL;
    qwen3_moe_q4_0 => "qwen3_moe.q4_0", "qwen3_moe", Q4_0_TOL;
    gpt2_f32 => "gpt2.f32", "gpt2", F32_TOL;
    phi3_f32 => "phi3.f32", "phi3", F32_TOL;
    phi3_q4_0 => "phi3.q4_0", "phi3", Q4_0_TOL;
    mixtral_q4_0 => "mixtral.q4_0", "mixtral", Q4_0_TOL;
    deepseek_v3_f32 => "deepseek_v3.f32", "deepseek_v3", F32_TOL;
}

// Only files with quantized matrices: an F32/F16 file has no second path to compare.
quantized_files! {
    llama_q4_0 => "llama.q4_0", "llama";
    llama_tied_mqa_q4_0 => "llama_tied_mqa.q4_0", "llama_tied_mqa";
    llama_yarn_q8_0 => "llama_yarn.q8_0", "llama_yarn";
    llama_linear_q4_0 => "llama_linear.q4_0", "llama_linear";
    qwen2_q8_0 => "qwen2.q8_0", "qwen2";
    qwen3_moe_q4_0 => "qwen3_moe.q4_0", "qwen3_moe";
    phi3_q4_0 => "phi3.q4_0", "phi3";
    mixtral_q4_0 => "mixtral.q4_0", "mixtral";
}

mod f32_greedy_matches_hf {
    use super::*;
    #[test]
    fn llama() {
        check_greedy("llama.f32", "llama");
    }
    #[test]
    fn qwen3_moe() {
        check_greedy("qwen3_moe.f32", "qwen3_moe");
    }
    #[test]
    fn gpt2() {
        check_greedy("gpt2.f32", "gpt2");
    }
    #[test]
    fn phi3() {
        check_greedy("phi3.f32", "phi3");
    }
    #[test]
    fn deepseek_v3() {
        check_greedy("deepseek_v3.f32", "deepseek_v3");
    }
}

/// Every tensor of a quantized file, dequantised, lies within its format's rounding of
/// the same tensor in the F32 file: the tensor mapping is the same and gguf-py's blocks
/// decode as gguf-py encoded them. Per block, Q8_0 rounds by ≤ d/2 = amax/254 and Q4_0
/// by ≤ |d| = amax/8 (its +8 code is clipped to 7); the tensor's amax bounds amax.
fn check_q_weights(q_file: &str, f32_file: &str, amax_fraction: f32) {
    let load = |f: &str| {
        lineage::load_with(
            &gguf_path(f),
            LoadOptions {
                gguf: GgufPrecision::F32,
            },
        )
        .unwrap()
        .1
    };
    let (q, f) = (load(q_file), load(f32_file));
    assert_eq!(
        q.names().count(),
        f.names().count(),
        "{q_file} and {f32_file} hold different tensors"
    );
    for (name, w) in f.iter() {
        let (lineage::weights::Weight::Dense(a), Ok(lineage::weights::Weight::Dense(b))) =
            (w, q.get(name))
        else {
            panic!("{q_file}: `{name}` missing or not dense in f32 mode")
        };
        let bound = max_abs(a) * amax_fraction * 1.01; // 1%: the f16 block scale's rounding
        let (d, at) = max_abs_diff(a, b);
        assert!(
            d <= bound,
            "{q_file}: `{name}` differs from {f32_file} by {d:.3e} at {at} > {bound:.3e}"
        );
    }
}

mod q_weights_match_f32_file {
    use super::*;
    #[test]
    fn llama_q4_0() {
        check_q_weights("llama.q4_0", "llama.f32", 1.0 / 8.0);
    }
    #[test]
    fn qwen3_moe_q4_0() {
        check_q_weights("qwen3_moe.q4_0", "qwen3_moe.f32", 1.0 / 8.0);
    }
    #[test]
    fn phi3_q4_0() {
        check_q_weights("phi3.q4_0", "phi3.f32", 1.0 / 8.0);
    }
}

/// llama.cpp reads Gemma 3 with every 6th layer global and scale 1/sqrt(head_dim); the
/// fixture (layers [S,S,F,S], query_pre_attn_scalar 24) is not that model. The adapter must
/// read the file as llama.cpp does; with those two settings taken from HF's config, the
/// converted weights and the rest of the metadata must reproduce HF.
#[test]
fn gemma3_reads_as_llama_cpp_and_matches_hf_with_its_layer_pattern() {
    let (mut cfg, w) = lineage::load_with(
        &gguf_path("gemma3_text.q8_0"),
        LoadOptions {
            gguf: GgufPrecision::F32,
        },
    )
    .unwrap();
    assert!(
        cfg.layers
            .iter()
            .all(|l| l.window == Some(6) && l.rope.is_some()),
        "llama.cpp: 4 layers, none is a 6th: {:?}",
        cfg.layers
    );
    assert_eq!(cfg.attention.scale, None, "llama.cpp: 1/sqrt(head_dim)");
    let (hf, _) = lineage::families::load_hf_dir(&common::fixture_dir("gemma3_text")).unwrap();
    cfg.layers = hf.layers.clone();
    cfg.attention.scale = hf.attention.scale;
    assert_eq!(cfg.position, hf.position, "global RoPE");
    let model = Model::new(&cfg, &w).unwrap();
    let got = model
        .forward(&expected("gemma3_text")["input_ids"], None)
        .unwrap();
    let (d, at) = max_abs_diff(&got, &expected("gemma3_text")["logits"]);
    eprintln!("gemma3_text.q8_0 (HF layer pattern) vs HF: {d:.3e}");
    assert!(
        d <= Q8_0_TOL,
        "gemma3_text.q8_0 with HF's layer pattern vs HF: logits max|Δ| = {d:.3e} at {at}"
    );
}

/// llama.cpp reads gpt-oss with the clamped SwiGLU's limit hard-coded to 7.0 and YaRN's
/// correction range floor/ceil'd; the fixtures use `swiglu_limit` 2.0 (so the clamp
/// bites) and `truncate: false`, which no gpt-oss GGUF can say. The adapter must read the
/// file as llama.cpp does; with those two settings taken from HF's config, everything
/// else the file says (layer windows, sinks, router, biases, YaRN) must equal HF's config
/// and the weights must reproduce HF's logits and greedy tokens.
fn gpt_oss_model(file: &str, case: &str, precision: GgufPrecision) -> Model {
    let (mut cfg, w) =
        lineage::load_with(&gguf_path(file), LoadOptions { gguf: precision }).unwrap();
    let (hf, _) = lineage::families::load_hf_dir(&common::fixture_dir(case)).unwrap();
    assert_eq!(
        cfg.ffn.kind,
        FfnKind::ClampedSwiGlu {
            alpha: 1.702,
            limit: 7.0
        },
        "{file}: llama.cpp's hard-coded clamp"
    );
    let Position::Rope(rope) = &mut cfg.position else {
        panic!("{file}: no RoPE")
    };
    let RopeScaling::Yarn { truncate, .. } = &mut rope.scaling else {
        panic!("{file}: not YaRN: {:?}", rope.scaling)
    };
    assert!(
        *truncate,
        "{file}: llama.cpp floor/ceils the YaRN correction range"
    );
    *truncate = false;
    cfg.ffn.kind = hf.ffn.kind;
    assert_eq!(
        (&cfg.position, &cfg.layers, &cfg.attention, &cfg.ffn),
        (&hf.position, &hf.layers, &hf.attention, &hf.ffn),
        "{file}"
    );
    Model::new(&cfg, &w).unwrap()
}

fn check_gpt_oss(file: &str, case: &str, precision: GgufPrecision) {
    let exp = expected(case);
    let model = gpt_oss_model(file, case, precision);
    let (d, at) = max_abs_diff(
        &model.forward(&exp["input_ids"], None).unwrap(),
        &exp["logits"],
    );
    eprintln!("{file} ({precision:?}, HF clamp and YaRN range) vs HF logits max|Δ| = {d:.3e}");
    assert!(
        d <= F32_TOL,
        "{file}.gguf ({precision:?}) vs HF {case}: logits max|Δ| = {d:.3e} at flat index {at}"
    );
    let want = exp["greedy_ids"].to_vec2::<i64>().unwrap();
    let t = exp["input_ids"].dim(1).unwrap();
    let got =
        lineage::runtime::generate::greedy(&model, &exp["input_ids"], want[0].len() - t).unwrap();
    let got: Vec<Vec<i64>> = got
        .iter()
        .map(|r| r.iter().map(|&x| x as i64).collect())
        .collect();
    assert_eq!(
        got, want,
        "{file}.gguf ({precision:?}): greedy ids differ from HF's"
    );
}

mod gpt_oss_matches_hf_with_its_clamp_and_yarn_range {
    use super::*;
    #[test]
    fn f32() {
        check_gpt_oss("gpt_oss.f32", "gpt_oss", GgufPrecision::F32);
    }
    #[test]
    fn mxfp4_dequantized() {
        check_gpt_oss("gpt_oss_mxfp4.f32", "gpt_oss_mxfp4", GgufPrecision::F32);
    }
    #[test]
    fn mxfp4_packed() {
        check_gpt_oss(
            "gpt_oss_mxfp4.f32",
            "gpt_oss_mxfp4",
            GgufPrecision::Quantized,
        );
    }
}

/// GGUF MXFP4 expert stacks load packed (4.25 bits/param), and each packed expert
/// dequantises to exactly what ggml's block decoder (the f32 load mode) gives.
#[test]
fn gguf_mxfp4_experts_stay_packed_and_match_ggml_decoding() {
    let load = |p| {
        lineage::load_with(&gguf_path("gpt_oss_mxfp4.f32"), LoadOptions { gguf: p })
            .unwrap()
            .1
    };
    let (packed, dense) = (load(GgufPrecision::Quantized), load(GgufPrecision::F32));
    assert_eq!(
        packed.summary().mxfp4_bits_per_param(),
        Some(4.25),
        "{}",
        packed.summary()
    );
    let mut n = 0;
    for (name, w) in packed.iter() {
        let Weight::Mxfp4(m) = w else { continue };
        let Ok(Weight::Dense(d)) = dense.get(name) else {
            panic!("`{name}` not dense in f32 mode")
        };
        for e in 0..m.shape()[0] {
            let (diff, at) = max_abs_diff(&m.dequantize(e).unwrap(), &d.get(e).unwrap());
            assert_eq!(
                diff, 0.0,
                "`{name}` expert {e}: packed vs ggml decoding differ by {diff} at {at}"
            );
        }
        n += 1;
    }
    assert_eq!(
        n, 6,
        "2 layers x gate/up/down expert stacks should be MXFP4"
    );
}

/// Block-quantized expert stacks (Mixtral and Qwen3-MoE Q4_0) stay in their blocks: one
/// quantized matrix per expert over the file's bytes, resident at the type's bits per
/// weight, never dequantised to f32 (which would take 32 / 4.5 ≈ 7x the memory).
#[test]
fn gguf_quantized_expert_stacks_stay_in_their_blocks() {
    for file in ["mixtral.q4_0", "qwen3_moe.q4_0"] {
        let (_, w) = lineage::load(&gguf_path(file)).unwrap();
        let mut stacks = 0;
        for (name, wt) in w.iter().filter(|(n, _)| n.contains("_exps.")) {
            let Weight::QuantStack(qs) = wt else {
                panic!(
                    "{file}: `{name}` is not a quantized stack: {:?}",
                    wt.shape()
                )
            };
            let params: usize = wt.shape().iter().product();
            let ty = qs[0].ggml_type();
            let bytes = params / ty.block_size() * ty.type_size();
            assert_eq!(wt.resident_bytes(), bytes, "{file}: `{name}` ({ty})");
            // Q4_0: 4.5 bits per weight.
            assert!(
                wt.resident_bytes() * 8 <= params * 9 / 2,
                "{file}: `{name}` is not packed"
            );
            stacks += 1;
        }
        assert!(stacks >= 6, "{file}: only {stacks} expert stacks");
    }
}

/// DeepSeek GGUFs written before llama.cpp's MLA rework carry one `attn_kv_b` and the
/// per-head sizes in `key_length` / `value_length` (no `*_mla` keys, `head_count_kv` =
/// heads). The committed file is rewritten into that form (k_b/v_b joined by hand, as the
/// old converter wrote `kv_b_proj` unchanged) and must still reproduce HF's logits.
#[test]
fn deepseek2_legacy_kv_b_form_matches_hf() {
    use lineage::weights::gguf::{GgufFile, GgufWriter, MetaValue};
    let src = GgufFile::open(gguf_path("deepseek_v3.f32")).unwrap();
    let mut w = GgufWriter::new();
    for (k, v) in src.metadata().iter() {
        let v = match k {
            "deepseek2.attention.key_length_mla" | "deepseek2.attention.value_length_mla" => {
                continue
            }
            "deepseek2.attention.key_length" => MetaValue::U32(24),
            "deepseek2.attention.value_length" => MetaValue::U32(16),
            "deepseek2.attention.head_count_kv" => MetaValue::U32(4),
            _ => v.clone(),
        };
        w.add_kv(k, v);
    }
    let f32s = |name: &str| -> Vec<f32> {
        src.tensor_bytes(name)
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let (h, nope, v, r) = (4, 16, 16, 32);
    for t in src.tensors() {
        if t.name.ends_with("attn_v_b.weight") {
            continue;
        }
        if let Some(p) = t.name.strip_suffix("attn_k_b.weight") {
            let (k_b, v_b) = (f32s(&t.name), f32s(&format!("{p}attn_v_b.weight"))); // [h, r, nope], [h, v, r]
            let mut kv_b = Vec::with_capacity(h * (nope + v) * r); // [h·(nope+v), r]
            for hh in 0..h {
                (0..nope).for_each(|i| kv_b.extend((0..r).map(|c| k_b[(hh * r + c) * nope + i])));
                (0..v).for_each(|i| {
                    kv_b.extend_from_slice(&v_b[(hh * v + i) * r..(hh * v + i + 1) * r])
                });
            }
            let bytes = kv_b.iter().flat_map(|x| x.to_le_bytes()).collect();
            w.add_tensor(
                &format!("{p}attn_kv_b.weight"),
                &[r as u64, (h * (nope + v)) as u64],
                t.ggml_type,
                bytes,
            );
            continue;
        }
        w.add_tensor(
            &t.name,
            &t.dims,
            t.ggml_type,
            src.tensor_bytes(&t.name).unwrap().to_vec(),
        );
    }
    let path = std::env::temp_dir().join(format!(
        "lineage-deepseek2-legacy-{}.gguf",
        std::process::id()
    ));
    w.write(&path).unwrap();
    let (cfg, weights) = lineage::load_with(
        &path,
        LoadOptions {
            gguf: GgufPrecision::F32,
        },
    )
    .unwrap();
    std::fs::remove_file(&path).ok();
    assert!(
        weights.contains("blk.1.attn_kv_b.weight") && !weights.contains("blk.1.attn_k_b.weight")
    );
    let got = Model::new(&cfg, &weights)
        .unwrap()
        .forward(&expected("deepseek_v3")["input_ids"], None)
        .unwrap();
    let (d, at) = max_abs_diff(&got, &expected("deepseek_v3")["logits"]);
    eprintln!("deepseek2 legacy attn_kv_b form vs HF logits max|Δ| = {d:.3e}");
    assert!(
        d <= F32_TOL,
        "deepseek2 legacy form vs HF: logits max|Δ| = {d:.3e} at {at}"
    );
}
