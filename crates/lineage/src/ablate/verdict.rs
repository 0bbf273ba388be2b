//! Verdicts from intervals. A measured quantity is an `Est` (value and its 95%
//! interval); each kind of claim has one rule that turns an `Est` into a `Verdict`:
//!
//! - `lower` / `higher` (directional: "A beats B"): holds when the interval excludes the
//!   null value on the claimed side, does not hold when it excludes it on the other side,
//!   and is inconclusive when it contains it.
//! - `not_worse` ("matches", "extrapolates"): does not hold only when the interval lies
//!   entirely on the worse side of the null value.
//! - `about` / `within` ("~7%", "2–3×"): holds when the interval contains the stated
//!   value (meets the stated range) and excludes the null value; does not hold when it
//!   excludes the stated value; inconclusive when it contains both.
//! - `below` / `at_least` (bounds: "< 2%", "keeps 98.5%"): holds when the whole interval
//!   is on the claimed side of the bound, does not hold when it is wholly on the other.
//!
//! A claim with several parts holds when every part holds and does not hold when any
//! part does not (`combine`).

/// The verdict strings of the report.
pub const HOLDS: &str = "holds at this scale";
pub const DOES_NOT_HOLD: &str = "does not hold";
pub const OVERLAP: &str = "the intervals overlap";
/// Reason when a side has fewer than two finished runs.
pub const NO_INTERVAL: &str = "no 95% interval (fewer than two finished runs on a side)";

/// What the study says about one claim or part of a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Holds,
    DoesNotHold,
    /// Why no verdict: `the intervals overlap`, or the data that is missing.
    Inconclusive(String),
}

impl Verdict {
    pub fn text(&self) -> String {
        match self {
            Verdict::Holds => HOLDS.into(),
            Verdict::DoesNotHold => DOES_NOT_HOLD.into(),
            Verdict::Inconclusive(why) => format!("inconclusive: {why}"),
        }
    }
    pub fn missing(why: impl Into<String>) -> Self {
        Verdict::Inconclusive(why.into())
    }
    fn overlap() -> Self {
        Verdict::Inconclusive(OVERLAP.into())
    }
}

/// A measured value with its 95% interval (`lo`, `hi` NaN when there is none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Est {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Est {
    /// `value ± half` (NaN half: no interval).
    pub fn pm(value: f64, half: f64) -> Self {
        Est {
            value,
            lo: value - half,
            hi: value + half,
        }
    }
    /// A value known without an interval.
    pub fn point(value: f64) -> Self {
        Est {
            value,
            lo: f64::NAN,
            hi: f64::NAN,
        }
    }
    pub fn has_interval(&self) -> bool {
        self.lo.is_finite() && self.hi.is_finite() && self.value.is_finite()
    }
    /// The image under a monotone `f` (increasing or decreasing): ends reordered.
    pub fn map(self, f: impl Fn(f64) -> f64) -> Self {
        let (a, b) = (f(self.lo), f(self.hi));
        Est {
            value: f(self.value),
            lo: a.min(b),
            hi: a.max(b),
        }
    }
    fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }
}

fn checked(e: &Est, rule: impl Fn(&Est) -> Verdict) -> Verdict {
    if !e.value.is_finite() {
        Verdict::missing("the value could not be computed")
    } else if !e.has_interval() {
        Verdict::missing(NO_INTERVAL)
    } else {
        rule(e)
    }
}

/// Claim: the value is below `null` (e.g. a loss difference below 0).
pub fn lower(e: &Est, null: f64) -> Verdict {
    checked(e, |e| {
        if e.hi < null {
            Verdict::Holds
        } else if e.lo > null {
            Verdict::DoesNotHold
        } else {
            Verdict::overlap()
        }
    })
}

/// Claim: the value is above `null`.
pub fn higher(e: &Est, null: f64) -> Verdict {
    lower(&e.map(|x| -x), -null)
}

/// Claim: the value is not worse than `null`, where larger is worse.
pub fn not_worse(e: &Est, null: f64) -> Verdict {
    checked(e, |e| {
        if e.lo > null {
            Verdict::DoesNotHold
        } else {
            Verdict::Holds
        }
    })
}

/// Claim: the value is about `stated` (an effect, where `null` means none).
pub fn about(e: &Est, stated: f64, null: f64) -> Verdict {
    within(e, stated, stated, null)
}

/// Claim: the value is in `[lo, hi]` (an effect, where `null` means none).
pub fn within(e: &Est, lo: f64, hi: f64, null: f64) -> Verdict {
    checked(e, |e| {
        if e.hi < lo || e.lo > hi {
            Verdict::DoesNotHold
        } else if e.contains(null) {
            Verdict::overlap()
        } else {
            Verdict::Holds
        }
    })
}

/// Claim: the value is below `bound`.
pub fn below(e: &Est, bound: f64) -> Verdict {
    checked(e, |e| {
        if e.hi < bound {
            Verdict::Holds
        } else if e.lo >= bound {
            Verdict::DoesNotHold
        } else {
            Verdict::overlap()
        }
    })
}

/// Claim: the value is at least `bound`.
pub fn at_least(e: &Est, bound: f64) -> Verdict {
    checked(e, |e| {
        if e.lo >= bound {
            Verdict::Holds
        } else if e.hi < bound {
            Verdict::DoesNotHold
        } else {
            Verdict::overlap()
        }
    })
}

/// A claim of several parts: does not hold if any part does not, holds if all hold,
/// else inconclusive for the first inconclusive part's reason.
pub fn combine(parts: &[Verdict]) -> Verdict {
    if parts.is_empty() {
        return Verdict::missing("nothing was measured for it");
    }
    if parts.contains(&Verdict::DoesNotHold) {
        return Verdict::DoesNotHold;
    }
    parts
        .iter()
        .find(|v| matches!(v, Verdict::Inconclusive(_)))
        .cloned()
        .unwrap_or(Verdict::Holds)
}

/// One part judged in several configurations (depths, learning rates, shapes): as
/// `combine`, but a mix of holds and inconclusive says in how many it held.
pub fn combine_configs(parts: &[Verdict]) -> Verdict {
    let held = parts.iter().filter(|v| **v == Verdict::Holds).count();
    match combine(parts) {
        Verdict::Inconclusive(why) if held > 0 => Verdict::missing(format!(
            "held in {held} of {} configurations; in the others {why}",
            parts.len()
        )),
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_interval_below_null_holds() {
        assert_eq!(lower(&Est::pm(-0.2, 0.1), 0.0), Verdict::Holds);
        assert_eq!(lower(&Est::pm(0.2, 0.1), 0.0), Verdict::DoesNotHold);
        assert_eq!(lower(&Est::pm(0.05, 0.1), 0.0), Verdict::overlap());
        assert_eq!(lower(&Est::point(-1.0), 0.0), Verdict::missing(NO_INTERVAL));
    }

    #[test]
    fn about_containing_null_is_inconclusive() {
        assert_eq!(about(&Est::pm(0.06, 0.02), 0.07, 0.0), Verdict::Holds);
        assert_eq!(about(&Est::pm(0.02, 0.03), 0.03, 0.0), Verdict::overlap());
        assert_eq!(about(&Est::pm(0.20, 0.02), 0.07, 0.0), Verdict::DoesNotHold);
    }

    #[test]
    fn bounds_straddling_are_inconclusive() {
        assert_eq!(below(&Est::pm(1.0, 0.5), 2.0), Verdict::Holds);
        assert_eq!(below(&Est::pm(2.0, 0.5), 2.0), Verdict::overlap());
        assert_eq!(at_least(&Est::pm(0.99, 0.004), 0.985), Verdict::Holds);
        assert_eq!(at_least(&Est::pm(0.95, 0.01), 0.985), Verdict::DoesNotHold);
    }

    #[test]
    fn combine_any_failure_does_not_hold() {
        let o = Verdict::overlap();
        assert_eq!(
            combine(&[Verdict::Holds, Verdict::DoesNotHold, o.clone()]),
            Verdict::DoesNotHold
        );
        assert_eq!(combine(&[Verdict::Holds, o.clone()]), o);
        assert_eq!(combine(&[Verdict::Holds]), Verdict::Holds);
        let mixed = combine_configs(&[Verdict::Holds, o]);
        assert!(mixed.text().contains("held in 1 of 2"), "{}", mixed.text());
    }

    #[test]
    fn est_map_decreasing_reorders_ends() {
        let e = Est::pm(0.0, 1.0).map(|x| -x);
        assert_eq!((e.lo, e.hi), (-1.0, 1.0));
    }
}
