//! Training settings: one struct read from a TOML file, overridden by flags, and checked
//! in one step ([`TrainSettings::validate`] reports every bad setting at once).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Learning-rate schedule after the linear warmup.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// Cosine from `lr` down to `min_lr` (Loshchilov & Hutter 2017).
    Cosine,
    /// Linear from `lr` down to `min_lr`.
    Linear,
    /// Warmup-stable-decay: `lr` until the last `decay_fraction` of steps, then linear
    /// down to `min_lr` (Hu et al. 2024, MiniCPM).
    Wsd,
    /// `lr` throughout.
    Constant,
}

/// How weights are drawn at step 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitScheme {
    /// N(0, init_std) matrices and embeddings, residual output projections scaled by
    /// 1/sqrt(2 n_layers) (GPT-2 paper, section 2.3); norms 1, biases 0.
    Gpt2,
    /// N(0, init_std) everywhere, no residual scaling.
    Normal,
}

/// Numeric type of the parameters, gradients and optimizer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainDtype {
    F32,
    /// For checks against an f64 oracle.
    F64,
}

/// Every training setting. Field names are the TOML keys and the `--flag` names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSettings {
    /// Model: a recipe (`gpt2-tiny`), a preset, or a config.json path.
    pub model: String,
    /// `key=value` edits of the model config (the same edits as `inspect --set`).
    pub set: Vec<String>,
    /// A prepared data folder (`lineage data prepare`), or `default`.
    pub data: String,
    pub seq_len: usize,
    /// Sequences per micro-batch.
    pub batch: usize,
    /// Micro-batches per optimizer step.
    pub grad_accum: usize,
    /// Shards each micro-batch's rows are split into, run in parallel (data parallelism
    /// across cores); 0 = auto ([`TrainSettings::resolved_shards`]). The split is part
    /// of the arithmetic (the order gradients are summed in), so it comes from the
    /// settings, never from the thread count: a run gives the same bits on any machine.
    pub shards: usize,
    /// Optimizer steps in total; 0 = derive from `tokens`.
    pub steps: u64,
    /// Token budget (used when `steps` is 0).
    pub tokens: u64,
    pub lr: f64,
    pub min_lr: f64,
    pub warmup: u64,
    pub schedule: ScheduleKind,
    /// WSD: fraction of the steps spent decaying.
    pub decay_fraction: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay on matrices (not on norms, biases or embeddings).
    pub weight_decay: f64,
    /// Clip the global gradient norm to this; 0 = no clipping.
    pub grad_clip: f64,
    /// Overrides the model config's dropout when set.
    pub dropout: Option<f64>,
    /// Coefficient of the MoE load-balancing loss.
    pub balance_coef: f64,
    /// Coefficient of the router z-loss.
    pub z_coef: f64,
    pub init: InitScheme,
    pub init_std: f64,
    pub seed: u64,
    /// Evaluate every N steps (and at the end); 0 = only at the end.
    pub eval_every: u64,
    /// Validation windows (of `seq_len + 1` tokens) per evaluation.
    pub eval_windows: usize,
    /// Checkpoint every N steps (and at the end); 0 = only at the end.
    pub checkpoint_every: u64,
    pub dtype: TrainDtype,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            model: "llama-tiny".into(),
            set: Vec::new(),
            data: "default".into(),
            seq_len: 128,
            batch: 8,
            grad_accum: 1,
            shards: 0,
            steps: 0,
            tokens: 0,
            lr: 3e-3,
            min_lr: 3e-4,
            warmup: 50,
            schedule: ScheduleKind::Cosine,
            decay_fraction: 0.2,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
            grad_clip: 1.0,
            dropout: None,
            balance_coef: 0.01,
            z_coef: 0.001,
            init: InitScheme::Gpt2,
            init_std: 0.02,
            seed: 0,
            eval_every: 100,
            eval_windows: 64,
            checkpoint_every: 0,
            dtype: TrainDtype::F32,
        }
    }
}

impl TrainSettings {
    /// Reads a TOML file; unknown keys are errors naming the key.
    pub fn from_toml(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| super::run_files::io(path, e))?;
        Self::from_toml_str(&text).map_err(|e| Error::bad_file(path, e.to_string()))
    }

    pub fn from_toml_str(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::BadInput(format!("training settings: {e}")))
    }

    /// Tokens one optimizer step consumes.
    pub fn tokens_per_step(&self) -> u64 {
        (self.batch * self.seq_len * self.grad_accum) as u64
    }

    /// The shard count a step uses: `shards` when given; else 2 for an even batch, so a
    /// two-core machine runs both halves at once (one thread each: the serial parts of
    /// the step, candle's graph walk and gradient adds, then overlap too), and 1 for an
    /// odd batch or a MoE model with a balance loss, whose loss is not a sum over tokens
    /// (sharded, it would be taken per shard, as it is per micro-batch).
    pub fn resolved_shards(&self, moe: bool) -> usize {
        match self.shards {
            0 if self.batch.is_multiple_of(2) && !(moe && self.balance_coef > 0.0) => 2,
            0 => 1,
            n => n,
        }
    }

    /// Total optimizer steps: `steps`, or the token budget rounded up to whole steps.
    pub fn total_steps(&self) -> u64 {
        if self.steps > 0 {
            self.steps
        } else {
            self.tokens.div_ceil(self.tokens_per_step().max(1))
        }
    }

    /// Checks every setting; the error lists all problems, one per line.
    pub fn validate(&self) -> Result<()> {
        let mut bad = Vec::new();
        let mut check = |ok: bool, msg: &str| {
            if !ok {
                bad.push(msg.to_string());
            }
        };
        check(self.seq_len >= 1, "seq_len must be at least 1");
        check(self.batch >= 1, "batch must be at least 1");
        check(self.grad_accum >= 1, "grad_accum must be at least 1");
        check(
            self.shards == 0
                || (self.shards <= self.batch && self.batch.is_multiple_of(self.shards)),
            "shards must divide batch (0 = auto)",
        );
        check(
            self.steps > 0 || self.tokens > 0,
            "give a budget: steps > 0 or tokens > 0",
        );
        check(self.total_steps() <= 1 << 40, "steps: absurdly many steps");
        check(finite_pos(self.lr), "lr must be a positive number");
        check(
            self.min_lr.is_finite() && self.min_lr >= 0.0 && self.min_lr <= self.lr,
            "min_lr must be in [0, lr]",
        );
        check(
            (0.0..1.0).contains(&self.beta1) && (0.0..1.0).contains(&self.beta2),
            "beta1 and beta2 must be in [0, 1)",
        );
        check(finite_pos(self.eps), "eps must be a positive number");
        check(nonneg(self.weight_decay), "weight_decay must be >= 0");
        check(nonneg(self.grad_clip), "grad_clip must be >= 0 (0 = off)");
        check(
            self.dropout.is_none_or(|p| (0.0..1.0).contains(&p)),
            "dropout must be in [0, 1)",
        );
        check(
            nonneg(self.balance_coef) && nonneg(self.z_coef),
            "balance_coef and z_coef must be >= 0",
        );
        check(
            finite_pos(self.init_std),
            "init_std must be a positive number",
        );
        check(
            (0.0..=1.0).contains(&self.decay_fraction),
            "decay_fraction must be in [0, 1]",
        );
        check(self.eval_windows >= 1, "eval_windows must be at least 1");
        if bad.is_empty() {
            Ok(())
        } else {
            Err(Error::BadInput(format!(
                "invalid training settings:\n  - {}",
                bad.join("\n  - ")
            )))
        }
    }
}

fn finite_pos(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn nonneg(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

#[cfg(test)]
mod tests {
    use super::TrainSettings;

    #[test]
    fn shards_default_to_two_halves_where_the_loss_is_a_sum_over_tokens() {
        let s = |batch, shards, balance_coef| TrainSettings {
            batch,
            shards,
            balance_coef,
            steps: 1,
            ..Default::default()
        };
        assert_eq!(s(8, 0, 0.01).resolved_shards(false), 2);
        assert_eq!(s(7, 0, 0.01).resolved_shards(false), 1);
        assert_eq!(s(8, 0, 0.01).resolved_shards(true), 1); // MoE balance loss
        assert_eq!(s(8, 0, 0.0).resolved_shards(true), 2);
        assert_eq!(s(8, 4, 0.01).resolved_shards(true), 4);
        assert!(s(8, 4, 0.0).validate().is_ok());
        for bad in [3, 16] {
            let err = s(8, bad, 0.0).validate().unwrap_err().to_string();
            assert!(err.contains("shards must divide batch"), "{err}");
        }
    }
}
