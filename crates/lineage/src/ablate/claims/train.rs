//! Claims about training efficiency: MoE quality per FLOP and the top-k trade-off, and
//! the modern stack's convergence speed and gradient variance against GPT-2.

use super::super::results::{ClaimResult, StudyResults, VariantResult};
use super::super::verdict::{about, lower, Est, Verdict};
use super::super::{fmt, stats};
use super::{
    claim, diff_line, est_line, grad_var_ratio, loss_diff, loss_line, run_tokens, variant,
    vs_stated, Part,
};

/// `k` of an edit `moe=<experts>:<k>`.
fn top_k(v: &VariantResult) -> Option<usize> {
    v.edits
        .iter()
        .find_map(|e| e.strip_prefix("moe=")?.split(':').nth(1)?.parse().ok())
}

/// MoE variants matched to the dense model's active parameters (`*_active`).
fn active_matched(r: &StudyResults) -> Vec<&VariantResult> {
    r.variants
        .iter()
        .filter(|v| v.section == "moe" && v.name.ends_with("_active"))
        .collect()
}

pub(super) fn moe_per_flop(r: &StudyResults) -> ClaimResult {
    const QUOTE: &str =
        "MoE gives better quality per FLOP than dense, and top-2 is the optimal trade-off.";
    let moes = active_matched(r);
    let mut parts: Vec<Part> = moes
        .iter()
        .map(|m| {
            let what = format!("`{}` beats dense at matched active parameters (FLOP proxy; Δ = loss(moe) − loss(gpt2) below 0)", m.name);
            Part::from(&what, || {
                let dense = variant(r, "gpt2")?;
                let e = loss_diff(m, dense)?;
                let flops = m.params_active as f64 / dense.params_active.max(1) as f64;
                let line = format!(
                    "{}; {}; {}; active parameters {} vs {} ({} of dense)",
                    loss_line(m),
                    loss_line(dense),
                    diff_line(&e),
                    m.params_active,
                    dense.params_active,
                    fmt::ratio(flops)
                );
                Ok((lower(&e, 0.0), line))
            })
        })
        .collect();
    if parts.is_empty() {
        parts.push(Part::new(
            Verdict::missing("no active-matched MoE variant was run"),
            "quality per FLOP",
            "",
        ));
    }
    parts.push(top2_optimal(&moes));
    let notes = r
        .variants
        .iter()
        .filter(|v| v.section == "moe")
        .map(|v| {
            format!(
                "{}: {} active / {} total parameters, {} tok/s",
                loss_line(v),
                v.params_active,
                v.params_total,
                fmt::stat(&v.tok_s)
            )
        })
        .collect();
    claim("moe_per_flop", QUOTE, parts, notes)
}

fn top2_optimal(moes: &[&VariantResult]) -> Part {
    let what = "top-2 is the optimal trade-off (at matched active parameters, top-2's loss below every other top-k's)";
    let Some(two) = moes.iter().find(|m| top_k(m) == Some(2)) else {
        return Part::new(
            Verdict::missing("no active-matched top-2 MoE was run"),
            what,
            "",
        );
    };
    let others: Vec<&&VariantResult> = moes
        .iter()
        .filter(|m| top_k(m).is_some_and(|k| k != 2))
        .collect();
    if others.is_empty() {
        return Part::new(Verdict::missing("no other top-k was run"), what, "");
    }
    let (mut verdicts, mut lines) = (Vec::new(), Vec::new());
    for o in others {
        let k = top_k(o).unwrap_or(0);
        match loss_diff(two, o) {
            Ok(e) => {
                let v = lower(&e, 0.0);
                lines.push(format!(
                    "top-2 vs top-{k} (`{}`): {}; tok/s {} vs {} → {}",
                    o.name,
                    diff_line(&e),
                    fmt::stat(&two.tok_s),
                    fmt::stat(&o.tok_s),
                    v.text()
                ));
                verdicts.push(v);
            }
            Err(v) => {
                lines.push(format!("top-2 vs top-{k}: {}", v.text()));
                verdicts.push(v);
            }
        }
    }
    Part::new(
        super::super::verdict::combine(&verdicts),
        what,
        lines.join("; "),
    )
}

pub(super) fn modern(r: &StudyResults) -> ClaimResult {
    const QUOTE: &str =
        "The modern stack converges ~40% faster than GPT-2's, with lower gradient variance.";
    let faster = Part::from(
        "converges ~40% faster (tokens to GPT-2's final mean loss; speed-up = tokens(gpt2) / tokens(modern) − 1; runs that never reach it count at their last evaluation)",
        || {
            let (m, g) = (variant(r, "modern")?, variant(r, "gpt2")?);
            let target = g.val_loss.mean;
            if !target.is_finite() || m.val_loss.n == 0 {
                return Err(Verdict::missing("no finished run of `gpt2` or `modern`"));
            }
            let ((tm, cm), (tg, cg)) = (run_tokens(m, target), run_tokens(g, target));
            let (x, lo, hi) = stats::ratio_ci(&tg, &tm);
            let e = Est { value: x - 1.0, lo: lo - 1.0, hi: hi - 1.0 };
            let line = format!(
                "target {} nats; modern {} tokens ({cm} of {} never reached), gpt2 {} tokens ({cg} of {} never reached); speed-up {}; {}",
                fmt::loss(target),
                fmt::num(stats::stat(&tm).mean),
                tm.len(),
                fmt::num(stats::stat(&tg).mean),
                tg.len(),
                est_line(&e, fmt::pct),
                vs_stated(&e, 0.40, 0.40, fmt::pct)
            );
            Ok((about(&e, 0.40, 0.0), line))
        },
    );
    let variance = Part::from(
        "lower gradient variance (ratio of grad-norm variances modern / gpt2 below 1)",
        || {
            let e = grad_var_ratio(variant(r, "modern")?, variant(r, "gpt2")?)?;
            Ok((
                lower(&e, 1.0),
                format!("ratio {}", est_line(&e, fmt::ratio)),
            ))
        },
    );
    let notes = ["modern", "gpt2"]
        .iter()
        .filter_map(|n| variant(r, n).ok())
        .map(loss_line)
        .collect();
    claim("modern", QUOTE, vec![faster, variance], notes)
}
