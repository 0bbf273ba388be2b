//! GGUF export byte for byte against files gguf-py wrote from the same HF fixtures
//! (tools/gguf_convert/convert_fixture.py, which follows convert_hf_to_gguf.py: q/k
//! permutation, fused GPT-2 qkv, llama3 `rope_freqs`, expert stacks, F16 / Q8_0 via
//! `gguf.quants`), and Q8_0 blocks against a quantization done by hand.

use std::path::Path;

use lineage::kernels::quant::{dequantize_row, GgmlType};
use lineage::train::export::{q8_0_bytes, write_gguf, GgufDtype};
use lineage::weights::gguf::{GgufFile, MetaValue};

use crate::support::{gguf_fixture, run_of, scratch};

fn export(case: &str, dtype: GgufDtype) -> std::path::PathBuf {
    let dir = scratch(&format!("bytes_{case}_{dtype:?}"));
    let run = run_of(case, &dir, None);
    let out = dir.join(format!("{case}.gguf"));
    write_gguf(&run.cfg, &run.weights, None, dtype, &out).unwrap();
    out
}

fn same_value(a: &MetaValue, b: &MetaValue) -> bool {
    match (a.as_i128(), b.as_i128()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Every tensor of the oracle file has the same type, dims and bytes in ours (`approx`:
/// tensors compared as f32 values within 1e-6 relative instead), and every `{arch}.*`
/// and `general.file_type` pair of the oracle is in ours with the same value.
fn check_against(ours: &Path, oracle: &Path, approx: &[&str]) {
    let (a, b) = (
        GgufFile::open(ours).unwrap(),
        GgufFile::open(oracle).unwrap(),
    );
    let mut names_a: Vec<&str> = a.tensors().iter().map(|t| t.name.as_str()).collect();
    let mut names_b: Vec<&str> = b.tensors().iter().map(|t| t.name.as_str()).collect();
    names_a.sort();
    names_b.sort();
    assert_eq!(names_a, names_b, "tensor names");
    for tb in b.tensors() {
        let ta = a.tensor(&tb.name).unwrap();
        assert_eq!(
            (ta.ggml_type, &ta.dims),
            (tb.ggml_type, &tb.dims),
            "{}: type/dims",
            tb.name
        );
        let (ba, bb) = (
            a.tensor_bytes(&tb.name).unwrap(),
            b.tensor_bytes(&tb.name).unwrap(),
        );
        if approx.contains(&tb.name.as_str()) {
            let f = |x: &[u8]| {
                x.chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect::<Vec<_>>()
            };
            for (x, y) in f(ba).iter().zip(f(bb)) {
                assert!((x - y).abs() <= 1e-6 * y.abs(), "{}: {x} vs {y}", tb.name);
            }
        } else if let Some(i) = ba.iter().zip(bb).position(|(x, y)| x != y) {
            panic!("{}: first differing byte at {i} of {}", tb.name, bb.len());
        }
    }
    let arch = b
        .metadata()
        .get_str("general.architecture")
        .unwrap()
        .to_string();
    for (k, v) in b.metadata().iter() {
        if k.starts_with(&format!("{arch}."))
            || k == "general.file_type"
            || k == "general.architecture"
        {
            let mine = a
                .metadata()
                .get(k)
                .unwrap_or_else(|| panic!("missing metadata `{k}`"));
            assert!(
                same_value(mine, v),
                "metadata `{k}`: ours {mine:?}, gguf-py {v:?}"
            );
        }
    }
}

#[test]
fn export_gguf_llama_f32_equals_gguf_py_bytes() {
    // Q/K permuted to adjacent pairs, llama3 scaling as rope_freqs (float32 arithmetic in
    // numpy vs f64 here: compared as values).
    check_against(
        &export("llama", GgufDtype::F32),
        &gguf_fixture("llama.f32"),
        &["rope_freqs.weight"],
    );
}

#[test]
fn export_gguf_gpt2_f32_equals_gguf_py_bytes() {
    check_against(
        &export("gpt2", GgufDtype::F32),
        &gguf_fixture("gpt2.f32"),
        &[],
    );
}

#[test]
fn export_gguf_qwen3_f16_equals_gguf_py_bytes() {
    check_against(
        &export("qwen3", GgufDtype::F16),
        &gguf_fixture("qwen3.f16"),
        &[],
    );
}

#[test]
fn export_gguf_qwen3_moe_f32_equals_gguf_py_bytes() {
    check_against(
        &export("qwen3_moe", GgufDtype::F32),
        &gguf_fixture("qwen3_moe.f32"),
        &[],
    );
}

#[test]
fn export_gguf_llama_yarn_q8_0_equals_gguf_py_bytes() {
    check_against(
        &export("llama_yarn", GgufDtype::Q8_0),
        &gguf_fixture("llama_yarn.q8_0"),
        &[],
    );
}

/// ggml's Q8_0 by hand: per 32 values d = max|x| / 127 (f32), stored as f16; codes
/// roundf(x * (1 / d)), half away from zero.
fn q8_0_by_hand(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::new();
    for b in x.chunks(32) {
        let mut amax = 0f32;
        for v in b {
            if v.abs() > amax {
                amax = v.abs();
            }
        }
        let d = amax / 127.0;
        let inv = if d == 0.0 { 0.0 } else { 1.0 / d };
        out.extend_from_slice(&half::f16::from_f32(d).to_bits().to_le_bytes());
        for v in b {
            let y = v * inv;
            let r = if y >= 0.0 {
                (y + 0.5).floor()
            } else {
                -((-y + 0.5).floor())
            };
            out.push(r as i32 as i8 as u8);
        }
    }
    out
}

#[test]
fn export_gguf_q8_0_rows_equal_hand_quantization_and_dequantize() {
    let dir = scratch("q8_hand");
    let run = run_of("llama_yarn", &dir, None);
    let out = dir.join("m.gguf");
    write_gguf(&run.cfg, &run.weights, None, GgufDtype::Q8_0, &out).unwrap();
    let f = GgufFile::open(&out).unwrap();
    let name = "blk.1.ffn_down.weight"; // [64, 160]: 5 blocks a row
    assert_eq!(f.tensor(name).unwrap().ggml_type, GgmlType::Q8_0);
    let w = match run.weights.get(name).unwrap() {
        lineage::weights::Weight::Dense(t) => t.to_vec2::<f32>().unwrap(),
        _ => unreachable!(),
    };
    let bytes = f.tensor_bytes(name).unwrap();
    let row_bytes = 160 / 32 * 34;
    for r in [0usize, 1, 31, 63] {
        let got = &bytes[r * row_bytes..(r + 1) * row_bytes];
        assert_eq!(
            got,
            q8_0_by_hand(&w[r]).as_slice(),
            "row {r}: blocks differ from hand quantization"
        );
        let mut back = vec![0f32; 160];
        dequantize_row(name, GgmlType::Q8_0, got, &mut back).unwrap();
        for (j, (b, x)) in back.iter().zip(&w[r]).enumerate() {
            let blk = &got[j / 32 * 34..j / 32 * 34 + 34];
            let d = half::f16::from_le_bytes([blk[0], blk[1]]).to_f32();
            assert_eq!(
                *b,
                d * blk[2 + j % 32] as i8 as f32,
                "row {r} col {j}: loader dequantization"
            );
            // Codes come from the f32 scale, the file holds its f16 rounding (≤ 2^-11 relative).
            let bound = 0.5 * d + 127.0 * d * 2f32.powi(-11) + 1e-7;
            assert!(
                (b - x).abs() <= bound,
                "row {r} col {j}: |{b} - {x}| > {bound}"
            );
        }
    }
    // Edge values: zeros, exact halves, the extreme itself, signs.
    let mut x = vec![0f32; 64];
    x[32..40].copy_from_slice(&[-3.175, 3.175, 0.0125, -0.0125, 1.5875, 0.0, -0.0, 2.0]);
    assert_eq!(q8_0_bytes(&x), q8_0_by_hand(&x));
}

#[test]
fn export_gguf_q8_0_keeps_1d_and_ragged_rows_f32() {
    // The llama fixture with d_ff = 40: ffn_down rows (40 values) are not whole blocks.
    let dir = scratch("q8_ragged");
    let mut run = run_of("llama", &dir, None);
    run.cfg.ffn.d_ff = 40;
    for i in 0..run.cfg.n_layers() {
        for (n, shape) in [
            ("ffn_gate", (40, 64)),
            ("ffn_up", (40, 64)),
            ("ffn_down", (64, 40)),
        ] {
            let t =
                candle_core::Tensor::randn(0f32, 0.15, shape, &candle_core::Device::Cpu).unwrap();
            run.weights.insert(format!("blk.{i}.{n}.weight"), t);
        }
    }
    let out = dir.join("m.gguf");
    write_gguf(&run.cfg, &run.weights, None, GgufDtype::Q8_0, &out).unwrap();
    let f = GgufFile::open(&out).unwrap();
    for t in f.tensors() {
        let ragged = t.name.ends_with("ffn_down.weight");
        let want = if t.dims.len() == 1 || ragged {
            GgmlType::F32
        } else {
            GgmlType::Q8_0
        };
        assert_eq!(t.ggml_type, want, "{}", t.name);
    }
    assert_eq!(f.metadata().get_u32("general.file_type").unwrap(), 7);
    assert_eq!(f.alignment(), 32);
    assert_eq!(f.data_start() % 32, 0);
}
