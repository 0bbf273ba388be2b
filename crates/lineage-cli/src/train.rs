//! `lineage train`: trains a model from scratch (or resumes a run) with a progress bar,
//! JSONL metrics, checkpoints, a live loss plot and a final summary.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lineage::train::data_source::DataSource;
use lineage::train::metrics::Metrics;
use lineage::train::run::{self, Observer, Summary};
use lineage::train::settings::{InitScheme, ScheduleKind, TrainDtype};
use lineage::train::{recipes, TrainSettings, Trainer};

#[derive(Args)]
pub struct TrainArgs {
    /// Settings file (TOML, keys as the flags with underscores); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A recipe (gpt2-tiny, llama-tiny, mixtral-tiny), an inspect preset, or a config.json.
    #[arg(long)]
    pub model: Option<String>,
    /// Model edits, as `inspect --set` (repeatable): n_layers=4, d_model=128, ...
    #[arg(long = "set")]
    pub set: Vec<String>,
    /// A data folder (`lineage data prepare`) or `default` (the fetched Python docs).
    #[arg(long)]
    pub data: Option<String>,
    #[arg(long)]
    pub steps: Option<u64>,
    /// Token budget (when --steps is not given).
    #[arg(long)]
    pub tokens: Option<u64>,
    #[arg(long)]
    pub batch: Option<usize>,
    #[arg(long)]
    pub seq_len: Option<usize>,
    #[arg(long)]
    pub grad_accum: Option<usize>,
    /// Shards of each micro-batch run in parallel, one per core (0 = auto: 2 for an even
    /// batch). Part of the arithmetic, so results do not depend on the thread count.
    #[arg(long)]
    pub shards: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub min_lr: Option<f64>,
    #[arg(long)]
    pub warmup: Option<u64>,
    /// cosine, linear, wsd or constant.
    #[arg(long)]
    pub schedule: Option<String>,
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Global gradient-norm clip; 0 = off.
    #[arg(long)]
    pub grad_clip: Option<f64>,
    #[arg(long)]
    pub dropout: Option<f64>,
    #[arg(long)]
    pub balance_coef: Option<f64>,
    #[arg(long)]
    pub z_coef: Option<f64>,
    /// gpt2 (scaled residual init) or normal.
    #[arg(long)]
    pub init: Option<String>,
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub eval_every: Option<u64>,
    #[arg(long)]
    pub eval_windows: Option<usize>,
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// f32 (default) or f64.
    #[arg(long)]
    pub dtype: Option<String>,
    /// Output run folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in this folder from its newest checkpoint (up to --steps total).
    #[arg(long, conflicts_with_all = ["config", "model", "out"])]
    pub resume: Option<PathBuf>,
    /// No progress bar (metrics still go to RUN/metrics.jsonl).
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(a: TrainArgs) -> anyhow::Result<()> {
    single_threaded_elementwise();
    let (dir, mut trainer, data) = match &a.resume {
        Some(run_dir) => resume(run_dir, &a)?,
        None => start(&a)?,
    };
    let mut obs = Progress::new(a.quiet);
    let summary = run::train(&dir, &mut trainer, &data, &mut obs);
    obs.finish();
    let summary = summary.with_context(|| format!("training {}", dir.display()))?;
    crate::plot::loss_png(&dir, &dir.join("loss.png"))?;
    print_summary(&dir, &trainer, &summary);
    Ok(())
}

fn start(a: &TrainArgs) -> anyhow::Result<(PathBuf, Trainer, DataSource)> {
    let mut s = match &a.config {
        Some(p) => TrainSettings::from_toml(p)?,
        None => TrainSettings::default(),
    };
    apply_flags(&mut s, a)?;
    s.validate()?;
    let out = a
        .out
        .clone()
        .context("--out RUN is required (the run folder to write)")?;
    let data = DataSource::open(&s.data, s.seq_len, s.batch, s.grad_accum, s.seed)?;
    let mut cfg = recipes::resolve(
        &s.model,
        &s.set,
        Some(lineage::train::TokenSource::vocab_size(&data)),
    )?;
    if let Some(p) = s.dropout {
        cfg.dropout = p;
    }
    if s.seq_len > cfg.context_len {
        anyhow::bail!(
            "--seq-len {} exceeds the model's context of {} tokens; shorten it or add --set context_len={}",
            s.seq_len,
            cfg.context_len,
            s.seq_len
        );
    }
    let trainer = run::start(&out, cfg, s)?;
    record_data(&out, &data)?;
    Ok((out, trainer, data))
}

fn resume(dir: &Path, a: &TrainArgs) -> anyhow::Result<(PathBuf, Trainer, DataSource)> {
    let trainer = run::resume(dir, a.steps)?;
    let s = &trainer.settings;
    let data = DataSource::open(&s.data, s.seq_len, s.batch, s.grad_accum, s.seed)?;
    Ok((dir.to_path_buf(), trainer, data))
}

/// RUN/tokenizer.json (for export and text use) and RUN/data.json (baseline, bytes).
fn record_data(out: &Path, data: &DataSource) -> anyhow::Result<()> {
    use lineage::train::TokenSource;
    if let Some(tok) = data.tokenizer_path() {
        std::fs::copy(&tok, out.join("tokenizer.json"))
            .with_context(|| format!("copying {}", tok.display()))?;
    }
    let info = serde_json::json!({
        "data": data.dataset.dir,
        "vocab_size": data.vocab_size(),
        "train_tokens": data.dataset.meta.train_tokens,
        "val_tokens": data.dataset.meta.val_tokens,
        "val_bytes_per_token": data.val_bytes_per_token(),
        "unigram_val_loss": data.unigram_loss(),
    });
    std::fs::write(out.join("data.json"), serde_json::to_vec_pretty(&info)?)?;
    Ok(())
}

macro_rules! set_opt {
    ($s:ident, $a:ident, $($f:ident),*) => { $( if let Some(v) = $a.$f.clone() { $s.$f = v; } )* };
}

fn apply_flags(s: &mut TrainSettings, a: &TrainArgs) -> anyhow::Result<()> {
    set_opt!(s, a, model, data, steps, tokens, batch, seq_len, grad_accum, shards, lr, min_lr);
    set_opt!(s, a, warmup);
    set_opt!(
        s,
        a,
        weight_decay,
        grad_clip,
        balance_coef,
        z_coef,
        seed,
        eval_every,
        eval_windows
    );
    set_opt!(s, a, checkpoint_every);
    s.set.extend(a.set.iter().cloned());
    if a.dropout.is_some() {
        s.dropout = a.dropout;
    }
    if let Some(k) = &a.schedule {
        s.schedule = match k.as_str() {
            "cosine" => ScheduleKind::Cosine,
            "linear" => ScheduleKind::Linear,
            "wsd" => ScheduleKind::Wsd,
            "constant" => ScheduleKind::Constant,
            _ => anyhow::bail!("--schedule {k}: expected cosine, linear, wsd or constant"),
        };
    }
    if let Some(k) = &a.init {
        s.init = match k.as_str() {
            "gpt2" => InitScheme::Gpt2,
            "normal" => InitScheme::Normal,
            _ => anyhow::bail!("--init {k}: expected gpt2 or normal"),
        };
    }
    if let Some(k) = &a.dtype {
        s.dtype = match k.as_str() {
            "f32" => TrainDtype::F32,
            "f64" => TrainDtype::F64,
            _ => anyhow::bail!("--dtype {k}: expected f32 or f64"),
        };
    }
    if s.steps > 0 && a.tokens.is_some() && a.steps.is_none() {
        s.steps = 0; // a --tokens flag overrides a file's steps
    }
    Ok(())
}

/// indicatif bar with loss, tok/s and ETA; redraws RUN/loss.png at each evaluation.
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        Self {
            bar: (!quiet).then(ProgressBar::hidden),
        }
    }
    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish();
        }
    }
}

impl Observer for Progress {
    fn on_start(&mut self, t: &Trainer, total: u64) {
        let Some(bar) = &mut self.bar else { return };
        *bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  eta {eta}")
                .expect("valid template"),
        );
        bar.set_position(t.state.step);
        eprintln!(
            "training {} ({} params) for {total} steps of {} tokens",
            t.cfg.family,
            t.n_params(),
            t.settings.tokens_per_step()
        );
    }
    fn on_step(&mut self, m: &Metrics) {
        if let Some(bar) = &self.bar {
            let val = m
                .val_loss
                .map(|v| format!("  val {v:.3}"))
                .unwrap_or_default();
            bar.set_message(format!(
                "loss {:.3}{val}  {:.0} tok/s",
                m.train_loss, m.tok_s
            ));
            bar.set_position(m.step);
        }
    }
    fn on_eval(&mut self, run: &Path, _m: &Metrics) {
        if let Err(e) = crate::plot::loss_png(run, &run.join("loss.png")) {
            eprintln!("warning: loss plot not drawn: {e:#}");
        }
    }
}

fn print_summary(dir: &Path, t: &Trainer, s: &Summary) {
    println!("run: {}", dir.display());
    println!(
        "params: {}  steps: {}  tokens: {}",
        s.params, s.steps, s.tokens
    );
    println!(
        "wall: {:.1} s  ({:.0} tok/s)  peak RSS: {}",
        s.wall_s,
        s.tok_s,
        s.peak_rss_mib
            .map_or("n/a".into(), |m| format!("{m:.0} MiB"))
    );
    let bpb = s
        .final_val_bpb
        .map(|b| format!(" = {b:.4} bits/byte"))
        .unwrap_or_default();
    println!(
        "final validation loss: {:.4} nats/token{bpb}",
        s.final_val_loss
    );
    if let Some(u) = s.unigram_val_loss {
        println!(
            "unigram baseline: {u:.4} nats/token ({:+.1}% vs model)",
            100.0 * (u - s.final_val_loss) / u
        );
    }
    let _ = t;
}

/// candle runs element-wise ops on a spinning barrier pool beside the matmul threads;
/// on 2 cores, or a core shared with another process, the spinning costs up to 2.6x in
/// training throughput (measured). Element-wise ops run on one thread unless the user
/// sets `CANDLE_NUM_THREADS`; matmuls keep every thread (`RAYON_NUM_THREADS`).
pub fn single_threaded_elementwise() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}
