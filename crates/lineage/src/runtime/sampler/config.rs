//! `SamplerConfig`: one validated description of how the next token is chosen.

use crate::{Error, Result};

/// Sampling settings; the defaults sample the model's distribution unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerConfig {
    /// Softmax temperature; 0 picks the argmax (greedy, ties to the lowest id).
    pub temperature: f32,
    /// Keep only the k most likely tokens; 0 = off.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose mass reaches p; 1 = off.
    pub top_p: f32,
    /// Drop tokens with probability below min_p times the top token's; 0 = off.
    pub min_p: f32,
    /// Divide positive / multiply negative logits of tokens already seen; 1 = off.
    pub repetition_penalty: f32,
    /// Subtracted once from the logit of every token already seen (OpenAI); 0 = off.
    pub presence_penalty: f32,
    /// Subtracted per occurrence of a token already seen (OpenAI); 0 = off.
    pub frequency_penalty: f32,
    /// Penalties look at only the last n ids of the history; `None` = all of it.
    pub penalty_last_n: Option<usize>,
    /// Seed of the random stream.
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            penalty_last_n: None,
            seed: 0,
        }
    }
}

impl SamplerConfig {
    /// Argmax decoding.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }

    /// Checks every field's range; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, key: &str, msg: &str| {
            if ok {
                Ok(())
            } else {
                Err(Error::invalid(key, msg.to_string()))
            }
        };
        check(
            self.temperature.is_finite() && self.temperature >= 0.0,
            "temperature",
            "must be finite and >= 0",
        )?;
        check(
            self.top_p > 0.0 && self.top_p <= 1.0,
            "top_p",
            "must be in (0, 1]",
        )?;
        check(
            (0.0..=1.0).contains(&self.min_p),
            "min_p",
            "must be in [0, 1]",
        )?;
        check(
            self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0,
            "repetition_penalty",
            "must be finite and > 0",
        )?;
        check(
            self.presence_penalty.is_finite(),
            "presence_penalty",
            "must be finite",
        )?;
        check(
            self.frequency_penalty.is_finite(),
            "frequency_penalty",
            "must be finite",
        )
    }
}
