//! `write_hf`: a transformers checkpoint folder, written into a staging folder and renamed
//! into place. Files: `config.json`, `model.safetensors` (f32, header metadata
//! `format: pt` as `save_pretrained` writes it), and with a tokenizer `tokenizer.json`
//! (copied) and `tokenizer_config.json` (copied when one sits beside it, else a minimal
//! `PreTrainedTokenizerFast` one).

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Value};

use super::hf_family::hf_family;
use super::tokenizer_json::{self, TokenizerInfo};
use super::{hf_config, hf_tensors, out_path};
use crate::config::ModelConfig;
use crate::train::run_files::{io, write_atomic};
use crate::weights::Weights;
use crate::{Error, Result};

/// Writes `cfg` + `w` (and the tokenizer, when given) as an HF checkpoint folder `out`,
/// which must not exist or be empty.
pub fn write_hf(
    cfg: &ModelConfig,
    w: &Weights,
    tokenizer: Option<&Path>,
    out: &Path,
) -> Result<()> {
    cfg.validate()?;
    let fam = hf_family(cfg)?;
    out_path::check_free(out)?;
    let tok = tokenizer
        .map(|p| tokenizer_json::read(p, cfg.vocab_size))
        .transpose()?;
    let tensors = hf_tensors::tensors(cfg, fam, w)?;
    let config = hf_config::config_json(cfg, fam, tok.as_ref())?;
    let tmp = out_path::staging_dir(out)?;
    let written = write_files(&tmp, &config, &tensors, tok.as_ref(), cfg.context_len);
    if let Err(e) = written.and_then(|()| out_path::commit(&tmp, out)) {
        out_path::discard(&tmp);
        return Err(e);
    }
    Ok(())
}

fn write_files(
    dir: &Path,
    config: &Value,
    tensors: &hf_tensors::Named,
    tok: Option<&TokenizerInfo>,
    context_len: usize,
) -> Result<()> {
    let text = serde_json::to_string_pretty(config)
        .map_err(|e| Error::BadInput(format!("config.json does not serialise: {e}")))?;
    write_atomic(&dir.join("config.json"), format!("{text}\n").as_bytes())?;
    write_safetensors(&dir.join("model.safetensors"), tensors)?;
    if let Some(tok) = tok {
        copy(&tok.path, &dir.join("tokenizer.json"))?;
        match &tok.config_path {
            Some(c) => copy(c, &dir.join("tokenizer_config.json"))?,
            None => {
                let text = serde_json::to_string_pretty(&tokenizer_config(tok, context_len))
                    .map_err(|e| Error::BadInput(e.to_string()))?;
                write_atomic(
                    &dir.join("tokenizer_config.json"),
                    format!("{text}\n").as_bytes(),
                )?;
            }
        }
    }
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to).map(|_| ()).map_err(|e| io(from, e))
}

/// The smallest tokenizer_config.json AutoTokenizer loads a tokenizer.json with.
fn tokenizer_config(tok: &TokenizerInfo, context_len: usize) -> Value {
    let text = |id: Option<u32>| id.and_then(|i| tok.text_of(i)).map(str::to_string);
    let mut v = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": context_len,
        "add_bos_token": tok.add_bos,
        "add_eos_token": tok.add_eos,
        "clean_up_tokenization_spaces": false,
    });
    for (key, id) in [
        ("bos_token", tok.bos),
        ("eos_token", tok.eos),
        ("unk_token", tok.unk),
        ("pad_token", tok.pad),
    ] {
        if let Some(t) = text(id) {
            v[key] = json!(t);
        }
    }
    v
}

/// f32 safetensors with `{"format": "pt"}` metadata, through a temporary name.
fn write_safetensors(path: &Path, tensors: &hf_tensors::Named) -> Result<()> {
    use safetensors::tensor::TensorView;
    let mut bytes = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let data: Vec<u8> = t
            .flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        bytes.push((name.clone(), t.dims().to_vec(), data));
    }
    let views = bytes
        .iter()
        .map(|(n, shape, data)| {
            TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                .map(|v| (n.clone(), v))
                .map_err(|e| Error::BadInput(format!("tensor `{n}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let tmp = path.with_extension("safetensors.tmp");
    safetensors::serialize_to_file(views, Some(meta), &tmp)
        .map_err(|e| io(&tmp, std::io::Error::other(e.to_string())))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}
