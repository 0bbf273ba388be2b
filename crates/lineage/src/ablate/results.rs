//! The study's results as data: what the grid measured (per run, per variant) and what
//! the post-hoc measurements found. `report.json` is this, serialised; the report and
//! the claims' verdicts are computed from it alone. Non-finite values are written as
//! `null` and read back as NaN (`nan_json`).

use serde::{Deserialize, Serialize};

use super::nan_json;

/// One training run of one variant with one seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub seed: u64,
    /// Run folder relative to the study folder (`runs/<variant>-s<seed>-<hash>`).
    pub dir: String,
    /// Final validation cross-entropy, nats/token (NaN when diverged).
    #[serde(deserialize_with = "nan_json::f64")]
    pub val_loss: f64,
    /// Final validation bits per byte.
    pub val_bpb: Option<f64>,
    #[serde(deserialize_with = "nan_json::f64")]
    pub tok_s: f64,
    #[serde(deserialize_with = "nan_json::f64")]
    pub wall_s: f64,
    pub peak_rss_mib: Option<f64>,
    /// The run stopped on a non-finite loss or gradient.
    pub diverged: bool,
    /// `(tokens, val_loss)` at every evaluation.
    #[serde(deserialize_with = "nan_json::curve")]
    pub val_curve: Vec<(f64, f64)>,
    /// `(tokens, train_loss)` at every step.
    #[serde(deserialize_with = "nan_json::curve")]
    pub train_curve: Vec<(f64, f64)>,
    /// Variance of the pre-clip gradient norm over the second half of training.
    #[serde(deserialize_with = "nan_json::f64")]
    pub grad_norm_var: f64,
    /// Steps until the validation loss first fell below the study's loss target
    /// (see `Study::target_loss`); None if it never did.
    pub steps_to_target: Option<u64>,
}

/// One variant of the ladder and its runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VariantResult {
    pub name: String,
    /// Section of the study (`ladder`, `norm_placement`, `moe`, `attention`, `recall`).
    pub section: String,
    pub description: String,
    /// The `--set` edits of the base model this variant trains.
    pub edits: Vec<String>,
    /// Training overrides (`lr=...`, `warmup=...`) on top of the study's settings.
    pub overrides: Vec<String>,
    pub params_total: u64,
    pub params_active: u64,
    pub params_non_embedding: u64,
    pub params_active_non_embedding: u64,
    /// f32 cache bytes one token adds over all layers (inspect's accounting).
    pub kv_bytes_per_token: u64,
    pub runs: Vec<RunResult>,
    /// Over the seeds that did not diverge.
    pub val_loss: Stat,
    pub val_bpb: Option<Stat>,
    pub tok_s: Stat,
    pub grad_norm_var: Stat,
    pub diverged_runs: usize,
}

/// Mean with a two-sided 95% Student-t interval over n samples.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Stat {
    pub n: usize,
    #[serde(deserialize_with = "nan_json::f64")]
    pub mean: f64,
    #[serde(deserialize_with = "nan_json::f64")]
    pub std: f64,
    /// Half-width of the 95% interval (NaN for n < 2).
    #[serde(deserialize_with = "nan_json::f64")]
    pub ci95: f64,
}

/// Perplexity against evaluation length for one trained variant and position method.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtrapolationCurve {
    pub variant: String,
    /// `learned`, `rope`, `rope+linear`, `rope+ntk`, `rope+yarn`, `alibi`.
    pub method: String,
    /// `(eval length, val loss stat over seeds)`.
    pub points: Vec<(usize, Stat)>,
}

/// Decode speed and cache size of one attention variant at a long context.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecodeResult {
    pub variant: String,
    pub attention: String,
    pub context: usize,
    pub kv_bytes_per_token: u64,
    #[serde(deserialize_with = "nan_json::f64")]
    pub decode_tok_s: f64,
    /// Which forward ran: `engine` (the fast dense path) or `model` (the candle model,
    /// for configs outside the engine's scope such as MLA).
    #[serde(default)]
    pub path: String,
}

/// Time of one norm over a `[rows, d_model]` activation, forward only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NormTiming {
    pub norm: String,
    pub rows: usize,
    pub d_model: usize,
    #[serde(deserialize_with = "nan_json::f64")]
    pub microseconds: f64,
    /// Every repeat's time, microseconds (empty: only `microseconds` is known). The
    /// claims' interval for the speed ratio comes from these.
    #[serde(default, deserialize_with = "nan_json::vec")]
    pub samples_us: Vec<f64>,
}

/// Validation loss after quantizing a trained model's matrices.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuantResult {
    pub variant: String,
    /// `f32`, `q8_0`, `q4_0`, `q4_k`, `mxfp4`.
    pub format: String,
    #[serde(deserialize_with = "nan_json::f64")]
    pub bits_per_weight: f64,
    pub val_loss: Stat,
    /// Relative change of the loss against f32, in percent.
    #[serde(deserialize_with = "nan_json::f64")]
    pub delta_pct: f64,
    /// `(seed, val loss)` per trained model (empty: only the summary is known). With the
    /// f32 row's, these give a paired interval of the change.
    #[serde(default, deserialize_with = "nan_json::seeded")]
    pub seed_losses: Vec<(u64, f64)>,
}

/// Expert load of one MoE variant: per layer, the fraction of routed slots per expert.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExpertLoad {
    pub variant: String,
    pub seed: u64,
    #[serde(deserialize_with = "nan_json::rows")]
    pub per_layer: Vec<Vec<f64>>,
    /// Standard deviation of the fractions over experts, averaged over layers.
    #[serde(deserialize_with = "nan_json::f64")]
    pub load_std: f64,
}

/// One commonly stated claim and what the study says about it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimResult {
    pub id: String,
    pub quote: String,
    /// `holds at this scale`, `does not hold`, `inconclusive: the intervals overlap`.
    pub verdict: String,
    /// The measured numbers behind the verdict, in words with their values.
    pub evidence: Vec<String>,
}

/// Everything the study measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyResults {
    /// The exact command line.
    pub command: String,
    pub machine: String,
    pub date: String,
    #[serde(deserialize_with = "nan_json::f64")]
    pub wall_s: f64,
    /// Budget in words: model size, tokens per run, seeds.
    pub budget: String,
    pub seeds: usize,
    pub tokens_per_run: u64,
    pub variants: Vec<VariantResult>,
    pub extrapolation: Vec<ExtrapolationCurve>,
    pub decode: Vec<DecodeResult>,
    pub norm_timing: Vec<NormTiming>,
    pub quantization: Vec<QuantResult>,
    pub expert_load: Vec<ExpertLoad>,
    pub claims: Vec<ClaimResult>,
}
