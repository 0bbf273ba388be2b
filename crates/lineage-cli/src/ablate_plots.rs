//! The figures of `lineage ablate evolution` as PNG files in the study folder: per
//! section, validation-loss curves (mean ± 95% interval over seeds at each evaluation)
//! and final losses as bars with interval whiskers; loss against evaluation length per
//! position method; loss against KV-cache bytes per token; and each MoE variant's
//! expert load. Every value comes from `StudyResults`; drawing is in `chart`.

use std::collections::BTreeMap;
use std::path::Path;

use lineage::ablate::fmt;
use lineage::ablate::report::mean_over_layers;
use lineage::ablate::results::{StudyResults, VariantResult};
use lineage::ablate::stats::stat;

use crate::chart::{draw_bands, draw_bars, draw_marks, Band, BandChart, BarChart, Mark};

/// Sections not trained on the corpus at the base size (left out of the KV scatter).
const OFF_SCATTER: &[&str] = &["norm_placement", "recall"];

/// Draws every figure into `dir`; returns `(title, file name)` in report order.
#[allow(dead_code)] // until the `ablate` subcommand calls it
pub fn write_plots(dir: &Path, r: &StudyResults) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut sections: Vec<&str> = Vec::new();
    for v in &r.variants {
        if !sections.contains(&v.section.as_str()) {
            sections.push(&v.section);
        }
    }
    for section in sections {
        let vs: Vec<&VariantResult> = r.variants.iter().filter(|v| v.section == section).collect();
        out.push(curves(dir, section, &vs)?);
        out.push(finals(dir, section, &vs)?);
    }
    if !r.extrapolation.is_empty() {
        out.push(extrapolation(dir, r)?);
    }
    if r.variants.iter().any(on_scatter) {
        out.push(loss_vs_kv(dir, r)?);
    }
    out.extend(expert_loads(dir, r)?);
    Ok(out)
}

/// A file-name-safe form of `name`.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `(tokens, mean, lo, hi)` of a variant's finished runs at each evaluation.
fn mean_curve(v: &VariantResult) -> Vec<(f64, f64, f64, f64)> {
    let mut at: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for run in v.runs.iter().filter(|x| !x.diverged) {
        for &(t, l) in run
            .val_curve
            .iter()
            .filter(|p| p.0.is_finite() && p.0 >= 0.0)
        {
            at.entry(t.round() as u64).or_default().push(l);
        }
    }
    at.into_iter()
        .map(|(t, ls)| {
            let s = stat(&ls);
            (t as f64, s.mean, s.mean - s.ci95, s.mean + s.ci95)
        })
        .filter(|p| p.1.is_finite())
        .collect()
}

fn curves(dir: &Path, section: &str, vs: &[&VariantResult]) -> anyhow::Result<(String, String)> {
    let title = format!("Validation loss, {section} (mean ± 95% CI over seeds)");
    let file = format!("curves_{}.png", slug(section));
    let series = vs
        .iter()
        .enumerate()
        .map(|(i, v)| Band {
            name: v.name.clone(),
            points: mean_curve(v),
            color: i,
        })
        .collect();
    let chart = BandChart {
        title: &title,
        x_desc: "training tokens",
        y_desc: "validation loss (nats/token)",
        series,
        log_x: false,
    };
    draw_bands(&dir.join(&file), &chart)?;
    Ok((title, file))
}

fn finals(dir: &Path, section: &str, vs: &[&VariantResult]) -> anyhow::Result<(String, String)> {
    let title = format!("Final validation loss, {section} (95% CI)");
    let file = format!("final_{}.png", slug(section));
    let bars = vs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let s = v.val_loss;
            let div = if v.diverged_runs > 0 {
                format!(", {} diverged", v.diverged_runs)
            } else {
                String::new()
            };
            let label = format!("{} {}{div}", v.name, fmt::loss_stat(&s));
            Mark {
                label,
                x: 0.0,
                y: s.mean,
                lo: s.mean - s.ci95,
                hi: s.mean + s.ci95,
                color: i,
            }
        })
        .collect();
    let chart = BarChart {
        title: &title,
        value_desc: "validation loss (nats/token)",
        bars,
        from_zero: false,
        reference: None,
    };
    draw_bars(&dir.join(&file), &chart)?;
    Ok((title, file))
}

fn extrapolation(dir: &Path, r: &StudyResults) -> anyhow::Result<(String, String)> {
    let title = "Loss against evaluation length (mean ± 95% CI)".to_string();
    let file = "extrapolation.png".to_string();
    let series = r
        .extrapolation
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let points = c
                .points
                .iter()
                .map(|(l, s)| (*l as f64, s.mean, s.mean - s.ci95, s.mean + s.ci95))
                .collect();
            Band {
                name: format!("{} ({})", c.method, c.variant),
                points,
                color: i,
            }
        })
        .collect();
    let chart = BandChart {
        title: &title,
        x_desc: "evaluation length (tokens, log scale)",
        y_desc: "validation loss (nats/token)",
        series,
        log_x: true,
    };
    draw_bands(&dir.join(&file), &chart)?;
    Ok((title, file))
}

fn on_scatter(v: &VariantResult) -> bool {
    !OFF_SCATTER.contains(&v.section.as_str())
        && v.kv_bytes_per_token > 0
        && v.val_loss.mean.is_finite()
}

fn loss_vs_kv(dir: &Path, r: &StudyResults) -> anyhow::Result<(String, String)> {
    let title = "Final validation loss against KV-cache bytes per token".to_string();
    let file = "loss_vs_kv.png".to_string();
    let marks: Vec<Mark> = r
        .variants
        .iter()
        .filter(|v| on_scatter(v))
        .enumerate()
        .map(|(i, v)| {
            let s = v.val_loss;
            Mark {
                label: v.name.clone(),
                x: v.kv_bytes_per_token as f64,
                y: s.mean,
                lo: s.mean - s.ci95,
                hi: s.mean + s.ci95,
                color: i,
            }
        })
        .collect();
    let descs = (
        "KV-cache bytes per token (log scale)",
        "validation loss (nats/token)",
    );
    draw_marks(&dir.join(&file), &title, descs, &marks, true)?;
    Ok((title, file))
}

/// One bar chart per MoE variant: fraction of routed slots per expert, averaged over
/// layers, mean ± 95% CI over seeds, against the uniform share.
fn expert_loads(dir: &Path, r: &StudyResults) -> anyhow::Result<Vec<(String, String)>> {
    let mut names: Vec<&str> = Vec::new();
    for e in &r.expert_load {
        if !names.contains(&e.variant.as_str()) {
            names.push(&e.variant);
        }
    }
    let mut out = Vec::new();
    for name in names {
        let seeds: Vec<Vec<f64>> = r
            .expert_load
            .iter()
            .filter(|e| e.variant == name)
            .map(|e| mean_over_layers(&e.per_layer))
            .collect();
        let experts = seeds.iter().map(Vec::len).min().unwrap_or(0);
        if experts == 0 {
            continue;
        }
        let bars = (0..experts)
            .map(|j| {
                let s = stat(&seeds.iter().map(|f| f[j]).collect::<Vec<_>>());
                Mark {
                    label: format!("expert {j}: {}", fmt::stat(&s)),
                    x: 0.0,
                    y: s.mean,
                    lo: s.mean - s.ci95,
                    hi: s.mean + s.ci95,
                    color: 0,
                }
            })
            .collect();
        let title = format!(
            "Expert load, {name} (mean over layers; 95% CI over {} seeds)",
            seeds.len()
        );
        let file = format!("expert_load_{}.png", slug(name));
        let uniform = 1.0 / experts as f64;
        let reference = Some((
            format!("uniform 1/{experts} = {}", fmt::num(uniform)),
            uniform,
        ));
        let chart = BarChart {
            title: &title,
            value_desc: "fraction of routed slots",
            bars,
            from_zero: true,
            reference,
        };
        draw_bars(&dir.join(&file), &chart)?;
        out.push((title, file));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lineage::ablate::results::{ExpertLoad, ExtrapolationCurve, RunResult, Stat};

    fn run(seed: u64, end: f64, diverged: bool) -> RunResult {
        let val_curve = (0..=10)
            .map(|i| (i as f64 * 100.0, 8.0 - (8.0 - end) * i as f64 / 10.0))
            .collect();
        RunResult {
            seed,
            dir: String::new(),
            val_loss: if diverged { f64::NAN } else { end },
            val_bpb: None,
            tok_s: 1.0,
            wall_s: 1.0,
            peak_rss_mib: None,
            diverged,
            val_curve,
            train_curve: vec![],
            grad_norm_var: 1.0,
            steps_to_target: None,
        }
    }

    fn variant(name: &str, section: &str, kv: u64, ends: &[f64]) -> VariantResult {
        let runs: Vec<RunResult> = ends
            .iter()
            .enumerate()
            .map(|(i, e)| run(i as u64, *e, e.is_nan()))
            .collect();
        let s = stat(ends);
        VariantResult {
            name: name.into(),
            section: section.into(),
            description: String::new(),
            edits: vec![],
            overrides: vec![],
            params_total: 1,
            params_active: 1,
            params_non_embedding: 1,
            params_active_non_embedding: 1,
            kv_bytes_per_token: kv,
            diverged_runs: runs.iter().filter(|r| r.diverged).count(),
            runs,
            val_loss: s,
            val_bpb: None,
            tok_s: s,
            grad_norm_var: s,
        }
    }

    fn study() -> StudyResults {
        let st = |mean: f64| Stat {
            n: 3,
            mean,
            std: 0.01,
            ci95: 0.03,
        };
        let curve = |method: &str, far: f64| ExtrapolationCurve {
            variant: method.into(),
            method: method.into(),
            points: vec![
                (128, st(4.0)),
                (256, st(4.0 + far / 2.0)),
                (1024, st(4.0 + far)),
            ],
        };
        let load = |seed: u64| ExpertLoad {
            variant: "moe/top2".into(),
            seed,
            per_layer: vec![vec![0.1, 0.15, 0.125, 0.125, 0.1, 0.15, 0.125, 0.125]; 2],
            load_std: 0.02,
        };
        StudyResults {
            command: String::new(),
            machine: String::new(),
            date: String::new(),
            wall_s: 1.0,
            budget: String::new(),
            seeds: 3,
            tokens_per_run: 1000,
            variants: vec![
                variant("gpt2", "ladder", 4096, &[4.0, 4.01, 3.99]),
                variant("gqa", "ladder", 1024, &[4.02, 4.03, 4.01]),
                variant("one_seed", "ladder", 2048, &[3.9]),
                variant(
                    "post_L16",
                    "norm_placement",
                    4096,
                    &[f64::NAN, f64::NAN, 4.5],
                ),
                variant(
                    "all_diverged",
                    "norm_placement",
                    4096,
                    &[f64::NAN, f64::NAN],
                ),
            ],
            extrapolation: vec![curve("rope", 2.0), curve("alibi", -0.05)],
            decode: vec![],
            norm_timing: vec![],
            quantization: vec![],
            expert_load: vec![load(0), load(1)],
            claims: vec![],
        }
    }

    #[test]
    fn write_plots_synthetic_study_writes_every_png() {
        let dir = std::env::temp_dir().join(format!("lineage-ablate-plots-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let figs = write_plots(&dir, &study()).unwrap();
        let files: Vec<&str> = figs.iter().map(|f| f.1.as_str()).collect();
        let want = [
            "curves_ladder.png",
            "final_ladder.png",
            "curves_norm_placement.png",
            "final_norm_placement.png",
            "extrapolation.png",
            "loss_vs_kv.png",
            "expert_load_moe_top2.png",
        ];
        assert_eq!(files, want);
        for f in want {
            let bytes = std::fs::read(dir.join(f)).unwrap();
            assert!(
                bytes.starts_with(b"\x89PNG"),
                "{f} is not a PNG ({} bytes)",
                bytes.len()
            );
        }
        if std::env::var_os("LINEAGE_KEEP_PLOTS").is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn mean_curve_diverged_runs_are_left_out() {
        let v = variant("x", "s", 1, &[4.0, f64::NAN, 3.0]);
        let c = mean_curve(&v);
        assert_eq!(c.len(), 11);
        assert_eq!(c[10].1, 3.5);
    }
}
