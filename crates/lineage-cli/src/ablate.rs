//! `lineage ablate evolution`: trains the GPT-2 -> modern ladder at matched size and
//! tokens and writes DIR/report.md, DIR/report.json and DIR/*.png.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use lineage::ablate::report;
use lineage::ablate::study::{self, StudyOptions};

#[derive(Args)]
pub struct AblateArgs {
    #[command(subcommand)]
    pub study: Study,
}

#[derive(Subcommand)]
pub enum Study {
    /// What each step from GPT-2 to today's models buys, claim by claim.
    Evolution(EvolutionArgs),
}

#[derive(Args)]
pub struct EvolutionArgs {
    /// The whole pipeline in minutes (2 seeds, a few steps): what CI runs.
    #[arg(long)]
    pub quick: bool,
    /// Seeds per variant (default 3; 2 with --quick).
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Training tokens per run.
    #[arg(long)]
    pub tokens: Option<u64>,
    /// Study folder (runs are cached there: rerunning resumes).
    #[arg(long, default_value = "ablate-evolution")]
    pub out: PathBuf,
    /// Only these variants (comma-separated names), e.g. gpt2,modern.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

pub fn run(a: AblateArgs) -> anyhow::Result<()> {
    let Study::Evolution(e) = a.study;
    crate::train::single_threaded_elementwise();
    let opts = StudyOptions {
        quick: e.quick,
        seeds: e.seeds,
        tokens: e.tokens,
        out: e.out.clone(),
        only: e.only.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let exe = std::env::current_exe().context("locating the lineage binary")?;
    let results = study::run(&opts, &exe, &mut |line| eprintln!("{line}"))?;
    let figures = crate::ablate_plots::write_plots(&e.out, &results)?;
    report::write_report(&e.out, &results, &figures)?;
    println!(
        "wrote {} ({} figures)",
        e.out.join(report::REPORT_MD).display(),
        figures.len()
    );
    Ok(())
}
