//! Sampler tests: exact values for penalties and filters, seeded reproducibility and
//! empirical distributions within 5 standard errors.

use super::*;

fn logits_of(probs: &[f64]) -> Vec<f32> {
    probs.iter().map(|p| p.ln() as f32).collect()
}

fn frequencies(config: SamplerConfig, logits: &[f32], n: usize) -> Vec<f64> {
    let mut s = Sampler::new(config).unwrap();
    let mut counts = vec![0usize; logits.len()];
    for _ in 0..n {
        counts[s.sample(&mut logits.to_vec(), &[]).unwrap() as usize] += 1;
    }
    counts.into_iter().map(|c| c as f64 / n as f64).collect()
}

fn assert_close_to(freq: &[f64], expected: &[f64], n: usize) {
    for (i, (&f, &p)) in freq.iter().zip(expected).enumerate() {
        let sigma = (p * (1.0 - p) / n as f64).sqrt().max(1e-9);
        assert!(
            (f - p).abs() <= 5.0 * sigma + 1e-12,
            "token {i}: frequency {f}, expected {p} (5 sigma = {})",
            5.0 * sigma
        );
    }
}

#[test]
fn greedy_tied_logits_lowest_id_wins() {
    let mut s = Sampler::new(SamplerConfig::greedy()).unwrap();
    assert_eq!(s.sample(&mut [1.0, 3.0, 3.0, 2.0], &[]).unwrap(), 1);
    assert_eq!(s.sample(&mut [f32::NAN, -1.0, f32::NAN], &[]).unwrap(), 1);
}

#[test]
fn greedy_all_nan_is_error() {
    let mut s = Sampler::new(SamplerConfig::greedy()).unwrap();
    assert!(matches!(
        s.sample(&mut [f32::NAN; 3], &[]),
        Err(Error::BadInput(_))
    ));
    assert!(matches!(s.sample(&mut [], &[]), Err(Error::BadInput(_))));
}

#[test]
fn penalties_repeated_tokens_exact_values() {
    let config = SamplerConfig {
        repetition_penalty: 2.0,
        frequency_penalty: 0.5,
        presence_penalty: 0.25,
        ..SamplerConfig::default()
    };
    let mut logits = [2.0, -2.0, 1.0, 0.5];
    apply_penalties(&mut logits, &[0, 1, 1, 3, 99], &config);
    // id0: 2/2 - (1*0.5 + 0.25); id1: -2*2 - (2*0.5 + 0.25); id2 unseen; id3: 0.5/2 - 0.75.
    assert_eq!(logits, [0.25, -5.25, 1.0, -0.5]);
}

#[test]
fn penalties_last_n_window_only_recent_tokens() {
    let config = SamplerConfig {
        temperature: 0.0,
        repetition_penalty: 10.0,
        penalty_last_n: Some(1),
        ..SamplerConfig::default()
    };
    let mut s = Sampler::new(config).unwrap();
    // Token 0 is outside the window: only token 1 (the last) is penalised.
    let mut logits = [1.0, 2.0, 1.5];
    assert_eq!(s.sample(&mut logits, &[0, 1]).unwrap(), 2);
    assert_eq!(logits, [1.0, 0.2, 1.5]);
}

#[test]
fn top_p_len_keeps_minimal_set() {
    let probs = [0.5, 0.3, 0.15, 0.05];
    assert_eq!(top_p_len(&probs, 0.5), 1);
    assert_eq!(top_p_len(&probs, 0.75), 2);
    assert_eq!(top_p_len(&probs, 0.81), 3);
    assert_eq!(top_p_len(&probs, 0.999), 4);
    assert_eq!(top_p_len(&probs, 1.0), 4);
}

#[test]
fn filter_min_p_threshold_relative_to_max() {
    let logits = logits_of(&[0.05, 0.5, 0.15, 0.3]);
    let kept = |min_p| {
        let s = Sampler::new(SamplerConfig {
            min_p,
            ..SamplerConfig::default()
        })
        .unwrap();
        let mut ids: Vec<u32> = s
            .filter(&logits)
            .unwrap()
            .into_iter()
            .map(|c| c.0)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(kept(0.0), vec![0, 1, 2, 3]);
    assert_eq!(kept(0.25), vec![1, 2, 3]); // threshold 0.125
    assert_eq!(kept(0.5), vec![1, 3]); // threshold 0.25
    assert_eq!(kept(0.7), vec![1]); // threshold 0.35
}

#[test]
fn filter_top_k_and_top_p_keep_most_likely() {
    let logits = logits_of(&[0.05, 0.5, 0.15, 0.3]);
    let kept = |top_k, top_p| {
        let s = Sampler::new(SamplerConfig {
            top_k,
            top_p,
            ..SamplerConfig::default()
        })
        .unwrap();
        let mut ids: Vec<u32> = s
            .filter(&logits)
            .unwrap()
            .into_iter()
            .map(|c| c.0)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(kept(3, 1.0), vec![1, 2, 3]);
    assert_eq!(kept(0, 0.75), vec![1, 3]);
    assert_eq!(kept(2, 0.5), vec![1]); // top_p on the top-2 renormalised: 0.625 >= 0.5
    assert_eq!(kept(1, 1.0), vec![1]);
}

#[test]
fn sample_default_config_matches_distribution() {
    let p = [0.5, 0.3, 0.2];
    let n = 100_000;
    let f = frequencies(
        SamplerConfig {
            seed: 1,
            ..SamplerConfig::default()
        },
        &logits_of(&p),
        n,
    );
    assert_close_to(&f, &p, n);
}

#[test]
fn sample_temperature_half_squares_probabilities() {
    let p = [0.5, 0.3, 0.2];
    let n = 100_000;
    let f = frequencies(
        SamplerConfig {
            temperature: 0.5,
            seed: 2,
            ..SamplerConfig::default()
        },
        &logits_of(&p),
        n,
    );
    let z = 0.25 + 0.09 + 0.04;
    assert_close_to(&f, &[0.25 / z, 0.09 / z, 0.04 / z], n);
}

#[test]
fn sample_top_k_two_renormalises_over_two() {
    let p = [0.1, 0.5, 0.3, 0.1];
    let n = 50_000;
    let f = frequencies(
        SamplerConfig {
            top_k: 2,
            seed: 3,
            ..SamplerConfig::default()
        },
        &logits_of(&p),
        n,
    );
    assert_close_to(&f, &[0.0, 0.625, 0.375, 0.0], n);
}

#[test]
fn sample_top_p_and_min_p_drop_tail() {
    let p = [0.05, 0.5, 0.15, 0.3];
    let n = 50_000;
    let top_p = frequencies(
        SamplerConfig {
            top_p: 0.75,
            seed: 4,
            ..SamplerConfig::default()
        },
        &logits_of(&p),
        n,
    );
    assert_close_to(&top_p, &[0.0, 0.625, 0.0, 0.375], n);
    let min_p = frequencies(
        SamplerConfig {
            min_p: 0.25,
            seed: 5,
            ..SamplerConfig::default()
        },
        &logits_of(&p),
        n,
    );
    assert_close_to(&min_p, &[0.0, 0.5 / 0.95, 0.15 / 0.95, 0.3 / 0.95], n);
}

#[test]
fn sample_same_seed_same_tokens() {
    let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
    let run = |seed| {
        let mut s = Sampler::new(SamplerConfig {
            seed,
            top_k: 20,
            top_p: 0.9,
            ..SamplerConfig::default()
        })
        .unwrap();
        (0..64)
            .map(|_| s.sample(&mut logits.clone(), &[]).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
}

#[test]
fn sample_masked_logits_never_drawn() {
    let logits = [f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY, 0.0];
    let f = frequencies(
        SamplerConfig {
            seed: 6,
            ..SamplerConfig::default()
        },
        &logits,
        10_000,
    );
    assert_eq!((f[0], f[2]), (0.0, 0.0));
    let mut s = Sampler::new(SamplerConfig::default()).unwrap();
    assert!(s.sample(&mut [f32::NEG_INFINITY; 2], &[]).is_err());
}

#[test]
fn config_out_of_range_is_invalid_config() {
    for bad in [
        SamplerConfig {
            temperature: -1.0,
            ..SamplerConfig::default()
        },
        SamplerConfig {
            top_p: 0.0,
            ..SamplerConfig::default()
        },
        SamplerConfig {
            min_p: 1.5,
            ..SamplerConfig::default()
        },
        SamplerConfig {
            repetition_penalty: 0.0,
            ..SamplerConfig::default()
        },
        SamplerConfig {
            presence_penalty: f32::NAN,
            ..SamplerConfig::default()
        },
    ] {
        assert!(matches!(
            Sampler::new(bad),
            Err(Error::InvalidConfig { .. })
        ));
    }
}

#[test]
fn stop_string_split_across_tokens_is_held_then_cut() {
    let mut c = StopChecker::new(vec!["</s>".into()], vec![], None);
    assert_eq!(c.push(5, "Hello <").text, "Hello ");
    assert_eq!(c.push(6, "/").text, "");
    let last = c.push(7, "s> more");
    assert_eq!(
        last,
        StopStep {
            text: String::new(),
            stop: Some(StopReason::StopString("</s>".into()))
        }
    );
    assert_eq!(
        c.push(8, "x").stop,
        Some(StopReason::StopString("</s>".into()))
    );
}

#[test]
fn stop_partial_match_that_breaks_is_released() {
    let mut c = StopChecker::new(vec!["abc".into(), "".into()], vec![], None);
    assert_eq!(c.push(1, "xab").text, "x");
    assert_eq!(c.push(2, "d").text, "abd");
    assert_eq!(c.push(3, "é a").text, "é ");
    assert_eq!(c.finish(), "a");
}

#[test]
fn stop_earliest_of_several_strings_wins() {
    let mut c = StopChecker::new(vec!["world".into(), "lo".into()], vec![], None);
    let step = c.push(1, "hello world");
    assert_eq!(
        step,
        StopStep {
            text: "hel".into(),
            stop: Some(StopReason::StopString("lo".into()))
        }
    );
}

#[test]
fn stop_eos_flushes_held_text_without_eos_text() {
    let mut c = StopChecker::new(vec!["\n\nUser:".into()], vec![2], Some(10));
    assert_eq!(c.push(1, "done\n").text, "done");
    assert_eq!(
        c.push(2, "<|im_end|>"),
        StopStep {
            text: "\n".into(),
            stop: Some(StopReason::Eos(2))
        }
    );
}

#[test]
fn stop_max_tokens_reached_stops_with_all_text() {
    let mut c = StopChecker::new(vec!["ab".into()], vec![], Some(2));
    assert_eq!(c.push(1, "x").stop, None);
    assert_eq!(
        c.push(1, "a"),
        StopStep {
            text: "a".into(),
            stop: Some(StopReason::MaxTokens)
        }
    );
    assert_eq!(c.n_tokens(), 2);
}

/// Found by the sampler fuzz target: a +inf logit made every candidate NaN under min-p
/// and the draw indexed an empty list. +inf logits now share all the mass equally.
#[test]
fn sample_infinite_logits_share_all_the_mass() {
    let logits = [
        1.0,
        f32::INFINITY,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    let config = SamplerConfig {
        min_p: 0.05,
        top_p: 0.9,
        ..SamplerConfig::default()
    };
    let n = 4000;
    let f = frequencies(config, &logits, n);
    assert_close_to(&f, &[0.0, 0.5, 0.0, 0.5, 0.0], n);
}

/// Logits near f32::MAX divided by a small temperature overflowed f32; the softmax now
/// divides in f64.
#[test]
fn sample_huge_logits_at_low_temperature_stay_finite() {
    let logits = [3e38, -3e38, 2.9e38];
    let config = SamplerConfig {
        temperature: 1e-3,
        ..SamplerConfig::default()
    };
    assert_eq!(frequencies(config, &logits, 200), [1.0, 0.0, 0.0]);
}
