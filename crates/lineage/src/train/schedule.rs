//! Learning rate per optimizer step: linear warmup, then cosine, linear, WSD or constant.

use super::settings::{ScheduleKind, TrainSettings};

/// Learning rate of the update at `step` (0-based).
pub fn lr_at(s: &TrainSettings, step: u64) -> f64 {
    let total = s.total_steps();
    if step < s.warmup {
        return s.lr * (step + 1) as f64 / s.warmup as f64;
    }
    let span = total.saturating_sub(s.warmup).max(1) as f64;
    let progress = ((step - s.warmup) as f64 / span).min(1.0);
    let (hi, lo) = (s.lr, s.min_lr);
    match s.schedule {
        ScheduleKind::Constant => hi,
        ScheduleKind::Cosine => {
            lo + 0.5 * (hi - lo) * (1.0 + (std::f64::consts::PI * progress).cos())
        }
        ScheduleKind::Linear => lo + (hi - lo) * (1.0 - progress),
        ScheduleKind::Wsd => {
            let decay_steps = (s.decay_fraction * total as f64).round() as u64;
            let decay_start = total.saturating_sub(decay_steps).max(s.warmup);
            if step < decay_start || decay_steps == 0 {
                hi
            } else {
                let p = (step - decay_start + 1) as f64 / decay_steps as f64;
                hi + (lo - hi) * p.min(1.0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(kind: ScheduleKind) -> TrainSettings {
        TrainSettings {
            steps: 10,
            warmup: 3,
            lr: 3e-3,
            min_lr: 3e-4,
            schedule: kind,
            decay_fraction: 0.2,
            ..Default::default()
        }
    }

    #[test]
    fn cosine_warms_up_then_reaches_min_at_the_end() {
        let s = settings(ScheduleKind::Cosine);
        assert!((lr_at(&s, 0) - 1e-3).abs() < 1e-15);
        assert!((lr_at(&s, 2) - 3e-3).abs() < 1e-15);
        assert!((lr_at(&s, 3) - 3e-3).abs() < 1e-15);
        let mid = 3e-4 + 0.5 * 2.7e-3 * (1.0 + (std::f64::consts::PI * 3.0 / 7.0).cos());
        assert!((lr_at(&s, 6) - mid).abs() < 1e-15);
    }

    #[test]
    fn wsd_is_flat_then_decays_linearly_to_min() {
        let s = settings(ScheduleKind::Wsd);
        assert_eq!(lr_at(&s, 7), 3e-3);
        assert!((lr_at(&s, 8) - (3e-3 - 0.5 * 2.7e-3)).abs() < 1e-15);
        assert!((lr_at(&s, 9) - 3e-4).abs() < 1e-15);
    }
}
