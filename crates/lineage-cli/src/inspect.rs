//! `lineage inspect TARGET`: exact parameter, KV-cache, FLOP and weight-memory accounting
//! of a preset, an HF config.json or a checkpoint folder, from the canonical config alone
//! (`lineage::analysis`). `--vs` compares targets side by side, `--set` edits the config
//! before counting, `--plot` draws KV-cache bytes against context length.

pub mod plot;
mod report;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use lineage::analysis::{self, edit, presets, KvDtype, Options, Summary};
use lineage::{families, ModelConfig};
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// A preset name (`--list`), an HF config.json, or a checkpoint folder.
    #[arg(required_unless_present = "list")]
    pub target: Option<String>,
    /// List the built-in presets and exit.
    #[arg(long)]
    pub list: bool,
    /// Another target to compare side by side (repeatable).
    #[arg(long = "vs", value_name = "TARGET")]
    pub vs: Vec<String>,
    /// Edit TARGET's canonical config before counting, e.g. `n_kv_heads=64` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// KV-cache storage type: f32, f16, bf16, fp8, q8_0, q4_0.
    #[arg(long, default_value = "bf16")]
    pub kv_dtype: String,
    /// Context length for the FLOP figures (default: the model's context length).
    #[arg(long)]
    pub context: Option<usize>,
    /// Print JSON (stable keys).
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print Markdown tables.
    #[arg(long)]
    pub markdown: bool,
    /// Draw KV-cache bytes against context length for every target into this PNG.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
}

/// One resolved target: a display name, its canonical config and notes on what is counted.
pub struct Target {
    pub name: String,
    pub about: Option<String>,
    pub config: ModelConfig,
    pub notes: Vec<String>,
    pub summary: Summary,
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    if args.list {
        for p in presets::PRESETS {
            println!("{:<18} {}", p.name, p.about);
        }
        return Ok(());
    }
    let opts = Options {
        kv_dtype: args.kv_dtype.parse::<KvDtype>()?,
        context: args.context,
    };
    let first = args
        .target
        .as_deref()
        .context("a TARGET is required (or --list)")?;
    let mut targets = vec![resolve(first, &args.set, &opts)?];
    for other in &args.vs {
        targets.push(resolve(other, &[], &opts)?);
    }
    if let Some(path) = &args.plot {
        plot::kv_cache_png(path, &targets, opts.kv_dtype)?;
        eprintln!("wrote {}", path.display());
    }
    let out = match (args.json, args.markdown, targets.len()) {
        (true, _, 1) => report::json_one(&targets[0])?,
        (true, _, _) => report::json_many(&targets)?,
        (false, true, 1) => report::markdown_one(&targets[0]),
        (false, true, _) => report::markdown_many(&targets),
        (false, false, 1) => report::text_one(&targets[0]),
        (false, false, _) => report::markdown_many(&targets),
    };
    print!("{out}");
    Ok(())
}

/// Preset, config file or checkpoint folder -> canonical config, edited by `sets`.
pub fn resolve(target: &str, sets: &[String], opts: &Options) -> anyhow::Result<Target> {
    let (mut config, raw, about, mut notes) = load(target)?;
    if notes.is_empty() {
        notes.extend(mtp_note(&raw));
    }
    let mut name = target.to_string();
    for s in sets {
        edit::apply_assignment(&mut config, s).with_context(|| format!("--set {s} on {target}"))?;
    }
    if !sets.is_empty() {
        name = format!("{target} [{}]", sets.join(", "));
    }
    let summary =
        analysis::summarize(&config, opts).with_context(|| format!("accounting for {target}"))?;
    Ok(Target {
        name,
        about,
        config,
        notes,
        summary,
    })
}

type Loaded = (ModelConfig, Value, Option<String>, Vec<String>);

fn load(target: &str) -> anyhow::Result<Loaded> {
    let path = Path::new(target);
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
    {
        let (config, keys) =
            families::gguf_key_report(path).with_context(|| format!("reading {target}"))?;
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let notes = vec![
            format!("GGUF keys read: {}", list(&keys.read)),
            format!(
                "GGUF keys not read (they do not change the function): {}",
                list(&keys.not_read)
            ),
        ];
        return Ok((config, Value::Null, Some("GGUF metadata".into()), notes));
    }
    if path.exists() {
        let raw = families::read_config_file(path)?;
        let config =
            families::config_from_json(raw.clone()).with_context(|| format!("reading {target}"))?;
        return Ok((config, raw, None, Vec::new()));
    }
    if target.contains('/') || target.ends_with(".json") {
        bail!("{target}: no such file or folder (and not a preset name)");
    }
    let p = presets::find(target)?;
    let raw = p.value()?;
    let config = p.config().with_context(|| format!("preset {target}"))?;
    Ok((
        config,
        raw,
        Some(p.about.to_string()),
        p.note.map(String::from).into_iter().collect(),
    ))
}

/// A config with a multi-token-prediction module: say it is not counted.
fn mtp_note(raw: &Value) -> Option<String> {
    let n = raw.get("num_nextn_predict_layers")?.as_u64()?;
    (n > 0).then(|| format!("num_nextn_predict_layers = {n}: the multi-token-prediction module is not counted (not part of the causal LM)"))
}
