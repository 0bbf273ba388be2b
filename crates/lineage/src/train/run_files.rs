//! The on-disk form of a trained model inside a run folder, shared by the trainer,
//! `--resume` and `export`:
//!
//! ```text
//! RUN/checkpoint/model.safetensors   canonical tensor names (`blk.0.attn_q.weight`), f32
//! RUN/checkpoint/model_config.json   the canonical ModelConfig (serde JSON)
//! RUN/tokenizer.json                 the tokenizer the data was made with (when known)
//! ```
//!
//! Files are written to a temporary name and renamed, so a kill never leaves a torn one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::config::ModelConfig;
use crate::weights::{Weight, Weights};
use crate::{Error, Result};

pub const CHECKPOINT_DIR: &str = "checkpoint";
pub const MODEL_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "model_config.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// A trained model read back from a run folder.
pub struct RunModel {
    pub cfg: ModelConfig,
    pub weights: Weights,
    /// `RUN/tokenizer.json` when the run recorded one.
    pub tokenizer: Option<PathBuf>,
}

/// Reads the model of run folder `run` (or of a bare checkpoint folder).
pub fn open_run(run: &Path) -> Result<RunModel> {
    let ck = if run.join(CHECKPOINT_DIR).is_dir() {
        run.join(CHECKPOINT_DIR)
    } else {
        run.to_path_buf()
    };
    let mut model = open_run_dir(&ck)?;
    let tok = run.join(TOKENIZER_FILE);
    model.tokenizer = tok.is_file().then_some(tok);
    Ok(model)
}

/// Reads config and weights from one checkpoint folder.
pub fn open_run_dir(ck: &Path) -> Result<RunModel> {
    let run = ck;
    let cfg_path = ck.join(CONFIG_FILE);
    if !cfg_path.is_file() {
        return Err(Error::bad_file(
            run,
            "not a lineage run: no checkpoint/model_config.json (was it written by `lineage train`?)",
        ));
    }
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| io(&cfg_path, e))?;
    let cfg: ModelConfig = serde_json::from_str(&text)
        .map_err(|e| Error::bad_file(&cfg_path, format!("not a model config: {e}")))?;
    cfg.validate()?;
    let weights = read_weights(&ck.join(MODEL_FILE))?;
    Ok(RunModel {
        cfg,
        weights,
        tokenizer: None,
    })
}

/// Reads a canonical-name safetensors file into f32 dense weights.
pub fn read_weights(path: &Path) -> Result<Weights> {
    if !path.is_file() {
        return Err(Error::bad_file(path, "missing checkpoint weights"));
    }
    let map = candle_core::safetensors::load(path, &Device::Cpu)
        .map_err(|e| Error::bad_file(path, format!("unreadable safetensors: {e}")))?;
    let mut w = Weights::default();
    for (name, t) in map {
        w.insert(name, t.to_dtype(DType::F32)?);
    }
    Ok(w)
}

/// Writes `cfg` and the dense weights of `w` into `dir` (created), each file atomically.
pub fn save_model(dir: &Path, cfg: &ModelConfig, w: &Weights) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut map: HashMap<String, Tensor> = HashMap::new();
    for (name, weight) in w.iter() {
        match weight {
            Weight::Dense(t) => {
                map.insert(name.to_string(), t.to_dtype(DType::F32)?.detach());
            }
            _ => {
                return Err(Error::BadInput(format!(
                    "`{name}`: only dense weights can be saved in a run checkpoint"
                )))
            }
        }
    }
    write_tensors(&dir.join(MODEL_FILE), &map)?;
    let json = serde_json::to_string_pretty(cfg)
        .map_err(|e| Error::BadInput(format!("config does not serialise: {e}")))?;
    write_atomic(&dir.join(CONFIG_FILE), json.as_bytes())
}

/// Safetensors file written through a temporary name.
pub fn write_tensors(path: &Path, map: &HashMap<String, Tensor>) -> Result<()> {
    let tmp = tmp_name(path);
    candle_core::safetensors::save(map, &tmp).map_err(|e| Error::Io {
        path: tmp.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    sync_file(&tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

/// `bytes` to `path` through a temporary name, fsynced before the rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = tmp_name(path);
    let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io(&tmp, e))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

fn sync_file(path: &Path) -> Result<()> {
    let f = std::fs::File::open(path).map_err(|e| io(path, e))?;
    f.sync_all().map_err(|e| io(path, e))
}

fn tmp_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

pub(crate) fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.into(),
        source: e,
    }
}
