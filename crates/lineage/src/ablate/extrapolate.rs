//! Length extrapolation: validation loss against evaluation length L for models trained
//! at `train_len`, per position method, with RoPE's context-extension scalings applied at
//! inference only (no fine-tuning), as `transformers/modeling_rope_utils.py` defines them:
//!
//! - `learned`: GPT-2's table of `context_len` rows (1024 in the study), trained at
//!   `train_len`. Rows past the trained length never received a gradient and hold their
//!   initialisation: evaluating there is what running a learned-position model past its
//!   training length means, so those points are the claim's "extrapolates poorly".
//!   Lengths beyond the table cannot be evaluated at all.
//! - `rope`: as trained (no scaling).
//! - `rope+linear`: position interpolation (Chen et al. 2023), `factor = L / train_len`.
//! - `rope+ntk`: HF `dynamic` NTK with `factor = L / train_len`, `original_max =
//!   train_len`. At the evaluated length HF's rule scales the base by
//!   `(factor * L / train_len - (factor - 1))^(d / (d - 2))`, i.e. by
//!   `(f^2 - f + 1)^(d/(d-2))` for `f = L / train_len`: the way the factor is set for a
//!   target length in HF configs.
//! - `rope+yarn`: YaRN (Peng et al. 2023), `factor = L / train_len`, `original_max =
//!   train_len`, `beta_fast 32`, `beta_slow 1`, `attention_factor = 0.1 ln(factor) + 1`,
//!   truncated correction range.
//! - `alibi` (Press et al. 2021) and `none` (no positions) as trained.
//!
//! The factor is `max(L / train_len, 1)`: at and below the trained length every scaled
//! method is plain RoPE. RoPE, ALiBi and no-position models hold no length-sized
//! parameter, so their `context_len` is raised to L where L exceeds it.

use std::path::Path;

use super::results::{ExtrapolationCurve, Stat};
use super::stats::stat;
use super::trained::{by_variant, mean, val_windows, window_losses, TrainedRun};
use crate::config::{ModelConfig, Position, Rope, RopeScaling};
use crate::model::Model;
use crate::weights::Weights;
use crate::{Error, Result};

/// A position method evaluated at inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Learned,
    Rope,
    RopeLinear,
    RopeNtk,
    RopeYarn,
    Alibi,
    NoPosition,
}

impl Method {
    /// The name in [`ExtrapolationCurve::method`].
    pub fn name(self) -> &'static str {
        match self {
            Self::Learned => "learned",
            Self::Rope => "rope",
            Self::RopeLinear => "rope+linear",
            Self::RopeNtk => "rope+ntk",
            Self::RopeYarn => "rope+yarn",
            Self::Alibi => "alibi",
            Self::NoPosition => "none",
        }
    }

    /// The methods a model trained with `position` is evaluated with.
    pub fn for_position(position: &Position) -> Vec<Method> {
        match position {
            Position::Learned => vec![Self::Learned],
            Position::Rope(_) => vec![Self::Rope, Self::RopeLinear, Self::RopeNtk, Self::RopeYarn],
            Position::Alibi => vec![Self::Alibi],
            Position::None => vec![Self::NoPosition],
        }
    }

    /// Whether the method is evaluated at length `len` of a model of context `context_len`.
    fn covers(self, len: usize, context_len: usize) -> bool {
        match self {
            Self::Learned => len <= context_len,
            _ => true,
        }
    }
}

/// The config that evaluates `cfg` (trained at `train_len`) with `method` at length `len`.
pub fn config_for(
    cfg: &ModelConfig,
    method: Method,
    train_len: usize,
    len: usize,
) -> Result<ModelConfig> {
    let mut c = cfg.clone();
    let factor = (len as f64 / train_len.max(1) as f64).max(1.0);
    let scaling = match method {
        Method::Learned => {
            if len > cfg.context_len {
                return Err(Error::invalid(
                    "context_len",
                    format!(
                        "learned positions hold {} rows, fewer than length {len}",
                        cfg.context_len
                    ),
                ));
            }
            return Ok(c);
        }
        Method::Alibi | Method::NoPosition | Method::Rope => None,
        Method::RopeLinear => Some(RopeScaling::Linear { factor }),
        Method::RopeNtk => Some(RopeScaling::DynamicNtk {
            factor,
            original_max: train_len,
        }),
        Method::RopeYarn => Some(RopeScaling::Yarn {
            factor,
            original_max: train_len,
            beta_fast: 32.0,
            beta_slow: 1.0,
            attention_factor: 0.1 * factor.ln() + 1.0,
            truncate: true,
        }),
    };
    if let Some(s) = scaling {
        let set = |r: &mut Rope| r.scaling = s.clone();
        match &mut c.position {
            Position::Rope(r) => set(r),
            other => {
                return Err(Error::invalid(
                    "position",
                    format!(
                        "method {} needs a RoPE model, this one has {other:?}",
                        method.name()
                    ),
                ))
            }
        }
        c.layers
            .iter_mut()
            .filter_map(|l| l.rope.as_mut())
            .for_each(set);
    }
    c.context_len = c.context_len.max(len);
    Ok(c)
}

/// Extrapolation curves of every variant in `runs` (seeds of a variant aggregated into
/// one [`Stat`] per length, over the per-seed mean losses) on up to `max_windows`
/// validation windows of `L + 1` tokens of `data_dir` for each L in `lengths`. A length
/// the validation file holds no full window of is left out of the curve; longer lengths
/// use fewer windows (as many as the file holds, up to `max_windows`).
pub fn curves(
    runs: &[TrainedRun],
    data_dir: &Path,
    train_len: usize,
    lengths: &[usize],
    max_windows: usize,
) -> Result<Vec<ExtrapolationCurve>> {
    let windows: Vec<(usize, Vec<Vec<u32>>)> = lengths
        .iter()
        .map(|&l| Ok((l, val_windows(data_dir, l, max_windows)?)))
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    for (variant, group) in by_variant(runs) {
        let models = open_group(&group)?;
        let cfg = &models[0].0;
        for method in Method::for_position(&cfg.position) {
            let mut points = Vec::new();
            for (len, ws) in &windows {
                if ws.is_empty() || !method.covers(*len, cfg.context_len) {
                    continue;
                }
                points.push((*len, point(&models, method, train_len, *len, ws)?));
            }
            out.push(ExtrapolationCurve {
                variant: variant.to_string(),
                method: method.name().to_string(),
                points,
            });
        }
    }
    Ok(out)
}

/// Config and weights of every seed of one variant, checked to share one architecture.
fn open_group(group: &[&TrainedRun]) -> Result<Vec<(ModelConfig, Weights)>> {
    let models: Vec<(ModelConfig, Weights)> = group
        .iter()
        .map(|r| r.open().map(|m| (m.cfg, m.weights)))
        .collect::<Result<_>>()?;
    if let Some(r) = models
        .iter()
        .zip(group)
        .find(|((c, _), _)| *c != models[0].0)
    {
        return Err(Error::bad_file(
            &r.1.dir,
            format!(
                "holds another model than the first run of variant `{}`",
                r.1.variant
            ),
        ));
    }
    Ok(models)
}

/// Loss over seeds at one length: each seed's mean over the windows, then [`stat`].
fn point(
    models: &[(ModelConfig, Weights)],
    method: Method,
    train_len: usize,
    len: usize,
    windows: &[Vec<u32>],
) -> Result<Stat> {
    let per_seed = models
        .iter()
        .map(|(cfg, w)| {
            let model = Model::new(&config_for(cfg, method, train_len, len)?, w)?;
            Ok(mean(&window_losses(&model, windows)?))
        })
        .collect::<Result<Vec<f64>>>()?;
    Ok(stat(&per_seed))
}
