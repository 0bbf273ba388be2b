//! Placeholder until the statistics module lands: mean, sample std, 95% t interval.

use super::results::Stat;

pub fn stat(xs: &[f64]) -> Stat {
    let xs: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    let n = xs.len();
    let mean = if n == 0 { f64::NAN } else { xs.iter().sum::<f64>() / n as f64 };
    let std = if n < 2 { f64::NAN } else { (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() };
    let t = [f64::NAN, 12.706, 4.303, 3.182, 2.776, 2.571][n.saturating_sub(1).min(5)];
    Stat { n, mean, std, ci95: t * std / (n as f64).sqrt() }
}
