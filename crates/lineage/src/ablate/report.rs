//! `report.md` and `report.json` of the study. The JSON is `StudyResults` serialised
//! (with the claims' verdicts filled in when the caller left them empty); the Markdown
//! is computed from the same value alone, every number written by `fmt`, so each one in
//! the text can be found again from the JSON.

use std::fmt::Write as _;
use std::path::Path;

use super::claims::judge;
use super::fmt;
use super::results::{ClaimResult, StudyResults, VariantResult};
use crate::{Error, Result};

/// Markdown file name.
pub const REPORT_MD: &str = "report.md";
/// JSON file name.
pub const REPORT_JSON: &str = "report.json";

/// Writes `dir/report.md` and `dir/report.json`. `figures` are `(title, file name)`
/// pairs of images in `dir`; a figure whose file stem ends in `_<section>` is shown
/// under that section's table, the rest at the end.
pub fn write_report(dir: &Path, r: &StudyResults, figures: &[(String, String)]) -> Result<()> {
    let mut filled;
    let r = if r.claims.is_empty() {
        filled = r.clone();
        filled.claims = judge(r);
        &filled
    } else {
        r
    };
    let json = serde_json::to_string_pretty(r).map_err(|e| {
        Error::bad_file(
            dir.join(REPORT_JSON),
            format!("serialising the results: {e}"),
        )
    })?;
    write(&dir.join(REPORT_JSON), &json)?;
    write(&dir.join(REPORT_MD), &markdown(r, figures))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The whole Markdown report.
pub fn markdown(r: &StudyResults, figures: &[(String, String)]) -> String {
    let mut s = String::new();
    header(&mut s, r);
    verdicts(&mut s, &r.claims);
    let mut used = vec![false; figures.len()];
    let _ = writeln!(s, "## Variants\n");
    for section in sections(r) {
        variant_table(&mut s, r, &section);
        for (i, (title, file)) in figures.iter().enumerate() {
            let stem = file.strip_suffix(".png").unwrap_or(file);
            if !used[i] && stem.ends_with(&format!("_{section}")) {
                used[i] = true;
                let _ = writeln!(s, "![{title}]({file})\n");
            }
        }
    }
    extrapolation(&mut s, r);
    inference(&mut s, r);
    expert_load(&mut s, r);
    if used.iter().any(|u| !u) {
        let _ = writeln!(s, "## Figures\n");
        for ((title, file), _) in figures.iter().zip(&used).filter(|(_, u)| !**u) {
            let _ = writeln!(s, "![{title}]({file})\n");
        }
    }
    s
}

fn header(s: &mut String, r: &StudyResults) {
    let _ = writeln!(s, "# lineage ablate evolution\n");
    let _ = writeln!(s, "```\n{}\n```\n", r.command);
    let _ = writeln!(s, "- machine: {}", r.machine);
    let _ = writeln!(s, "- date: {}", r.date);
    let _ = writeln!(s, "- wall time: {}", fmt::duration(r.wall_s));
    let _ = writeln!(s, "- budget: {}", r.budget);
    let _ = writeln!(
        s,
        "- seeds: {}; tokens per run: {}\n",
        r.seeds, r.tokens_per_run
    );
    let _ = writeln!(
        s,
        "Losses are final validation cross-entropy in nats/token: mean ± half-width of the \
         two-sided 95% Student-t interval over the seeds that did not diverge. A claim holds \
         when the 95% interval of the measured effect (Welch's, for a difference of losses) \
         lies on the claimed side of the null value and, where the claim states a number, \
         reaches that number; it does not hold when the interval lies on the other side or \
         misses the stated number; otherwise the intervals overlap. Each part of a claim is \
         judged on its own line; the claim holds when every part does.\n"
    );
}

fn verdicts(s: &mut String, claims: &[ClaimResult]) {
    let _ = writeln!(s, "## Verdicts\n");
    for c in claims {
        let _ = writeln!(s, "- **{}**: \"{}\" → **{}**", c.id, c.quote, c.verdict);
        for e in &c.evidence {
            let _ = writeln!(s, "  - {e}");
        }
    }
    let _ = writeln!(s);
}

/// Sections in the order their first variant appears.
fn sections(r: &StudyResults) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in &r.variants {
        if !out.contains(&v.section) {
            out.push(v.section.clone());
        }
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn variant_table(s: &mut String, r: &StudyResults, section: &str) {
    let _ = writeln!(s, "### {section}\n");
    let _ = writeln!(
        s,
        "| variant | description | params total | params active | params non-embedding | KV bytes/token | val loss (nats) | bits/byte | tok/s | wall s | peak RSS MiB | diverged | grad-norm variance |"
    );
    let _ = writeln!(
        s,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for v in r.variants.iter().filter(|v| v.section == section) {
        let _ = writeln!(s, "{}", variant_row(v));
    }
    let _ = writeln!(s);
}

fn variant_row(v: &VariantResult) -> String {
    let bpb = v
        .val_bpb
        .as_ref()
        .map_or_else(|| "n/a".into(), fmt::loss_stat);
    // Wall time and peak memory: means over every run of the variant (diverged ones too:
    // they cost the time they ran).
    let runs_mean = |f: &dyn Fn(&super::results::RunResult) -> Option<f64>| {
        let xs: Vec<f64> = v
            .runs
            .iter()
            .filter_map(f)
            .filter(|x| x.is_finite())
            .collect();
        if xs.is_empty() {
            "n/a".to_string()
        } else {
            fmt::num(xs.iter().sum::<f64>() / xs.len() as f64)
        }
    };
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} of {} | {} |",
        v.name,
        cell(&v.description),
        v.params_total,
        v.params_active,
        v.params_non_embedding,
        v.kv_bytes_per_token,
        fmt::loss_stat(&v.val_loss),
        bpb,
        fmt::stat(&v.tok_s),
        runs_mean(&|r| Some(r.wall_s)),
        runs_mean(&|r| r.peak_rss_mib),
        v.diverged_runs,
        super::claims::total_runs(v),
        fmt::stat(&v.grad_norm_var)
    )
}

fn extrapolation(s: &mut String, r: &StudyResults) {
    if r.extrapolation.is_empty() {
        return;
    }
    let mut lengths: Vec<usize> = r
        .extrapolation
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .collect();
    lengths.sort_unstable();
    lengths.dedup();
    let _ = writeln!(
        s,
        "## Extrapolation\n\nValidation loss (nats) by evaluation length.\n"
    );
    let heads: Vec<String> = lengths.iter().map(|l| l.to_string()).collect();
    let _ = writeln!(s, "| method | variant | {} |", heads.join(" | "));
    let _ = writeln!(s, "|---|---|{}", "---:|".repeat(lengths.len()));
    for c in &r.extrapolation {
        let cells: Vec<String> = lengths
            .iter()
            .map(|l| {
                c.points
                    .iter()
                    .find(|p| p.0 == *l)
                    .map_or_else(|| "—".into(), |p| fmt::loss_stat(&p.1))
            })
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            c.method,
            c.variant,
            cells.join(" | ")
        );
    }
    let _ = writeln!(s);
}

fn inference(s: &mut String, r: &StudyResults) {
    if r.decode.is_empty() && r.norm_timing.is_empty() && r.quantization.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Inference\n");
    if !r.decode.is_empty() {
        let _ = writeln!(s, "### Decode\n\n| variant | attention | context | KV bytes/token | decode tok/s |\n|---|---|---:|---:|---:|");
        for d in &r.decode {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                d.variant,
                d.attention,
                d.context,
                d.kv_bytes_per_token,
                fmt::num(d.decode_tok_s)
            );
        }
        let _ = writeln!(s);
    }
    if !r.norm_timing.is_empty() {
        let _ = writeln!(s, "### Norm timing\n\n| norm | rows | d_model | µs | repeats |\n|---|---:|---:|---:|---:|");
        for t in &r.norm_timing {
            let reps = t.samples_us.len().max(1);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {reps} |",
                t.norm,
                t.rows,
                t.d_model,
                fmt::num(t.microseconds)
            );
        }
        let _ = writeln!(s);
    }
    if !r.quantization.is_empty() {
        let _ = writeln!(s, "### Quantization\n\n| variant | format | bits/weight | val loss (nats) | change vs f32 |\n|---|---|---:|---:|---:|");
        for q in &r.quantization {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {}% |",
                q.variant,
                q.format,
                fmt::num(q.bits_per_weight),
                fmt::loss_stat(&q.val_loss),
                fmt::num(q.delta_pct)
            );
        }
        let _ = writeln!(s);
    }
}

fn expert_load(s: &mut String, r: &StudyResults) {
    if r.expert_load.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "## Expert load\n\nFraction of routed slots per expert, averaged over layers.\n"
    );
    let _ = writeln!(
        s,
        "| variant | seed | layers | load std | fraction per expert |\n|---|---:|---:|---:|---|"
    );
    for e in &r.expert_load {
        let mean = mean_over_layers(&e.per_layer);
        let fr: Vec<String> = mean.iter().map(|x| fmt::num(*x)).collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            e.variant,
            e.seed,
            e.per_layer.len(),
            fmt::num(e.load_std),
            fr.join(" ")
        );
    }
    let _ = writeln!(s);
}

/// Per-expert fraction averaged over layers (rows of unequal length: up to the shortest).
pub fn mean_over_layers(per_layer: &[Vec<f64>]) -> Vec<f64> {
    let experts = per_layer.iter().map(Vec::len).min().unwrap_or(0);
    (0..experts)
        .map(|j| per_layer.iter().map(|l| l[j]).sum::<f64>() / per_layer.len() as f64)
        .collect()
}
