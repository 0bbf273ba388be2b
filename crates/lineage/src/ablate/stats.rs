//! Statistics of the study: mean, sample standard deviation and the two-sided 95%
//! Student-t interval over seeds, and Welch's interval of a difference of means.
//!
//! The t quantile is computed (any real degrees of freedom, as Welch-Satterthwaite
//! gives), not read from a table: the CDF is the regularized incomplete beta function
//! (continued fraction, Numerical Recipes 3rd ed. §6.4, Lentz's method) with ln Γ by
//! Lanczos (g = 7, n = 9), inverted by bisection. Reference values: t(0.975, 2) =
//! 4.302653, t(0.975, 4) = 2.776445 (NIST/SEMATECH e-Handbook, table 1.3.6.7.2).

use super::results::Stat;

/// Two-sided 95% level: the t quantile used is t(0.975, df).
pub const LEVEL: f64 = 0.975;

/// Mean, sample standard deviation and 95% half-width of the finite values of `xs`
/// (NaN and infinities are excluded). n = 0 gives NaN mean; n < 2 gives NaN std and ci.
pub fn stat(xs: &[f64]) -> Stat {
    let v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len();
    let mean = if n == 0 {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / n as f64
    };
    if n < 2 {
        return Stat {
            n,
            mean,
            std: f64::NAN,
            ci95: f64::NAN,
        };
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let std = var.sqrt();
    let ci95 = t_quantile(LEVEL, (n - 1) as f64) * std / (n as f64).sqrt();
    Stat { n, mean, std, ci95 }
}

/// Welch's difference `mean(a) - mean(b)` and its 95% half-width (finite values only).
/// The half-width is NaN when either side has fewer than two values.
pub fn diff_ci(a: &[f64], b: &[f64]) -> (f64, f64) {
    welch(&stat(a), &stat(b))
}

/// Welch's difference `a.mean - b.mean` and its 95% half-width from two summaries
/// (Welch-Satterthwaite degrees of freedom). NaN half-width when either n < 2; zero
/// when both samples are constant.
pub fn welch(a: &Stat, b: &Stat) -> (f64, f64) {
    let d = a.mean - b.mean;
    if a.n < 2 || b.n < 2 || !a.std.is_finite() || !b.std.is_finite() {
        return (d, f64::NAN);
    }
    let (va, vb) = (a.std.powi(2) / a.n as f64, b.std.powi(2) / b.n as f64);
    let se2 = va + vb;
    if se2 == 0.0 {
        return (d, 0.0);
    }
    let df = se2.powi(2) / (va.powi(2) / (a.n - 1) as f64 + vb.powi(2) / (b.n - 1) as f64);
    (d, t_quantile(LEVEL, df) * se2.sqrt())
}

/// Geometric-mean ratio `a / b` of positive samples with its 95% interval `(ratio, lo,
/// hi)`: Welch on the logarithms, exponentiated. Non-positive values are excluded.
pub fn ratio_ci(a: &[f64], b: &[f64]) -> (f64, f64, f64) {
    let ln = |xs: &[f64]| {
        xs.iter()
            .filter(|x| **x > 0.0)
            .map(|x| x.ln())
            .collect::<Vec<_>>()
    };
    let (d, h) = diff_ci(&ln(a), &ln(b));
    (d.exp(), (d - h).exp(), (d + h).exp())
}

/// The p-quantile of Student's t with `df` (> 0, real) degrees of freedom; NaN for
/// p outside (0, 1) or df not positive.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if !(p > 0.0 && p < 1.0) || !(df > 0.0) {
        return f64::NAN;
    }
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    let mut hi = 2.0;
    while t_cdf(hi, df) < p && hi < 1e12 {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-13 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// CDF of Student's t with `df` degrees of freedom.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    if t.is_nan() || !(df > 0.0) {
        return f64::NAN;
    }
    let tail = 0.5 * inc_beta(0.5 * df, 0.5, df / (df + t * t));
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// Regularized incomplete beta I_x(a, b).
fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use the
    // symmetry I_x(a, b) = 1 - I_{1-x}(b, a) on the other side.
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

/// Continued fraction of the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 coefficients; relative error ~1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut acc = COEF[0];
    for (i, c) in COEF.iter().enumerate().skip(1) {
        acc += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + acc.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!(
            (a - b).abs() <= tol,
            "got {a}, expected {b} (abs err {:e})",
            (a - b).abs()
        );
    }

    #[test]
    fn t_quantile_known_df_matches_tables() {
        // NIST e-Handbook 1.3.6.7.2 and R's qt(0.975, df).
        for (df, t) in [
            (1.0, 12.706_205),
            (2.0, 4.302_653),
            (3.0, 3.182_446),
            (4.0, 2.776_445),
            (9.0, 2.262_157),
            (30.0, 2.042_272),
            (100.0, 1.983_972),
            (1000.0, 1.962_339),
        ] {
            close(t_quantile(0.975, df), t, 1e-6);
        }
        // Fractional df (Welch): qt(0.975, 2.5) = 3.574655 (numerical integration of the density).
        close(t_quantile(0.975, 2.5), 3.574_655, 1e-6);
        close(t_quantile(0.025, 4.0), -2.776_445, 1e-6);
        close(t_quantile(0.5, 7.0), 0.0, 1e-12);
    }

    #[test]
    fn t_quantile_bad_input_is_nan() {
        assert!(t_quantile(1.0, 3.0).is_nan());
        assert!(t_quantile(0.975, 0.0).is_nan());
        assert!(t_quantile(f64::NAN, 3.0).is_nan());
    }

    #[test]
    fn t_cdf_large_df_approaches_normal() {
        close(t_cdf(1.959_964, 1e7), 0.975, 1e-6);
        close(t_cdf(0.0, 3.0), 0.5, 1e-15);
    }

    #[test]
    fn stat_three_values_gives_t_interval() {
        let s = stat(&[1.0, 2.0, 3.0]);
        assert_eq!(s.n, 3);
        close(s.mean, 2.0, 1e-15);
        close(s.std, 1.0, 1e-15);
        close(s.ci95, 4.302_653 / 3f64.sqrt(), 1e-6);
    }

    #[test]
    fn stat_nan_values_are_excluded() {
        let s = stat(&[1.0, f64::NAN, 3.0, f64::INFINITY]);
        assert_eq!(s.n, 2);
        close(s.mean, 2.0, 1e-15);
        close(s.ci95, 12.706_205 * 2f64.sqrt() / 2f64.sqrt(), 1e-5);
    }

    #[test]
    fn stat_fewer_than_two_has_nan_ci() {
        let one = stat(&[4.0]);
        assert_eq!((one.n, one.mean), (1, 4.0));
        assert!(one.std.is_nan() && one.ci95.is_nan());
        let none = stat(&[]);
        assert!(none.n == 0 && none.mean.is_nan() && none.ci95.is_nan());
    }

    #[test]
    fn diff_ci_welch_matches_hand_computation() {
        // a: mean 2, var 1; b: mean 5, var 4; n = 3 each. se² = 1/3 + 4/3 = 5/3;
        // df = (5/3)² / ((1/3)²/2 + (4/3)²/2) = 25/9 / (17/18) = 50/17.
        let (d, h) = diff_ci(&[1.0, 2.0, 3.0], &[3.0, 5.0, 7.0]);
        close(d, -3.0, 1e-15);
        close(
            h,
            t_quantile(0.975, 50.0 / 17.0) * (5.0f64 / 3.0).sqrt(),
            1e-12,
        );
        // qt(0.975, 50/17) = 3.218759 (numerical integration of the density).
        close(t_quantile(0.975, 50.0 / 17.0), 3.218_759, 1e-6);
    }

    #[test]
    fn diff_ci_one_side_single_has_nan_ci() {
        let (d, h) = diff_ci(&[1.0], &[2.0, 3.0]);
        close(d, -1.5, 1e-15);
        assert!(h.is_nan());
    }

    #[test]
    fn ratio_ci_constant_samples_give_exact_ratio() {
        let (r, lo, hi) = ratio_ci(&[2.0, 2.0], &[4.0, 4.0]);
        close(r, 0.5, 1e-15);
        close(lo, 0.5, 1e-15);
        close(hi, 0.5, 1e-15);
    }
}
