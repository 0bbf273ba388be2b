//! `lineage plot RUN`: the run's loss curves (train per step, validation per evaluation,
//! and the unigram baseline when known) as RUN/loss.png.

use std::path::{Path, PathBuf};

use clap::Args;
use lineage::train::metrics;

use crate::chart::{draw, Chart, Series};

#[derive(Args)]
pub struct PlotArgs {
    /// The run folder (`lineage train --out RUN`).
    pub run: PathBuf,
    /// Output PNG (default RUN/loss.png).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(a: PlotArgs) -> anyhow::Result<()> {
    let out = a.out.unwrap_or_else(|| a.run.join("loss.png"));
    loss_png(&a.run, &out)?;
    println!("wrote {}", out.display());
    Ok(())
}

/// Draws the loss curves of `run` to `out`.
pub fn loss_png(run: &Path, out: &Path) -> anyhow::Result<()> {
    let m = metrics::read(&run.join(metrics::METRICS_FILE))?;
    if m.is_empty() {
        anyhow::bail!("{}: no metrics.jsonl lines to plot yet", run.display());
    }
    let train = m.iter().map(|x| (x.tokens as f64, x.train_loss)).collect();
    let val = m
        .iter()
        .filter_map(|x| x.val_loss.map(|v| (x.tokens as f64, v)))
        .collect();
    let baseline = unigram(run).map(|u| ("unigram baseline (val)".to_string(), u));
    let chart = Chart {
        title: &format!("{}: loss", run.display()),
        x_desc: "training tokens",
        y_desc: "cross-entropy (nats/token)",
        series: vec![
            Series {
                name: "train".into(),
                points: train,
                color: 0,
                width: 1,
            },
            Series {
                name: "validation".into(),
                points: val,
                color: 1,
                width: 3,
            },
        ],
        hline: baseline,
    };
    draw(out, &chart)
}

/// The unigram baseline recorded in RUN/data.json by `lineage train`.
fn unigram(run: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(run.join("data.json")).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?["unigram_val_loss"].as_f64()
}
