//! The claims the study judges: each common statement about LLM architecture, quoted,
//! with a verdict from the 95% intervals (rules in `verdict`) and the numbers behind it.
//! Everything comes from `StudyResults`; a variant or measurement that is missing gives
//! `inconclusive: <what is missing>`, never a panic.
//!
//! Definitions used throughout (also written into each claim's evidence):
//! - loss comparisons: Welch's 95% interval of the difference of mean final validation
//!   losses over the finished (not diverged) seeds;
//! - perplexity ratio of X to a baseline: exp(loss_X - loss_base); "quality" kept by X:
//!   exp(loss_base - loss_X) = ppl_base / ppl_X;
//! - "x% faster": time_baseline / time_X - 1 (tokens to a target loss, or microseconds);
//! - ratios of positive quantities (tokens, variances, times): geometric-mean ratio with
//!   Welch's interval on the logarithms.

mod compare;
mod infer;
mod placement;
mod train;

use super::results::{ClaimResult, RunResult, StudyResults, VariantResult};
use super::verdict::{combine, Est, Verdict};
use super::{fmt, stats};

/// Quote of the comparisons that no common claim covers.
pub const NO_CLAIM: &str = "(no common claim; measured for completeness)";

/// Every claim's verdict, in report order.
pub fn judge(r: &StudyResults) -> Vec<ClaimResult> {
    let mut out = vec![
        placement::claim_result(r),
        compare::rmsnorm(r),
        infer::positions(r),
        compare::swiglu(r),
        compare::gqa_mqa(r),
        train::moe_per_flop(r),
        infer::moe_balance(r),
        compare::dropout(r),
        infer::mxfp4(r),
        train::modern(r),
    ];
    out.extend(compare::completeness(r));
    out
}

/// One judged part of a claim and its evidence line.
pub(crate) struct Part {
    pub verdict: Verdict,
    pub line: String,
}

impl Part {
    /// `[verdict] what: numbers`.
    pub fn new(verdict: Verdict, what: &str, numbers: impl AsRef<str>) -> Self {
        let line = format!("[{}] {what}: {}", verdict.text(), numbers.as_ref());
        Part { verdict, line }
    }
    /// A part whose computation may stop at missing data (the `Err` verdict).
    pub fn from(what: &str, f: impl FnOnce() -> Result<(Verdict, String), Verdict>) -> Self {
        match f() {
            Ok((v, numbers)) => Part::new(v, what, numbers),
            Err(v) => {
                let why = match &v {
                    Verdict::Inconclusive(why) => why.clone(),
                    _ => String::new(),
                };
                Part::new(v, what, why)
            }
        }
    }
}

/// A claim from its parts (combined) and notes (evidence without a verdict).
pub(crate) fn claim(id: &str, quote: &str, parts: Vec<Part>, notes: Vec<String>) -> ClaimResult {
    let verdicts: Vec<Verdict> = parts.iter().map(|p| p.verdict.clone()).collect();
    let mut evidence: Vec<String> = parts.into_iter().map(|p| p.line).collect();
    evidence.extend(notes);
    ClaimResult {
        id: id.into(),
        quote: quote.into(),
        verdict: combine(&verdicts).text(),
        evidence,
    }
}

/// The variant named `name`, or why not.
pub(crate) fn variant<'a>(r: &'a StudyResults, name: &str) -> Result<&'a VariantResult, Verdict> {
    r.variants
        .iter()
        .find(|v| v.name == name)
        .ok_or_else(|| Verdict::missing(format!("variant `{name}` was not run")))
}

/// Runs that finished with a finite loss.
pub(crate) fn finished(v: &VariantResult) -> impl Iterator<Item = &RunResult> {
    v.runs
        .iter()
        .filter(|x| !x.diverged && x.val_loss.is_finite())
}

/// Runs of a variant, finished or not (the runs list, or the counts when it is empty).
pub(crate) fn total_runs(v: &VariantResult) -> usize {
    v.runs.len().max(v.val_loss.n + v.diverged_runs)
}

/// `loss(a) - loss(b)` with Welch's interval, or why it cannot be computed.
pub(crate) fn loss_diff(a: &VariantResult, b: &VariantResult) -> Result<Est, Verdict> {
    for v in [a, b] {
        if v.val_loss.n == 0 || !v.val_loss.mean.is_finite() {
            return Err(Verdict::missing(format!(
                "no finished run of `{}` ({} of {} diverged)",
                v.name,
                v.diverged_runs,
                total_runs(v)
            )));
        }
    }
    let (d, h) = stats::welch(&a.val_loss, &b.val_loss);
    Ok(Est::pm(d, h))
}

/// `` `name` 3.1234 ± 0.0123 nats (n=3, 1 diverged) ``.
pub(crate) fn loss_line(v: &VariantResult) -> String {
    let div = if v.diverged_runs > 0 {
        format!(", {} diverged", v.diverged_runs)
    } else {
        String::new()
    };
    format!(
        "`{}` {} nats (n={}{div})",
        v.name,
        fmt::loss_stat(&v.val_loss),
        v.val_loss.n
    )
}

/// `Δ = +0.0123 ± 0.0050 nats (95% CI [.., ..], Welch)`.
pub(crate) fn diff_line(e: &Est) -> String {
    let h = 0.5 * (e.hi - e.lo);
    format!(
        "Δ loss = {} ± {} nats, 95% CI {} (Welch)",
        fmt::loss(e.value),
        fmt::loss(h),
        fmt::interval(e.lo, e.hi, fmt::loss)
    )
}

/// An estimate written with `f` and its interval.
pub(crate) fn est_line(e: &Est, f: fn(f64) -> String) -> String {
    format!("{}, 95% CI {}", f(e.value), fmt::interval(e.lo, e.hi, f))
}

/// How an interval sits against a stated value or range (`lo == hi` for one value).
pub(crate) fn vs_stated(e: &Est, lo: f64, hi: f64, f: fn(f64) -> String) -> String {
    let stated = if lo == hi {
        f(lo)
    } else {
        format!("{}–{}", f(lo), f(hi))
    };
    if !e.has_interval() {
        format!("no interval to compare with the stated {stated}")
    } else if e.hi < lo {
        format!("the interval lies below the stated {stated}")
    } else if e.lo > hi {
        format!("the interval lies above the stated {stated}")
    } else {
        format!("the interval reaches the stated {stated}")
    }
}

/// Tokens at which `curve` first reaches `target` (linear between evaluations); a
/// curve that never does counts at its last evaluation (censored). None for an empty
/// curve. Returns `(tokens, reached)`.
pub(crate) fn tokens_to(curve: &[(f64, f64)], target: f64) -> Option<(f64, bool)> {
    let pts: Vec<(f64, f64)> = curve
        .iter()
        .copied()
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let mut prev: Option<(f64, f64)> = None;
    for &(t, l) in &pts {
        if l <= target {
            let at = match prev {
                Some((t0, l0)) if l0 > l => t0 + (t - t0) * (l0 - target) / (l0 - l),
                _ => t,
            };
            return Some((at, true));
        }
        prev = Some((t, l));
    }
    pts.last().map(|p| (p.0, false))
}

/// Tokens to `target` of each finished run of `v` and how many never reached it.
pub(crate) fn run_tokens(v: &VariantResult, target: f64) -> (Vec<f64>, usize) {
    let hits: Vec<(f64, bool)> = finished(v)
        .filter_map(|x| tokens_to(&x.val_curve, target))
        .collect();
    let censored = hits.iter().filter(|h| !h.1).count();
    (hits.into_iter().map(|h| h.0).collect(), censored)
}

/// Geometric-mean ratio `grad_norm_var(a) / grad_norm_var(b)` over finished runs.
pub(crate) fn grad_var_ratio(a: &VariantResult, b: &VariantResult) -> Result<Est, Verdict> {
    let g = |v: &VariantResult| {
        finished(v)
            .map(|x| x.grad_norm_var)
            .filter(|x| *x > 0.0)
            .collect::<Vec<_>>()
    };
    let (ga, gb) = (g(a), g(b));
    for (v, xs) in [(a, &ga), (b, &gb)] {
        if xs.is_empty() {
            return Err(Verdict::missing(format!(
                "no gradient-norm variance for `{}`",
                v.name
            )));
        }
    }
    let (m, lo, hi) = stats::ratio_ci(&ga, &gb);
    Ok(Est { value: m, lo, hi })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_to_interpolates_between_evaluations() {
        let c = [(0.0, 5.0), (100.0, 4.0), (200.0, 3.0)];
        assert_eq!(tokens_to(&c, 3.5), Some((150.0, true)));
        assert_eq!(tokens_to(&c, 6.0), Some((0.0, true)));
        assert_eq!(tokens_to(&c, 1.0), Some((200.0, false)));
        assert_eq!(tokens_to(&[], 1.0), None);
    }

    #[test]
    fn tokens_to_nan_points_are_skipped() {
        let c = [(0.0, 5.0), (100.0, f64::NAN), (200.0, 3.0)];
        assert_eq!(tokens_to(&c, 4.0), Some((100.0, true)));
    }
}
