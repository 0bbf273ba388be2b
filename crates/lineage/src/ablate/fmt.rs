//! The one way numbers are written in the report and the claims' evidence, so that a
//! reader (or a test) finds the same digits in `report.md` as it computes from
//! `report.json`. Non-finite values print as `n/a`.

use super::results::Stat;

/// A loss in nats (or bits/byte): fixed four decimals.
pub fn loss(x: f64) -> String {
    fixed(x, 4)
}

/// A loss statistic: `mean ± ci95` with four decimals each.
pub fn loss_stat(s: &Stat) -> String {
    format!("{} ± {}", loss(s.mean), loss(s.ci95))
}

/// A statistic of any magnitude: `mean ± ci95` with `num` for each.
pub fn stat(s: &Stat) -> String {
    format!("{} ± {}", num(s.mean), num(s.ci95))
}

/// Any magnitude: four significant digits, scientific below 1e-3 and from 1e6.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let a = x.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        return format!("{x:.3e}");
    }
    let digits = if a == 0.0 {
        0
    } else {
        3 - a.log10().floor() as i32
    };
    format!("{x:.*}", digits.clamp(0, 6) as usize)
}

/// A fraction as a percentage with two decimals (`0.0712` → `7.12%`).
pub fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2}%", 100.0 * x)
    } else {
        "n/a".into()
    }
}

/// A ratio with three decimals and a times sign (`2.500×`).
pub fn ratio(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}×")
    } else {
        "n/a".into()
    }
}

/// An interval `[lo, hi]` written with `f`.
pub fn interval(lo: f64, hi: f64, f: fn(f64) -> String) -> String {
    format!("[{}, {}]", f(lo), f(hi))
}

/// Seconds as `1h 02m 03s` (or `42.0 s` under a minute).
pub fn duration(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "n/a".into();
    }
    if s < 60.0 {
        return format!("{s:.1} s");
    }
    let t = s.round() as u64;
    let (h, m, sec) = (t / 3600, (t / 60) % 60, t % 60);
    if h > 0 {
        format!("{h}h {m:02}m {sec:02}s")
    } else {
        format!("{m}m {sec:02}s")
    }
}

fn fixed(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "n/a".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn num_magnitudes_keep_four_significant_digits() {
        assert_eq!(num(1.23456), "1.235");
        assert_eq!(num(12345.6), "12346");
        assert_eq!(num(0.012345), "0.01235");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(2.5e-5), "2.500e-5");
        assert_eq!(num(3.2e7), "3.200e7");
        assert_eq!(num(f64::NAN), "n/a");
    }

    #[test]
    fn loss_stat_nan_ci_prints_na() {
        let s = Stat {
            n: 1,
            mean: 3.0,
            std: f64::NAN,
            ci95: f64::NAN,
        };
        assert_eq!(loss_stat(&s), "3.0000 ± n/a");
    }

    #[test]
    fn duration_hours_minutes_seconds() {
        assert_eq!(duration(3723.0), "1h 02m 03s");
        assert_eq!(duration(75.0), "1m 15s");
        assert_eq!(duration(4.24), "4.2 s");
    }
}
