//! Which layers slide: llama.cpp's `load_swa_pattern`. The file may list one flag per
//! layer (`attention.sliding_window_pattern` as a bool array) or a period (a number);
//! without it each architecture has its own hard-coded period.

use super::keys::Hp;
use crate::config::{ModelConfig, Position, Rope, RopeScaling};
use crate::weights::gguf::MetaValue;
use crate::Result;

/// One flag per layer: does it use the sliding window?
pub(super) fn pattern(hp: &Hp, n_layers: usize, default_period: usize) -> Result<Vec<bool>> {
    let key = "attention.sliding_window_pattern";
    let period = match hp.raw(key) {
        None => default_period,
        Some(MetaValue::Array(values)) => {
            let flags: Option<Vec<bool>> = values
                .iter()
                .map(|v| match v {
                    MetaValue::Bool(b) => Some(b),
                    _ => None,
                })
                .collect();
            return match flags {
                Some(f) if f.len() == n_layers => Ok(f),
                _ => Err(hp.unsupported(
                    key,
                    format!("an array that is not {n_layers} booleans (one per layer)"),
                )),
            };
        }
        Some(_) => hp.usize(key)?,
    };
    Ok((0..n_layers).map(|i| is_swa(i, period)).collect())
}

/// llama.cpp `set_swa_pattern(period)`: layer `i` slides iff `i % period < period - 1`
/// (the last layer of each period is global); period 0 means every layer slides, 1 none.
fn is_swa(i: usize, period: usize) -> bool {
    period == 0 || i % period < period - 1
}

/// Sets the window (and the local RoPE, if any) on the sliding layers.
pub(super) fn apply_pattern(
    c: &mut ModelConfig,
    sliding: &[bool],
    window: usize,
    local: Option<Rope>,
) {
    for (l, &s) in c.layers.iter_mut().zip(sliding) {
        l.window = s.then_some(window);
        l.rope = if s { local.clone() } else { None };
    }
}

/// The RoPE of the sliding layers, `None` when it is the global one. llama.cpp gives them
/// the base `rope.freq_base_swa` (default: `default_theta`, else the global base) and
/// either the global scaling (`keep_scaling`: Gemma 2, gpt-oss) or none (Gemma 3, OLMo 2).
pub(super) fn local_rope(
    hp: &Hp,
    c: &ModelConfig,
    default_theta: Option<f64>,
    keep_scaling: bool,
) -> Result<Option<Rope>> {
    let Position::Rope(global) = &c.position else {
        unreachable!("set in base")
    };
    let theta = hp.opt_f64("rope.freq_base_swa")?;
    let local = Rope {
        theta: theta.or(default_theta).unwrap_or(global.theta),
        scaling: if keep_scaling {
            global.scaling.clone()
        } else {
            RopeScaling::None
        },
        ..global.clone()
    };
    Ok((local != *global).then_some(local))
}
