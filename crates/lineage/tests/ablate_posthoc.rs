//! Post-hoc measurements of `lineage ablate evolution` on tiny runs trained here through
//! the library (2 x 64 models, 80 steps on the synthetic copy task): extrapolation
//! curves, decode speed and KV bytes, norm timing, quantized losses, expert load; and
//! the weight quantizers against ggml's reference rounding and gguf-py's blocks.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use lineage::ablate::extrapolate::{self, Method};
use lineage::ablate::quantize::{self, QuantFormat};
use lineage::ablate::results::ExtrapolationCurve;
use lineage::ablate::{experts, inference, TrainedRun};
use lineage::analysis::kv_cache::{self, KvDtype};
use lineage::config::{Position, RopeScaling};
use lineage::kernels::quant::quantize::{mxfp4_bytes, q4_0_bytes, quantize_row};
use lineage::kernels::quant::{dequantize_row, GgmlType};
use lineage::train::data::{write_synthetic, SyntheticConfig, SyntheticTask};
use lineage::train::data_source::DataSource;
use lineage::train::run::{self, Quiet};
use lineage::train::{open_run, recipes, TrainSettings};
use lineage::weights::Weight;

const SEQ: usize = 32;
const BASE: &[&str] = &[
    "n_layers=2",
    "d_model=64",
    "n_heads=4",
    "head_dim=16",
    "d_ff=128",
    "context_len=256",
];

struct Fixture {
    data: PathBuf,
    runs: Vec<TrainedRun>,
}

impl Fixture {
    fn runs(&self, variants: &[&str]) -> Vec<TrainedRun> {
        self.runs
            .iter()
            .filter(|r| variants.contains(&r.variant.as_str()))
            .cloned()
            .collect()
    }
    fn run(&self, variant: &str) -> TrainedRun {
        self.runs(&[variant]).remove(0)
    }
}

/// Data and every run, made once per test binary.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("ablate-posthoc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let data = root.join("data");
        write_synthetic(&SyntheticConfig {
            task: SyntheticTask::Copy,
            vocab_size: 64,
            seq_len: SEQ,
            train_tokens: 20_000,
            val_tokens: None,
            seed: 7,
            out: data.clone(),
        })
        .unwrap();
        let plan: &[(&str, u64, &[&str])] = &[
            ("gpt2", 0, &[]),
            ("rope", 0, &["position=rope"]),
            ("rope", 1, &["position=rope"]),
            ("alibi", 0, &["position=alibi"]),
            ("gqa", 0, &["n_kv_heads=2"]),
            ("mla", 0, &["position=rope", "attention=mla:32"]),
            ("moe", 0, &["moe=4:2"]),
        ];
        let runs = plan
            .iter()
            .map(|(v, seed, sets)| train(&root, &data, v, *seed, sets))
            .collect();
        Fixture { data, runs }
    })
}

fn train(root: &Path, data: &Path, variant: &str, seed: u64, sets: &[&str]) -> TrainedRun {
    let dir = root.join(format!("{variant}-s{seed}"));
    let set: Vec<String> = BASE.iter().chain(sets).map(|s| s.to_string()).collect();
    let s = TrainSettings {
        model: "gpt2-tiny".into(),
        set: set.clone(),
        data: data.display().to_string(),
        seq_len: SEQ,
        batch: 4,
        steps: 80,
        warmup: 2,
        eval_every: 0,
        eval_windows: 4,
        seed,
        ..TrainSettings::default()
    };
    let src = DataSource::open(&s.data, SEQ, 4, 1, seed).unwrap();
    let cfg = recipes::resolve("gpt2-tiny", &set, Some(64)).unwrap();
    let mut t = run::start(&dir, cfg, s).unwrap();
    run::train(&dir, &mut t, &src, &mut Quiet).unwrap();
    TrainedRun::new(variant, seed, dir)
}

// ---- extrapolation ----

const LENGTHS: &[usize] = &[16, 32, 64, 128, 512, 5000];

fn curves() -> &'static [ExtrapolationCurve] {
    static C: OnceLock<Vec<ExtrapolationCurve>> = OnceLock::new();
    C.get_or_init(|| {
        let f = fixture();
        extrapolate::curves(
            &f.runs(&["gpt2", "rope", "alibi"]),
            &f.data,
            SEQ,
            LENGTHS,
            4,
        )
        .unwrap()
    })
}

fn curve(variant: &str, method: &str) -> &'static ExtrapolationCurve {
    curves()
        .iter()
        .find(|c| c.variant == variant && c.method == method)
        .unwrap_or_else(|| panic!("no curve {variant}/{method}"))
}

fn lengths(c: &ExtrapolationCurve) -> Vec<usize> {
    c.points.iter().map(|p| p.0).collect()
}

fn loss_at(c: &ExtrapolationCurve, len: usize) -> f64 {
    c.points.iter().find(|p| p.0 == len).unwrap().1.mean
}

#[test]
fn curves_each_position_kind_gets_its_methods() {
    let names: Vec<(&str, &str)> = curves()
        .iter()
        .map(|c| (c.variant.as_str(), c.method.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("gpt2", "learned"),
            ("rope", "rope"),
            ("rope", "rope+linear"),
            ("rope", "rope+ntk"),
            ("rope", "rope+yarn"),
            ("alibi", "alibi")
        ]
    );
}

/// Learned positions run up to their table (context_len 256), past the trained length 32
/// on rows that kept their initialisation; 512 and 5000 lie beyond the table.
#[test]
fn curves_learned_positions_stop_at_their_table() {
    assert_eq!(lengths(curve("gpt2", "learned")), [16, 32, 64, 128]);
}

#[test]
fn curves_rope_and_alibi_run_past_context_len_but_not_past_the_val_file() {
    // 512 exceeds the trained context_len of 256 (raised at inference); no window of
    // 5001 tokens fits the ~1000-token validation file, so 5000 is left out.
    for (v, m) in [("rope", "rope+yarn"), ("alibi", "alibi")] {
        let c = curve(v, m);
        assert_eq!(lengths(c), [16, 32, 64, 128, 512], "{v}/{m}");
        assert!(
            c.points.iter().all(|p| p.1.mean.is_finite()),
            "{v}/{m}: {:?}",
            c.points
        );
    }
}

#[test]
fn curves_two_seeds_give_a_finite_interval() {
    for (_, s) in &curve("rope", "rope").points {
        assert_eq!(s.n, 2);
        assert!(s.ci95.is_finite() && s.std >= 0.0, "{s:?}");
    }
    assert_eq!(curve("gpt2", "learned").points[0].1.n, 1);
}

#[test]
fn curves_scalings_equal_plain_rope_up_to_train_len_and_differ_beyond() {
    let rope = curve("rope", "rope");
    for m in ["rope+linear", "rope+ntk", "rope+yarn"] {
        let c = curve("rope", m);
        for len in [16, 32] {
            let (a, b) = (loss_at(rope, len), loss_at(c, len));
            assert!((a - b).abs() <= 1e-5 * a, "{m} at {len}: {b} vs rope {a}");
        }
        for len in [128, 512] {
            let (a, b) = (loss_at(rope, len), loss_at(c, len));
            assert!((a - b).abs() > 1e-4, "{m} at {len}: {b} equals rope {a}");
        }
    }
}

#[test]
fn config_for_yarn_sets_the_factor_from_the_length() {
    let cfg = open_run(&fixture().run("rope").dir).unwrap().cfg;
    let c = extrapolate::config_for(&cfg, Method::RopeYarn, 32, 128).unwrap();
    let Position::Rope(r) = &c.position else {
        panic!("not rope")
    };
    match &r.scaling {
        RopeScaling::Yarn {
            factor,
            original_max,
            beta_fast,
            beta_slow,
            attention_factor,
            truncate,
        } => {
            assert_eq!(
                (*factor, *original_max, *beta_fast, *beta_slow, *truncate),
                (4.0, 32, 32.0, 1.0, true)
            );
            assert!((attention_factor - (0.1 * 4f64.ln() + 1.0)).abs() < 1e-12);
        }
        other => panic!("{other:?}"),
    }
    let c = extrapolate::config_for(&cfg, Method::RopeNtk, 32, 512).unwrap();
    assert_eq!(c.context_len, 512);
    let Position::Rope(r) = &c.position else {
        panic!("not rope")
    };
    assert_eq!(
        r.scaling,
        RopeScaling::DynamicNtk {
            factor: 16.0,
            original_max: 32
        }
    );
}

#[test]
fn config_for_learned_beyond_its_table_is_an_error() {
    let cfg = open_run(&fixture().run("gpt2").dir).unwrap().cfg;
    assert!(extrapolate::config_for(&cfg, Method::Learned, 32, 512).is_err());
    assert!(extrapolate::config_for(&cfg, Method::RopeLinear, 32, 64).is_err());
}

// ---- decode and norms ----

#[test]
fn decode_dense_and_mla_runs_report_speed_path_and_analysis_kv_bytes() {
    let f = fixture();
    let out = inference::decode(&f.runs(&["gpt2", "gqa", "mla"]), 128, 16).unwrap();
    let names: Vec<&str> = out.iter().map(|d| d.variant.as_str()).collect();
    assert_eq!(names, ["gpt2", "gqa", "mla"]);
    // f32 cache, 2 layers: MHA 2*4*16 values, GQA 2*2*16, MLA latent 32 + rope key 4.
    let want = [
        (1024, "engine", "mha 4q"),
        (512, "engine", "gqa 4q/2kv"),
        (288, "engine", "mla latent 32 + rope 4"),
    ];
    for (d, (bytes, path, attn)) in out.iter().zip(want) {
        let cfg = open_run(&f.run(&d.variant).dir).unwrap().cfg;
        let analysis = kv_cache::size(&cfg, KvDtype::F32, 128)
            .unwrap()
            .bytes_per_token;
        assert_eq!(
            (d.kv_bytes_per_token, analysis),
            (bytes, bytes),
            "{}",
            d.variant
        );
        assert_eq!(
            (d.path.as_str(), d.attention.as_str(), d.context),
            (path, attn, 128)
        );
        assert!(d.decode_tok_s > 0.0 && d.decode_tok_s.is_finite(), "{d:?}");
    }
}

#[test]
fn decode_past_the_context_is_an_error() {
    assert!(inference::decode(&fixture().runs(&["gpt2"]), 250, 16).is_err());
}

#[test]
fn norm_timing_reports_layernorm_and_rmsnorm() {
    let t = inference::norm_timing(128, 64, 5).unwrap();
    let names: Vec<&str> = t.iter().map(|n| n.norm.as_str()).collect();
    assert_eq!(
        names,
        [
            "layernorm",
            "rmsnorm",
            "layernorm (candle)",
            "rmsnorm (candle)"
        ]
    );
    assert!(t.iter().all(|n| n.samples_us.len() == 5));
    assert!(t
        .iter()
        .all(|n| n.microseconds > 0.0 && (n.rows, n.d_model) == (64, 128)));
}

// ---- quantized losses ----

#[test]
fn losses_q8_0_stays_close_to_f32_and_bits_per_weight_are_the_formats() {
    let f = fixture();
    let out = quantize::losses(&f.run("gpt2"), &f.data, SEQ, 8, &QuantFormat::ALL).unwrap();
    let got: Vec<(&str, f64)> = out
        .iter()
        .map(|q| (q.format.as_str(), q.bits_per_weight))
        .collect();
    // 34, 18 and 17 bytes per 32 weights, 144 per 256; every matrix here is 64 or 128
    // wide, so Q4_K runs its super-blocks across rows (quantize.rs header).
    assert_eq!(
        got,
        [
            ("f32", 32.0),
            ("q8_0", 8.5),
            ("q4_0", 4.5),
            ("q4_k", 4.5),
            ("mxfp4", 4.25)
        ]
    );
    assert_eq!(out[0].delta_pct, 0.0);
    assert!(out
        .iter()
        .all(|q| q.val_loss.n == 8 && q.val_loss.mean.is_finite()));
    assert!(
        out[1].delta_pct.abs() < 0.5,
        "q8_0: {:+.3}%",
        out[1].delta_pct
    );
    assert_ne!(
        out[2].val_loss.mean, out[0].val_loss.mean,
        "q4_0 changed nothing"
    );
}

#[test]
fn quantize_weights_keeps_block_matrices_quantized_and_embeddings_dense() {
    let m = open_run(&fixture().run("moe").dir).unwrap();
    let q = quantize::quantize_weights(&m.cfg, &m.weights, QuantFormat::Q4_0).unwrap();
    let kind = |n: &str| match q.weights.get(n).unwrap() {
        Weight::Dense(_) => "dense",
        Weight::Quant(x) if x.ggml_type() == GgmlType::Q4_0 => "q4_0",
        _ => "other",
    };
    assert_eq!(kind("blk.0.attn_q.weight"), "q4_0");
    assert_eq!(kind("blk.1.attn_output.weight"), "q4_0");
    for n in [
        "token_embd.weight",
        "position_embd.weight",
        "blk.0.ffn_gate_inp.weight",
        "blk.0.attn_norm.weight",
    ] {
        assert_eq!(kind(n), "dense", "{n}");
    }
    // Expert stacks: quantize-dequantize, held dense but on the Q4_0 grid.
    assert_eq!(kind("blk.0.ffn_up_exps.weight"), "dense");
    assert_eq!((q.kept_f32_params, q.bits_per_weight), (0, 4.5));
}

// ---- expert load ----

#[test]
fn expert_load_fractions_sum_to_one_per_layer_and_dense_runs_are_skipped() {
    let f = fixture();
    let out = experts::load(&f.runs(&["gpt2", "moe"]), &f.data, SEQ, 8).unwrap();
    assert_eq!(out.len(), 1);
    let e = &out[0];
    assert_eq!(
        (e.variant.as_str(), e.seed, e.per_layer.len()),
        ("moe", 0, 2)
    );
    for (i, layer) in e.per_layer.iter().enumerate() {
        assert_eq!(layer.len(), 4);
        let sum: f64 = layer.iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-12,
            "layer {i}: fractions sum to {sum}"
        );
    }
    assert!(e.load_std >= 0.0 && e.load_std < 0.5, "{}", e.load_std);
}

// ---- quantizers ----

/// The inputs of the oracle run: 4 blocks at scales 1/16, 0.0131, 3.7 (with one
/// positive extreme, 250) and 0 (signed zeros).
fn oracle_input() -> Vec<f32> {
    let scale = [1.0f32 / 16.0, 0.0131, 3.7, 0.0];
    let mut x: Vec<f32> = (0..128)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 16.0 * scale[i / 32])
        .collect();
    x[64] = 250.0;
    x
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|v| format!("{v:02x}")).collect()
}

/// Bytes written by ggml's `quantize_row_{q8_0,q4_0,mxfp4}_ref` (ggml-quants.c, compiled
/// with gcc 12 -O0, x86-64) on [`oracle_input`].
const GGML_Q8_0: &str = "4d1681df3d9af856b41270cd2b89e745a2005ebb1977d53390ee4caa0866c3217fdc2d0d3c96f656b0106fca2984e3439efd5db71777d1318beb4ba50565bf1f7fd93993e03f7f04fc0105fd02faff03fb0004fd0105fe02fbff03fc0004fd0106fe02fbff0400000000000000000000000000000000000000000000000000000000000000000000";
const GGML_Q4_0: &str = "4026e046acf258bd1379df358be046acf268239d740fb953fd9731eb852fca640ea842fdd0cf80888888888888888888888888888888008088888888888888888888888888888888";
const GGML_MXFP4: &str = "7a6fdb257ec946fea267ec146fda357eb078246ec945eda156ec036fda357eb046ed84070090000190001900001900019000010000000000000000000000000000000000";

#[test]
fn quantize_row_matches_ggml_reference_bytes() {
    let x = oracle_input();
    for (ty, want) in [
        (GgmlType::Q8_0, GGML_Q8_0),
        (GgmlType::Q4_0, GGML_Q4_0),
        (GgmlType::MXFP4, GGML_MXFP4),
    ] {
        let got = hex(&quantize_row(ty, &x).unwrap());
        let at = got.bytes().zip(want.bytes()).position(|(a, b)| a != b);
        assert_eq!(
            got,
            want,
            "{ty}: first differing byte {:?}",
            at.map(|i| i / 2)
        );
    }
}

#[test]
fn q4_0_halves_round_up_and_codes_follow_the_sign_of_the_extreme() {
    let mut x = [0f32; 32];
    // max = -8 -> d = 1: q = trunc(x + 8.5) clamped to 15.
    x[..5].copy_from_slice(&[-8.0, 0.5, -0.5, 7.9, -7.5]);
    x[16] = 3.0;
    let b = q4_0_bytes(&x);
    assert_eq!(&b[..2], &half::f16::from_f32(1.0).to_le_bytes());
    let lo: Vec<u8> = b[2..7].iter().map(|v| v & 0x0f).collect();
    assert_eq!(lo, [0, 9, 8, 15, 1]);
    assert_eq!(b[2] >> 4, 11);
    // max = +8 -> d = -1: the same magnitudes map to mirrored codes.
    x[0] = 8.0;
    let b = q4_0_bytes(&x);
    assert_eq!(&b[..2], &half::f16::from_f32(-1.0).to_le_bytes());
    assert_eq!((b[2] & 0x0f, b[3] & 0x0f, b[4] & 0x0f), (0, 8, 9));
}

#[test]
fn mxfp4_ties_go_to_the_first_grid_index() {
    let mut x = [0f32; 32];
    // amax 6: e = floor(log2 6) - 2 + 127 = 127, grid step 0.5 * {0,1,2,3,4,6,8,12}.
    x[..4].copy_from_slice(&[6.0, 5.0, -0.25, 0.25]);
    let b = mxfp4_bytes(&x);
    assert_eq!(b[0], 127);
    let codes: Vec<u8> = b[1..5].iter().map(|v| v & 0x0f).collect();
    // 5 is halfway between 4 (index 6) and 6 (index 7); +-0.25 between 0 and +-0.5.
    assert_eq!(codes, [7, 6, 0, 0]);
}

fn random_row(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
            u * (0.01 + (i / 32) as f32 * 0.3)
        })
        .collect()
}

#[test]
fn quantize_then_dequantize_stays_within_the_block_step_and_is_idempotent() {
    let x = random_row(32 * 16, 0x9e3779b97f4a7c15);
    // Error bounds per block, in units of the block's absolute max.
    for (ty, bound) in [
        (GgmlType::Q8_0, 0.6 / 127.0),
        (GgmlType::Q4_0, 1.0 / 8.0),
        (GgmlType::MXFP4, 0.5),
    ] {
        let blocks = quantize_row(ty, &x).unwrap();
        assert_eq!(blocks.len(), x.len() / 32 * ty.type_size());
        let mut y = vec![0f32; x.len()];
        dequantize_row(ty.name(), ty, &blocks, &mut y).unwrap();
        for (b, (xb, yb)) in x.chunks(32).zip(y.chunks(32)).enumerate() {
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
            let (err, at) = xb
                .iter()
                .zip(yb)
                .map(|(a, b)| (a - b).abs())
                .enumerate()
                .fold((0f32, 0), |m, (i, e)| if e > m.0 { (e, i) } else { m });
            assert!(
                err <= bound * amax * 1.0001,
                "{ty} block {b}: max abs error {err} at {at}, amax {amax}"
            );
        }
        assert_eq!(
            quantize_row(ty, &y).unwrap(),
            blocks,
            "{ty}: requantizing its own output changed the blocks"
        );
    }
}

#[test]
fn quantize_row_requantizes_gguf_py_blocks_to_the_same_bytes() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/quant/quant_fixtures.safetensors"
    );
    let bytes = std::fs::read(path)
        .expect("fixture missing: run tools/quant_fixtures/make_quant_fixtures.py");
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for ty in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::MXFP4] {
        let blocks = st.tensor(&format!("{ty}.blocks")).unwrap().data().to_vec();
        let deq: Vec<f32> = st
            .tensor(&format!("{ty}.dequant"))
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let got = quantize_row(ty, &deq).unwrap();
        let at = got.iter().zip(&blocks).position(|(a, b)| a != b);
        assert!(
            at.is_none(),
            "{ty}: first differing byte {at:?} of {}",
            blocks.len()
        );
    }
}

#[test]
fn quantize_row_rejects_partial_blocks_and_other_types() {
    assert!(quantize_row(GgmlType::Q4_0, &[0.0; 48]).is_err());
    assert!(quantize_row(GgmlType::Q4_K, &[0.0; 128]).is_err());
    assert!(quantize_row(GgmlType::Q5_K, &[0.0; 256]).is_err());
}

/// Q4_K super-blocks built from known parts (d, dmin, 6-bit scales and mins, 4-bit codes)
/// and decoded by the dequantizer checked against llama.cpp: quantizing the decoded values
/// must give them back, which checks the scale packing and the code layout.
#[test]
fn q4_k_requantizes_exactly_representable_values_to_themselves() {
    let mut s = 0x2545f4914f6cdd1du64;
    let mut next = |m: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % m
    };
    let mut blocks = Vec::new();
    for _ in 0..4 {
        let mut b = vec![0u8; 144];
        b[0..2]
            .copy_from_slice(&half::f16::from_f32(0.002 + next(100) as f32 * 1e-4).to_le_bytes());
        b[2..4]
            .copy_from_slice(&half::f16::from_f32(0.001 + next(100) as f32 * 1e-4).to_le_bytes());
        for v in &mut b[4..] {
            *v = next(256) as u8;
        }
        blocks.extend(b);
    }
    let mut x = vec![0f32; 1024];
    dequantize_row("q4k", GgmlType::Q4_K, &blocks, &mut x).unwrap();
    let mut y = vec![0f32; 1024];
    dequantize_row(
        "q4k",
        GgmlType::Q4_K,
        &quantize_row(GgmlType::Q4_K, &x).unwrap(),
        &mut y,
    )
    .unwrap();
    for (sb, (xs, ys)) in x.chunks(256).zip(y.chunks(256)).enumerate() {
        let range =
            xs.iter().fold(f32::MIN, |m, &v| m.max(v)) - xs.iter().fold(f32::MAX, |m, &v| m.min(v));
        let err = xs
            .iter()
            .zip(ys)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            err <= 0.01 * range,
            "super-block {sb}: max error {err} of range {range}"
        );
    }
}

/// On random rows of mixed block scales: every value within one code step of its
/// super-block's widest sub-block, and a total error no worse than Q4_0's at the same
/// 4.5 bits per weight.
#[test]
fn q4_k_error_is_within_a_step_and_no_worse_than_q4_0() {
    let x = random_row(256 * 8, 0x853c49e6748fea9b);
    let q = quantize_row(GgmlType::Q4_K, &x).unwrap();
    assert_eq!(q.len(), 8 * 144);
    let mut y = vec![0f32; x.len()];
    dequantize_row("q4k", GgmlType::Q4_K, &q, &mut y).unwrap();
    for (sb, (xs, ys)) in x.chunks(256).zip(y.chunks(256)).enumerate() {
        let step = xs
            .chunks(32)
            .map(|c| c.iter().fold(0f32, |m, &v| m.max(v)) - c.iter().fold(0f32, |m, &v| m.min(v)))
            .fold(0f32, f32::max)
            / 15.0;
        let err = xs
            .iter()
            .zip(ys)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            err <= step,
            "super-block {sb}: max error {err} above one step {step}"
        );
    }
    let mut z = vec![0f32; x.len()];
    dequantize_row(
        "q4_0",
        GgmlType::Q4_0,
        &quantize_row(GgmlType::Q4_0, &x).unwrap(),
        &mut z,
    )
    .unwrap();
    let sq = |a: &[f32]| {
        x.iter()
            .zip(a)
            .map(|(p, q)| ((p - q) as f64).powi(2))
            .sum::<f64>()
    };
    assert!(
        sq(&y) <= sq(&z),
        "q4_k squared error {} above q4_0's {}",
        sq(&y),
        sq(&z)
    );
}
