//! The study's statistics, claim verdicts and report on a synthetic `StudyResults` whose
//! numbers are chosen here so the expected verdict of each claim follows from them:
//! clearly different losses over three seeds, overlapping ones, diverged runs, a single
//! seed and variants that were not run. Oracles: hand-computed intervals and published
//! t quantiles (NIST e-Handbook 1.3.6.7.2).

use std::path::PathBuf;

use lineage::ablate::claims::{judge, NO_CLAIM};
use lineage::ablate::fmt;
use lineage::ablate::report::{write_report, REPORT_JSON, REPORT_MD};
use lineage::ablate::results::{
    ClaimResult, ExpertLoad, ExtrapolationCurve, NormTiming, QuantResult, RunResult, Stat,
    StudyResults, VariantResult,
};
use lineage::ablate::stats::{diff_ci, stat};
use lineage::ablate::verdict::{DOES_NOT_HOLD, HOLDS, NO_INTERVAL, OVERLAP};

const END: f64 = 1000.0;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lineage-ablate-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Piecewise-linear validation curve through `knots`, evaluated every 100 tokens.
fn curve(knots: &[(f64, f64)]) -> Vec<(f64, f64)> {
    (0..=10)
        .map(|i| {
            let t = i as f64 * 100.0;
            let w = knots
                .windows(2)
                .find(|w| t >= w[0].0 && t <= w[1].0)
                .unwrap_or(&knots[knots.len() - 2..]);
            let ((t0, l0), (t1, l1)) = (w[0], w[1]);
            (t, l0 + (l1 - l0) * (t - t0) / (t1 - t0))
        })
        .collect()
}

/// A run ending at `loss` (NaN: diverged) after a straight fall from 8 nats, or through
/// `via` (tokens, loss) first when given.
fn run(seed: u64, loss: f64, via: Option<(f64, f64)>, gvar: f64) -> RunResult {
    let diverged = !loss.is_finite();
    let knots: Vec<(f64, f64)> = std::iter::once((0.0, 8.0))
        .chain(via)
        .chain([(END, loss)])
        .collect();
    RunResult {
        seed,
        dir: format!("runs/x-s{seed}"),
        val_loss: loss,
        val_bpb: Some(loss / 5.0),
        tok_s: 1000.0 + seed as f64,
        wall_s: 60.0,
        peak_rss_mib: None,
        diverged,
        val_curve: if diverged {
            vec![(0.0, 8.0), (100.0, f64::NAN)]
        } else {
            curve(&knots)
        },
        train_curve: vec![(0.0, 8.0)],
        grad_norm_var: if diverged { f64::NAN } else { gvar },
        steps_to_target: None,
    }
}

/// A variant from its runs; the summaries are computed as the grid computes them.
fn variant(name: &str, section: &str, edits: &[&str], runs: Vec<RunResult>) -> VariantResult {
    let ok: Vec<&RunResult> = runs.iter().filter(|r| !r.diverged).collect();
    let col = |f: fn(&RunResult) -> f64| stat(&ok.iter().map(|r| f(r)).collect::<Vec<_>>());
    VariantResult {
        name: name.into(),
        section: section.into(),
        description: format!("{name} | synthetic"),
        edits: edits.iter().map(|s| s.to_string()).collect(),
        overrides: vec![],
        params_total: 1_000_000,
        params_active: if name.ends_with("_total") {
            600_000
        } else {
            800_000
        },
        params_non_embedding: 800_000,
        params_active_non_embedding: if name.ends_with("_total") {
            400_000
        } else {
            600_000
        },
        kv_bytes_per_token: match name {
            "gqa" => 1024,
            "mqa" => 512,
            _ => 4096,
        },
        val_loss: col(|r| r.val_loss),
        val_bpb: Some(col(|r| r.val_bpb.unwrap_or(f64::NAN))),
        tok_s: col(|r| r.tok_s),
        grad_norm_var: col(|r| r.grad_norm_var),
        diverged_runs: runs.len() - ok.len(),
        runs,
    }
}

/// Three seeds with these final losses and gradient-norm variances.
fn simple(name: &str, section: &str, losses: [f64; 3], gvar: [f64; 3]) -> VariantResult {
    let runs = (0..3)
        .map(|i| run(i as u64, losses[i], None, gvar[i]))
        .collect();
    variant(name, section, &[], runs)
}

fn st(mean: f64, ci95: f64) -> Stat {
    Stat {
        n: 3,
        mean,
        std: ci95,
        ci95,
    }
}

fn placement() -> Vec<VariantResult> {
    let mut out = Vec::new();
    for depth in [4, 16] {
        for warm in ["warmup", "nowarmup"] {
            // Pre-norm falls to the post-norm's final loss (3.9) by 400 tokens.
            let pre = (0..3).map(|i| {
                run(
                    i,
                    3.8 + 0.001 * i as f64,
                    Some((400.0 + 10.0 * i as f64, 3.9)),
                    1.0,
                )
            });
            out.push(variant(
                &format!("pre_L{depth}_{warm}_lr1e-3"),
                "norm_placement",
                &[],
                pre.collect(),
            ));
            let post: Vec<RunResult> = match (depth, warm) {
                (16, "nowarmup") => vec![
                    run(0, f64::NAN, None, 1.0),
                    run(1, f64::NAN, None, 1.0),
                    run(2, 4.5, None, 1.0),
                ],
                (4, "nowarmup") => (0..3)
                    .map(|i| run(i, 4.2 + 0.001 * i as f64, None, 1.0))
                    .collect(),
                _ => (0..3)
                    .map(|i| run(i, 3.899 + 0.001 * i as f64, None, 1.0))
                    .collect(),
            };
            out.push(variant(
                &format!("post_L{depth}_{warm}_lr1e-3"),
                "norm_placement",
                &[],
                post,
            ));
        }
    }
    out
}

/// The synthetic study: see each claim's test for the numbers that decide it.
fn study() -> StudyResults {
    let g = [1.0, 1.1, 0.9];
    let mut variants = vec![
        simple("gpt2", "ladder", [4.000, 4.002, 3.998], g),
        simple("rmsnorm", "ladder", [4.001, 4.003, 3.999], [0.75, 0.8, 0.7]),
        simple("swiglu", "ladder", [3.930, 3.935, 3.925], g),
        simple("gqa", "ladder", [4.010, 4.012, 4.008], g),
        simple("mqa", "ladder", [4.20, 4.21, 4.19], g),
        simple("no_dropout", "ladder", [3.90, 3.905, 3.895], g),
        simple("qk_norm", "ladder", [3.99, 4.02, 4.005], g),
        simple("parallel", "ladder", [4.10, 4.11, 4.09], g),
        simple("no_bias", "ladder", [3.970, 3.971, 3.969], g),
        // A single seed: no interval.
        variant("alibi", "ladder", &[], vec![run(0, 3.95, None, 1.0)]),
    ];
    // Modern reaches GPT-2's final loss (4.0) near 710 tokens: ~40% faster.
    let modern = (0..3).map(|i| {
        run(
            i,
            3.60 + 0.01 * i as f64,
            Some((700.0 + 10.0 * i as f64, 4.0)),
            [0.5, 0.55, 0.45][i as usize],
        )
    });
    variants.push(variant("modern", "ladder", &[], modern.collect()));
    let moe = |name: &str, edit: &str, l: [f64; 3]| {
        let runs = (0..3).map(|i| run(i as u64, l[i], None, 1.0)).collect();
        variant(name, "moe", &[edit], runs)
    };
    variants.push(moe("moe_top2_active", "moe=8:2", [3.90, 3.91, 3.89]));
    variants.push(moe("moe_top1_active", "moe=8:1", [3.95, 3.96, 3.94]));
    variants.extend(placement());
    variants.push(simple("recall_full", "recall", [0.50, 0.51, 0.49], g));
    variants.push(simple("recall_window", "recall", [1.50, 1.51, 1.49], g));
    let load = |variant: &str, seed: u64, std: f64| ExpertLoad {
        variant: variant.into(),
        seed,
        per_layer: vec![vec![0.125; 8]; 2],
        load_std: std,
    };
    let timing = |norm: &str, us: [f64; 3]| NormTiming {
        norm: norm.into(),
        rows: 512,
        d_model: 128,
        microseconds: us[0],
        samples_us: us.to_vec(),
    };
    let quant = |format: &str, scale: f64| QuantResult {
        variant: "modern".into(),
        format: format.into(),
        bits_per_weight: if format == "f32" { 32.0 } else { 4.25 },
        val_loss: st(3.61 * scale, 0.02),
        delta_pct: (scale - 1.0) * 100.0,
        seed_losses: vec![(0, 3.60 * scale), (1, 3.61 * scale), (2, 3.62 * scale)],
    };
    let extra = |method: &str, variant: &str, pts: &[(usize, f64)]| ExtrapolationCurve {
        variant: variant.into(),
        method: method.into(),
        points: pts.iter().map(|&(l, m)| (l, st(m, 0.01))).collect(),
    };
    StudyResults {
        command: "lineage ablate evolution --out study --seeds 3".into(),
        machine: "synthetic".into(),
        date: "2025-01-01".into(),
        wall_s: 3723.0,
        budget: "tiny models, 1000 tokens per run, 3 seeds".into(),
        seeds: 3,
        tokens_per_run: 1000,
        variants,
        extrapolation: vec![
            extra("learned", "gpt2", &[(128, 4.0)]),
            extra("rope", "rope", &[(128, 3.98), (256, 4.5), (1024, 6.0)]),
            extra("alibi", "alibi", &[(128, 3.97), (256, 3.96), (1024, 3.95)]),
        ],
        decode: vec![],
        norm_timing: vec![
            timing("layernorm", [100.0, 101.0, 99.0]),
            timing("rmsnorm", [87.0, 88.0, 86.0]),
        ],
        quantization: vec![quant("f32", 1.0), quant("mxfp4", 1.01)],
        expert_load: vec![
            load("moe_top2_active", 0, 0.02),
            load("moe_top2_active", 1, 0.025),
            load("moe_top2_active", 2, 0.015),
            load("moe_top1_active", 0, 0.05),
            load("moe_top1_active", 1, 0.06),
            load("moe_top1_active", 2, 0.055),
        ],
        claims: vec![],
    }
}

fn find<'a>(claims: &'a [ClaimResult], id: &str) -> &'a ClaimResult {
    claims
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no claim `{id}`"))
}

fn show(c: &ClaimResult) -> String {
    format!("{}: {}\n  {}", c.id, c.verdict, c.evidence.join("\n  "))
}

fn expect(claims: &[ClaimResult], id: &str, verdict: &str) {
    let c = find(claims, id);
    assert_eq!(c.verdict, verdict, "{}", show(c));
}

#[test]
fn stat_three_seeds_matches_published_t() {
    let s = stat(&[1.0, 2.0, 3.0, f64::NAN]);
    assert_eq!(s.n, 3);
    let want = 4.302_653 / 3f64.sqrt();
    assert!(
        (s.ci95 - want).abs() < 1e-6,
        "ci95 {} want {want} (abs err {:e})",
        s.ci95,
        (s.ci95 - want).abs()
    );
    let s5 = stat(&[1.0, 2.0, 3.0, 4.0, 5.0]);
    let want = 2.776_445 * 2.5f64.sqrt() / 5f64.sqrt();
    assert!(
        (s5.ci95 - want).abs() < 1e-6,
        "ci95 {} want {want}",
        s5.ci95
    );
    let (d, h) = diff_ci(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]);
    // Equal variances 1 and n = 3: se = sqrt(2/3), Welch df = 4.
    let want = 2.776_445 * (2.0f64 / 3.0).sqrt();
    assert_eq!(d, 0.0);
    assert!((h - want).abs() < 1e-6, "half-width {h} want {want}");
}

#[test]
fn judge_clear_differences_hold_or_not() {
    let c = judge(&study());
    expect(&c, "rmsnorm", HOLDS);
    expect(&c, "swiglu", HOLDS);
    expect(&c, "modern", HOLDS);
    expect(&c, "moe_per_flop", HOLDS);
    expect(&c, "mxfp4", HOLDS);
    expect(&c, "no_bias", HOLDS);
    // MQA keeps exp(-0.2) = 82% < 92%; GQA's part holds.
    expect(&c, "gqa_mqa", DOES_NOT_HOLD);
    assert!(
        find(&c, "gqa_mqa").evidence[0].starts_with(&format!("[{HOLDS}]")),
        "{}",
        show(find(&c, "gqa_mqa"))
    );
    // Dropout 0.1 is worse than none here.
    expect(&c, "dropout", DOES_NOT_HOLD);
    expect(&c, "parallel", DOES_NOT_HOLD);
    expect(&c, "window_recall", DOES_NOT_HOLD);
    // Top-1's load std is above 0.04.
    expect(&c, "moe_balance", DOES_NOT_HOLD);
    // RoPE's loss rises past the training length.
    expect(&c, "positions", DOES_NOT_HOLD);
}

#[test]
fn judge_overlapping_losses_are_inconclusive() {
    let c = judge(&study());
    expect(&c, "qk_norm", &format!("inconclusive: {OVERLAP}"));
    assert_eq!(find(&c, "qk_norm").quote, NO_CLAIM);
}

#[test]
fn judge_missing_variants_are_inconclusive_with_reason() {
    let c = judge(&study());
    expect(&c, "mla", "inconclusive: variant `mla` was not run");
    expect(
        &c,
        "window_corpus",
        "inconclusive: variant `window` was not run",
    );
    let empty = StudyResults {
        variants: vec![],
        extrapolation: vec![],
        norm_timing: vec![],
        quantization: vec![],
        expert_load: vec![],
        ..study()
    };
    let all = judge(&empty);
    assert!(all.len() >= 16, "{} claims", all.len());
    for claim in &all {
        assert!(
            claim.verdict.starts_with("inconclusive: "),
            "{}",
            show(claim)
        );
        assert!(
            claim.verdict.len() > "inconclusive: ".len(),
            "{}",
            show(claim)
        );
    }
}

#[test]
fn judge_placement_grid_untested_depth_is_inconclusive() {
    let c = judge(&study());
    let p = find(&c, "norm_placement");
    assert_eq!(
        p.verdict,
        "inconclusive: the deepest runs have 16 layers; the claim is about more than ~24",
        "{}",
        show(p)
    );
    let line = |prefix: &str| {
        p.evidence
            .iter()
            .find(|e| e.contains(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in\n{}", show(p)))
    };
    assert!(
        line("pre-norm trains stably").starts_with(&format!("[{HOLDS}]")),
        "{}",
        show(p)
    );
    assert!(
        line("post-norm needs warmup").starts_with(&format!("[{HOLDS}]")),
        "{}",
        show(p)
    );
    assert!(
        line("diverged 2/3 without, 0/3 with").contains(HOLDS),
        "{}",
        show(p)
    );
    // Pre-norm reaches 3.9 near 410 tokens, post-norm at 1000: 2.4x.
    assert!(
        line("converges 2–3× faster").starts_with(&format!("[{HOLDS}]")),
        "{}",
        show(p)
    );
}

#[test]
fn judge_single_seed_has_no_interval() {
    let mut r = study();
    for v in r.variants.iter_mut().filter(|v| v.name == "no_bias") {
        v.runs.truncate(1);
        v.val_loss = stat(&[v.runs[0].val_loss]);
    }
    expect(
        &judge(&r),
        "no_bias",
        &format!("inconclusive: {NO_INTERVAL}"),
    );
}

#[test]
fn write_report_numbers_match_json() {
    let dir = temp_dir("report");
    let figures = vec![
        (
            "Validation loss, ladder".to_string(),
            "curves_ladder.png".to_string(),
        ),
        ("Extrapolation".to_string(), "extrapolation.png".to_string()),
    ];
    write_report(&dir, &study(), &figures).unwrap();
    let md = std::fs::read_to_string(dir.join(REPORT_MD)).unwrap();
    let json = std::fs::read_to_string(dir.join(REPORT_JSON)).unwrap();
    // NaNs (diverged runs, the single seed's interval) come back from `null`.
    let back: StudyResults = serde_json::from_str(&json).unwrap();
    assert!(md.contains("lineage ablate evolution --out study --seeds 3"));
    assert!(md.contains("1h 02m 03s"));
    assert!(md.contains("![Validation loss, ladder](curves_ladder.png)"));
    assert!(md.contains("![Extrapolation](extrapolation.png)"));
    assert_eq!(back.claims.len(), judge(&back).len());
    for v in &back.variants {
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| {} |", v.name)))
            .unwrap_or_else(|| panic!("no row for `{}`", v.name));
        for want in [
            fmt::loss_stat(&v.val_loss),
            fmt::stat(&v.tok_s),
            fmt::stat(&v.grad_norm_var),
        ] {
            assert!(
                row.contains(&want),
                "`{}` row lacks `{want}`:\n{row}",
                v.name
            );
        }
    }
    for c in &back.claims {
        assert!(
            md.contains(&format!(
                "**{}**: \"{}\" → **{}**",
                c.id, c.quote, c.verdict
            )),
            "{}",
            show(c)
        );
    }
    let alibi = back.variants.iter().find(|v| v.name == "alibi").unwrap();
    assert!(alibi.val_loss.ci95.is_nan());
    if std::env::var_os("LINEAGE_KEEP_REPORT").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
