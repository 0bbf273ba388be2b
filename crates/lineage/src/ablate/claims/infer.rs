//! Claims decided by post-hoc measurements: position extrapolation, norm speed, MXFP4
//! quantization and MoE expert balance.

use super::super::results::{ClaimResult, ExtrapolationCurve, QuantResult, Stat, StudyResults};
use super::super::verdict::{
    about, below, combine_configs, higher, lower, not_worse, Est, Verdict,
};
use super::super::{fmt, stats};
use super::{claim, diff_line, est_line, vs_stated, Part};

pub(super) fn positions(r: &StudyResults) -> ClaimResult {
    const QUOTE: &str = "RoPE extrapolates beyond the training length, and absolute positions extrapolate poorly. ALiBi extrapolates better.";
    let curve = |m: &str| r.extrapolation.iter().find(|c| c.method == m);
    let lengths = || {
        r.extrapolation
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.0))
    };
    // Evaluation starts at the training length (the learned table is trained up to it).
    let train = lengths().min();
    let longest = lengths().max();
    let (Some(train), Some(longest)) = (train, longest) else {
        let none = || {
            Part::new(
                Verdict::missing("no extrapolation curves were measured"),
                "extrapolation",
                "",
            )
        };
        return claim("positions", QUOTE, vec![none()], vec![]);
    };
    let rope = Part::from(
        &format!("RoPE extrapolates (rise = loss at {longest} − loss at the training length {train} not above 0; unpaired Welch)"),
        || {
            let e = rise(curve("rope"), "rope", train, longest)?;
            Ok((not_worse(&e, 0.0), diff_line(&e)))
        },
    );
    let learned = Part::from("absolute (learned) positions extrapolate poorly (rise above 0 at the longest length evaluated)", || {
        let c = curve("learned").ok_or_else(|| Verdict::missing("method `learned` was not evaluated"))?;
        let far = c.points.iter().map(|p| p.0).max().unwrap_or(train);
        let e = rise(Some(c), "learned", train, far)?;
        Ok((higher(&e, 0.0), format!("at {far}: {}", diff_line(&e))))
    });
    let alibi = Part::from(
        &format!("ALiBi extrapolates better (Δ = loss(alibi) − loss(rope) at {longest} below 0)"),
        || {
            let a = point(curve("alibi"), "alibi", longest)?;
            let b = point(curve("rope"), "rope", longest)?;
            let (d, h) = stats::welch(&a, &b);
            let e = Est::pm(d, h);
            Ok((lower(&e, 0.0), diff_line(&e)))
        },
    );
    let notes = r.extrapolation.iter().map(curve_note).collect();
    claim("positions", QUOTE, vec![rope, learned, alibi], notes)
}

fn point(c: Option<&ExtrapolationCurve>, method: &str, len: usize) -> Result<Stat, Verdict> {
    let c = c.ok_or_else(|| Verdict::missing(format!("method `{method}` was not evaluated")))?;
    let s = c.points.iter().find(|p| p.0 == len).map(|p| p.1);
    match s {
        Some(s) if s.n > 0 && s.mean.is_finite() => Ok(s),
        _ => Err(Verdict::missing(format!(
            "`{method}` has no loss at length {len}"
        ))),
    }
}

/// Loss at `far` minus loss at `train` for one curve.
fn rise(
    c: Option<&ExtrapolationCurve>,
    method: &str,
    train: usize,
    far: usize,
) -> Result<Est, Verdict> {
    if far <= train {
        return Err(Verdict::missing(format!(
            "`{method}` was evaluated only up to the training length {train}"
        )));
    }
    let (d, h) = stats::welch(&point(c, method, far)?, &point(c, method, train)?);
    Ok(Est::pm(d, h))
}

fn curve_note(c: &ExtrapolationCurve) -> String {
    let pts: Vec<String> = c
        .points
        .iter()
        .map(|(l, s)| format!("{l}: {}", fmt::loss_stat(s)))
        .collect();
    format!(
        "`{}` (`{}`) loss by eval length: {}",
        c.method,
        c.variant,
        pts.join(", ")
    )
}

/// The norm-speed part of the RMSNorm claim, one judgement per timed shape.
pub(super) fn norm_speed(r: &StudyResults) -> Part {
    let what = "~15% faster in FP32 (speed-up = time(layernorm) / time(rmsnorm) − 1, geometric means over repeats)";
    let mut shapes: Vec<(usize, usize)> =
        r.norm_timing.iter().map(|t| (t.rows, t.d_model)).collect();
    shapes.sort_unstable();
    shapes.dedup();
    let times = |norm: &str, shape: (usize, usize)| -> Vec<f64> {
        let at = r
            .norm_timing
            .iter()
            .filter(|t| t.norm == norm && (t.rows, t.d_model) == shape);
        at.flat_map(|t| {
            if t.samples_us.is_empty() {
                vec![t.microseconds]
            } else {
                t.samples_us.clone()
            }
        })
        .collect()
    };
    let (mut verdicts, mut lines) = (Vec::new(), Vec::new());
    for shape in shapes {
        let (ln, rms) = (times("layernorm", shape), times("rmsnorm", shape));
        if ln.is_empty() || rms.is_empty() {
            continue;
        }
        let (m, lo, hi) = stats::ratio_ci(&ln, &rms);
        let e = Est {
            value: m - 1.0,
            lo: lo - 1.0,
            hi: hi - 1.0,
        };
        verdicts.push(about(&e, 0.15, 0.0));
        lines.push(format!(
            "[{}, {}]: layernorm {} µs (n={}), rmsnorm {} µs (n={}), speed-up {}; {}",
            shape.0,
            shape.1,
            fmt::num(stats::stat(&ln).mean),
            ln.len(),
            fmt::num(stats::stat(&rms).mean),
            rms.len(),
            est_line(&e, fmt::pct),
            vs_stated(&e, 0.15, 0.15, fmt::pct)
        ));
    }
    if verdicts.is_empty() {
        return Part::new(
            Verdict::missing("no layernorm and rmsnorm timings of one shape"),
            what,
            "",
        );
    }
    Part::new(combine_configs(&verdicts), what, lines.join("; "))
}

pub(super) fn mxfp4(r: &StudyResults) -> ClaimResult {
    const QUOTE: &str = "MXFP4's quality loss is under 2%.";
    let what = "quality loss under 2% (loss change = (loss_mxfp4 − loss_f32) / loss_f32)";
    let rows: Vec<&QuantResult> = r
        .quantization
        .iter()
        .filter(|q| q.format == "mxfp4")
        .collect();
    let mut parts: Vec<Part> = rows
        .iter()
        .map(|q| {
            let f32 = r
                .quantization
                .iter()
                .find(|f| f.variant == q.variant && f.format == "f32");
            let (e, how) = quant_change(q, f32);
            let line = format!(
                "`{}`: mxfp4 {} nats, f32 {} nats; change {} ({how}); {}",
                q.variant,
                fmt::loss_stat(&q.val_loss),
                f32.map(|f| fmt::loss_stat(&f.val_loss))
                    .unwrap_or_else(|| "not measured".into()),
                est_line(&e, fmt::pct),
                vs_stated(&e, 0.02, 0.02, fmt::pct)
            );
            Part::new(below(&e, 0.02), what, line)
        })
        .collect();
    if parts.is_empty() {
        parts.push(Part::new(
            Verdict::missing("MXFP4 was not measured"),
            what,
            "",
        ));
    }
    let notes = r
        .quantization
        .iter()
        .map(|q| {
            format!(
                "`{}` {}: {} bits/weight, loss {} nats, change {}%",
                q.variant,
                q.format,
                fmt::num(q.bits_per_weight),
                fmt::loss_stat(&q.val_loss),
                fmt::num(q.delta_pct)
            )
        })
        .collect();
    claim("mxfp4", QUOTE, parts, notes)
}

/// Relative loss change of a quantized model against f32: paired by seed when both rows
/// carry per-seed losses, else Welch on the summaries, else the recorded point value.
fn quant_change(q: &QuantResult, f32: Option<&QuantResult>) -> (Est, &'static str) {
    let Some(f) = f32 else {
        return (Est::point(q.delta_pct / 100.0), "recorded; no f32 row");
    };
    let paired: Vec<f64> = q
        .seed_losses
        .iter()
        .filter_map(|(s, lq)| {
            f.seed_losses
                .iter()
                .find(|(t, _)| t == s)
                .map(|(_, lf)| (lq - lf) / lf)
        })
        .collect();
    if !paired.is_empty() {
        let s = stats::stat(&paired);
        return (Est::pm(s.mean, s.ci95), "paired by seed");
    }
    let (d, h) = stats::welch(&q.val_loss, &f.val_loss);
    (Est::pm(d, h).map(|x| x / f.val_loss.mean), "unpaired Welch")
}

pub(super) fn moe_balance(r: &StudyResults) -> ClaimResult {
    const QUOTE: &str =
        "The balancing loss keeps the standard deviation of expert load below 0.04.";
    let mut names: Vec<&str> = Vec::new();
    for e in &r.expert_load {
        if !names.contains(&e.variant.as_str()) {
            names.push(&e.variant);
        }
    }
    let what = "load std below 0.04 (std over experts of the fraction of routed slots, averaged over layers; interval over seeds)";
    let mut parts: Vec<Part> = names
        .iter()
        .map(|name| {
            let loads: Vec<_> = r
                .expert_load
                .iter()
                .filter(|e| e.variant == *name)
                .collect();
            let s = stats::stat(&loads.iter().map(|e| e.load_std).collect::<Vec<_>>());
            let e = Est::pm(s.mean, s.ci95);
            let experts = loads
                .iter()
                .find_map(|e| e.per_layer.first())
                .map_or(0, |l| l.len());
            let line = format!(
                "`{name}`: {} (n={}, {experts} experts, uniform fraction {}); {}",
                fmt::stat(&s),
                s.n,
                fmt::num(1.0 / experts.max(1) as f64),
                vs_stated(&e, 0.04, 0.04, fmt::num)
            );
            Part::new(below(&e, 0.04), what, line)
        })
        .collect();
    if parts.is_empty() {
        parts.push(Part::new(
            Verdict::missing("no expert loads were measured"),
            what,
            "",
        ));
    }
    claim("moe_balance", QUOTE, parts, vec![])
}
