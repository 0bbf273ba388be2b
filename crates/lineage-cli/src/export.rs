//! `lineage export RUN --format hf|gguf --out PATH [--dtype f32|f16|q8_0]`: a trained run
//! (RUN/checkpoint + RUN/tokenizer.json) as an HF checkpoint folder (transformers, vLLM)
//! or a GGUF file (llama.cpp). See `lineage::train::export`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use lineage::train::export::{gguf_arch, hf_family, write_gguf, write_hf, GgufDtype};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// transformers checkpoint folder: config.json, model.safetensors, tokenizer files.
    Hf,
    /// One GGUF v3 file for llama.cpp.
    Gguf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DtypeArg {
    F32,
    F16,
    #[value(name = "q8_0")]
    Q8_0,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Run folder written by `lineage train` (or a bare checkpoint folder).
    run: PathBuf,
    /// Output format.
    #[arg(long, value_enum)]
    format: Format,
    /// Output: a folder (hf) or a file such as model.gguf (gguf); must not exist yet
    /// (an empty folder is fine).
    #[arg(long)]
    out: PathBuf,
    /// Storage type of the matrices (gguf only; default f32). HF exports are float32.
    #[arg(long, value_enum)]
    dtype: Option<DtypeArg>,
}

pub fn run(a: ExportArgs) -> Result<()> {
    let m = lineage::train::open_run(&a.run)
        .with_context(|| format!("reading run {}", a.run.display()))?;
    let tok = m.tokenizer.as_deref();
    if tok.is_none() {
        eprintln!(
            "note: {} has no tokenizer.json; exporting the model only",
            a.run.display()
        );
    }
    match a.format {
        Format::Hf => {
            if a.dtype.is_some_and(|d| d != DtypeArg::F32) {
                bail!("--dtype applies to --format gguf; HF exports are float32 (cast with transformers' `torch_dtype` when loading)");
            }
            let fam = hf_family(&m.cfg)?;
            write_hf(&m.cfg, &m.weights, tok, &a.out)?;
            println!(
                "wrote {} ({}, {})",
                a.out.display(),
                fam.model_type(),
                fam.architecture()
            );
        }
        Format::Gguf => {
            let dtype = match a.dtype.unwrap_or(DtypeArg::F32) {
                DtypeArg::F32 => GgufDtype::F32,
                DtypeArg::F16 => GgufDtype::F16,
                DtypeArg::Q8_0 => GgufDtype::Q8_0,
            };
            let arch = gguf_arch(&m.cfg)?;
            write_gguf(&m.cfg, &m.weights, tok, dtype, &a.out)?;
            let size = std::fs::metadata(&a.out).map(|f| f.len()).unwrap_or(0);
            println!(
                "wrote {} (arch {}, {dtype:?}, {size} bytes)",
                a.out.display(),
                arch.name()
            );
        }
    }
    Ok(())
}
