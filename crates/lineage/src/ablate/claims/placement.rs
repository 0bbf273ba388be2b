//! The norm-placement claim from the placement grid: pre- against post-norm at each
//! depth, with and without warmup, at each learning rate (variant names
//! `{pre,post}_L{depth}_{warmup,nowarmup}_lr{lr}`).

use super::super::results::{ClaimResult, StudyResults, VariantResult};
use super::super::verdict::{combine_configs, higher, within, Est, Verdict};
use super::super::{fmt, stats};
use super::{
    claim, diff_line, est_line, loss_diff, loss_line, run_tokens, total_runs, vs_stated, Part,
};

const QUOTE: &str = "Pre-norm trains stably from the start, while post-norm needs warmup and is unstable beyond ~24 layers. Pre-norm converges 2–3× faster.";
/// The depth the claim names ("unstable beyond ~24 layers").
const CLAIM_DEPTH: usize = 24;

/// One cell of the placement grid.
struct Cell<'a> {
    pre: bool,
    depth: usize,
    warmup: bool,
    lr: String,
    v: &'a VariantResult,
}

/// Parses `pre_L16_nowarmup_lr3e-3`.
fn parse(v: &VariantResult) -> Option<Cell<'_>> {
    let mut it = v.name.splitn(4, '_');
    let pre = match it.next()? {
        "pre" => true,
        "post" => false,
        _ => return None,
    };
    let depth = it.next()?.strip_prefix('L')?.parse().ok()?;
    let warmup = match it.next()? {
        "warmup" => true,
        "nowarmup" => false,
        _ => return None,
    };
    let lr = it.next()?.strip_prefix("lr")?.to_string();
    Some(Cell {
        pre,
        depth,
        warmup,
        lr,
        v,
    })
}

fn diverged(cells: &[&Cell]) -> (usize, usize) {
    cells.iter().fold((0, 0), |(d, n), c| {
        (d + c.v.diverged_runs, n + total_runs(c.v))
    })
}

pub(super) fn claim_result(r: &StudyResults) -> ClaimResult {
    let cells: Vec<Cell> = r.variants.iter().filter_map(parse).collect();
    if cells.is_empty() {
        let p = Part::new(
            Verdict::missing("no norm-placement variants were run"),
            "norm placement",
            "",
        );
        return claim("norm_placement", QUOTE, vec![p], vec![]);
    }
    let find = |pre: bool, depth: usize, warmup: bool, lr: &str| {
        cells
            .iter()
            .find(|c| c.pre == pre && c.depth == depth && c.warmup == warmup && c.lr == lr)
    };
    // (depth, lr) pairs of the grid, in order.
    let mut configs: Vec<(usize, String)> = cells.iter().map(|c| (c.depth, c.lr.clone())).collect();
    configs.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    configs.dedup();
    let parts = vec![
        pre_stable(&cells),
        needs_warmup(&configs, &find),
        deep_unstable(&cells, &configs, &find),
        converges(&configs, &find),
    ];
    let notes = cells.iter().map(|c| loss_line(c.v)).collect();
    claim("norm_placement", QUOTE, parts, notes)
}

fn pre_stable(cells: &[Cell]) -> Part {
    let what = "pre-norm trains stably from the start (no divergence without warmup)";
    let pre: Vec<&Cell> = cells.iter().filter(|c| c.pre && !c.warmup).collect();
    if pre.is_empty() {
        return Part::new(Verdict::missing("no pre-norm run without warmup"), what, "");
    }
    let (d, n) = diverged(&pre);
    let v = if d == 0 {
        Verdict::Holds
    } else {
        Verdict::DoesNotHold
    };
    let names: Vec<&str> = pre
        .iter()
        .filter(|c| c.v.diverged_runs > 0)
        .map(|c| c.v.name.as_str())
        .collect();
    let which = if names.is_empty() {
        String::new()
    } else {
        format!(" ({})", names.join(", "))
    };
    Part::new(v, what, format!("{d} of {n} runs diverged{which}"))
}

type Find<'a, 'b> = dyn Fn(bool, usize, bool, &str) -> Option<&'b Cell<'a>> + 'b;

fn needs_warmup(configs: &[(usize, String)], find: &Find) -> Part {
    let what = "post-norm needs warmup (without it: more divergences, or Δ = loss(no warmup) − loss(warmup) above 0)";
    let (mut verdicts, mut lines) = (Vec::new(), Vec::new());
    for (depth, lr) in configs {
        let (Some(no), Some(yes)) = (
            find(false, *depth, false, lr),
            find(false, *depth, true, lr),
        ) else {
            continue;
        };
        let (dn, dy) = (no.v.diverged_runs, yes.v.diverged_runs);
        let head = format!(
            "L{depth} lr {lr}: diverged {dn}/{} without, {dy}/{} with",
            total_runs(no.v),
            total_runs(yes.v)
        );
        let (v, tail) = if dn != dy {
            (
                if dn > dy {
                    Verdict::Holds
                } else {
                    Verdict::DoesNotHold
                },
                String::new(),
            )
        } else {
            match loss_diff(no.v, yes.v) {
                Ok(e) => (higher(&e, 0.0), format!(", {}", diff_line(&e))),
                Err(v) => (v, String::new()),
            }
        };
        lines.push(format!("{head}{tail} → {}", v.text()));
        verdicts.push(v);
    }
    if verdicts.is_empty() {
        return Part::new(
            Verdict::missing("no post-norm pair with and without warmup"),
            what,
            "",
        );
    }
    Part::new(combine_configs(&verdicts), what, lines.join("; "))
}

fn deep_unstable(cells: &[Cell], configs: &[(usize, String)], find: &Find) -> Part {
    let what =
        "post-norm is unstable beyond ~24 layers (a divergence with warmup at a depth above 24)";
    let deepest = cells.iter().map(|c| c.depth).max().unwrap_or(0);
    let post_at = |depth: usize| -> Vec<&Cell> {
        configs
            .iter()
            .filter(|c| c.0 == depth)
            .filter_map(|(d, lr)| find(false, *d, true, lr))
            .collect()
    };
    let (d, n) = diverged(&post_at(deepest));
    let seen = format!("deepest post-norm runs with warmup: {deepest} layers, {d} of {n} diverged");
    if deepest <= CLAIM_DEPTH {
        let why = format!(
            "the deepest runs have {deepest} layers; the claim is about more than ~{CLAIM_DEPTH}"
        );
        return Part::new(Verdict::missing(why), what, seen);
    }
    let deep: Vec<&Cell> = configs
        .iter()
        .filter(|c| c.0 > CLAIM_DEPTH)
        .filter_map(|(depth, lr)| find(false, *depth, true, lr))
        .collect();
    let (d, n) = diverged(&deep);
    let v = if d > 0 {
        Verdict::Holds
    } else {
        Verdict::DoesNotHold
    };
    Part::new(
        v,
        what,
        format!("{d} of {n} post-norm runs with warmup above {CLAIM_DEPTH} layers diverged"),
    )
}

fn converges(configs: &[(usize, String)], find: &Find) -> Part {
    let what = "pre-norm converges 2–3× faster (with warmup: tokens to the worse of the two final mean losses, post / pre; runs that never reach it count at their last evaluation)";
    let (mut verdicts, mut lines) = (Vec::new(), Vec::new());
    for (depth, lr) in configs {
        let (Some(pre), Some(post)) = (find(true, *depth, true, lr), find(false, *depth, true, lr))
        else {
            continue;
        };
        let (a, b) = (pre.v.val_loss.mean, post.v.val_loss.mean);
        let target = a.max(b);
        let label = format!("L{depth} lr {lr}");
        if !(a.is_finite() && b.is_finite()) {
            verdicts.push(Verdict::missing(format!(
                "{label}: no finished run on a side"
            )));
            lines.push(format!("{label}: no finished run on a side"));
            continue;
        }
        let ((tp, cp), (tq, cq)) = (run_tokens(pre.v, target), run_tokens(post.v, target));
        let (m, lo, hi) = stats::ratio_ci(&tq, &tp);
        let e = Est { value: m, lo, hi };
        let v = within(&e, 2.0, 3.0, 1.0);
        lines.push(format!(
            "{label}: target {} nats; pre {} tokens ({cp} of {} never reached), post {} tokens ({cq} of {} never reached); post/pre {}; {} → {}",
            fmt::loss(target),
            fmt::num(stats::stat(&tp).mean),
            tp.len(),
            fmt::num(stats::stat(&tq).mean),
            tq.len(),
            est_line(&e, fmt::ratio),
            vs_stated(&e, 2.0, 3.0, fmt::ratio),
            v.text()
        ));
        verdicts.push(v);
    }
    if verdicts.is_empty() {
        return Part::new(Verdict::missing("no pre/post pair with warmup"), what, "");
    }
    Part::new(combine_configs(&verdicts), what, lines.join("; "))
}
