//! What export needs from an HF `tokenizer.json` (and a `tokenizer_config.json` beside
//! it, when there is one): the special token ids for config.json / GGUF, and, for GGUF,
//! the byte-level BPE vocabulary as llama.cpp reads it.
//!
//! Reference: llama.cpp `convert_hf_to_gguf.py` (`get_vocab_base`: `[PAD{i}]` fillers,
//! CONTROL for special added tokens, USER_DEFINED for the others, `does_token_look_special`)
//! and gguf-py `vocab.py` (`SpecialVocab`: ids from tokenizer_config.json, `add_bos` from the
//! post-processor template); tokenizers `pre_tokenizers/*` for the JSON forms.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::text::HfTokenizerConfig;
use crate::{Error, Result};

/// GGUF `tokenizer.ggml.token_type` codes.
pub const NORMAL: i32 = 1;
pub const CONTROL: i32 = 3;
pub const USER_DEFINED: i32 = 4;
pub const UNUSED: i32 = 5;

/// A token of the tokenizer: its text and whether it is a special added token.
#[derive(Debug, Clone)]
struct Entry {
    text: String,
    added: Option<bool>,
}

/// A parsed tokenizer: ids, specials and where they came from.
#[derive(Debug, Clone)]
pub struct TokenizerInfo {
    pub path: PathBuf,
    /// `tokenizer_config.json` next to `tokenizer.json`, copied as is by the HF export.
    pub config_path: Option<PathBuf>,
    json: Value,
    by_id: HashMap<u32, Entry>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
    pub add_bos: bool,
    pub add_eos: bool,
    pub chat_template: Option<String>,
}

/// The GGUF vocabulary: one token per model row.
#[derive(Debug, Clone, PartialEq)]
pub struct BpeVocab {
    /// `tokenizer.ggml.pre`.
    pub pre: String,
    pub tokens: Vec<String>,
    pub token_types: Vec<i32>,
    /// `"left right"` pairs in rank order.
    pub merges: Vec<String>,
}

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::bad_file(path, msg)
}

/// Reads `path` (a tokenizer.json) for a model of `vocab_size` rows.
pub fn read(path: &Path, vocab_size: usize) -> Result<TokenizerInfo> {
    let text = std::fs::read_to_string(path).map_err(|e| crate::train::run_files::io(path, e))?;
    let json: Value =
        serde_json::from_str(&text).map_err(|e| bad(path, format!("not JSON: {e}")))?;
    let by_id = entries(path, &json)?;
    if let Some(&max) = by_id.keys().max() {
        if max as usize >= vocab_size {
            return Err(bad(path, format!("has token id {max}, but the model has only {vocab_size} rows (vocab_size); train the tokenizer with at most {vocab_size} tokens")));
        }
    }
    let config_path = path
        .parent()
        .map(|d| d.join("tokenizer_config.json"))
        .filter(|p| p.is_file());
    let mut info = TokenizerInfo {
        path: path.to_path_buf(),
        config_path,
        json,
        by_id,
        bos: None,
        eos: None,
        unk: None,
        pad: None,
        add_bos: false,
        add_eos: false,
        chat_template: None,
    };
    info.resolve_specials()?;
    Ok(info)
}

fn entries(path: &Path, json: &Value) -> Result<HashMap<u32, Entry>> {
    let mut by_id = HashMap::new();
    let vocab = json
        .pointer("/model/vocab")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            bad(
                path,
                "no `model.vocab` object (only BPE tokenizers are exported)",
            )
        })?;
    for (tok, id) in vocab {
        let id = id
            .as_u64()
            .ok_or_else(|| bad(path, format!("`model.vocab.{tok}` is not an id")))?;
        by_id.insert(
            id as u32,
            Entry {
                text: tok.clone(),
                added: None,
            },
        );
    }
    for t in json
        .get("added_tokens")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(id), Some(text)) = (
            t.get("id").and_then(Value::as_u64),
            t.get("content").and_then(Value::as_str),
        ) else {
            return Err(bad(path, format!("malformed added token {t}")));
        };
        let special = t.get("special").and_then(Value::as_bool).unwrap_or(false);
        by_id.insert(
            id as u32,
            Entry {
                text: text.to_string(),
                added: Some(special),
            },
        );
    }
    Ok(by_id)
}

impl TokenizerInfo {
    /// The id of token `text`.
    pub fn id_of(&self, text: &str) -> Option<u32> {
        self.by_id
            .iter()
            .find(|(_, e)| e.text == text)
            .map(|(&id, _)| id)
    }

    /// The text of token `id`.
    pub fn text_of(&self, id: u32) -> Option<&str> {
        self.by_id.get(&id).map(|e| e.text.as_str())
    }

    fn resolve_specials(&mut self) -> Result<()> {
        if let Some(cfg) = &self.config_path {
            let raw: Value = serde_json::from_str(
                &std::fs::read_to_string(cfg).map_err(|e| crate::train::run_files::io(cfg, e))?,
            )
            .map_err(|e| bad(cfg, format!("not JSON: {e}")))?;
            let c = HfTokenizerConfig::from_json(&raw);
            let id = |t: Option<String>| t.and_then(|t| self.id_of(&t));
            let ids = [
                id(c.bos_token),
                id(c.eos_token),
                id(token_text(raw.get("pad_token"))),
                id(token_text(raw.get("unk_token"))),
            ];
            [self.bos, self.eos, self.pad, self.unk] = ids;
            self.add_bos = raw
                .get("add_bos_token")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            self.add_eos = raw
                .get("add_eos_token")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            self.chat_template = c.chat_template;
        }
        self.specials_from_template();
        self.specials_from_names();
        if self.unk.is_none() {
            let unk = self
                .json
                .pointer("/model/unk_token")
                .and_then(Value::as_str);
            self.unk = unk.and_then(|t| self.id_of(t));
        }
        Ok(())
    }

    /// `TemplateProcessing` `single = [<bos>, $A, <eos>]`: the specials it adds.
    fn specials_from_template(&mut self) {
        let Some(single) = template_single(self.json.get("post_processor")) else {
            return;
        };
        let seq = single.iter().position(|p| p.get("Sequence").is_some());
        let special = |p: &Value| {
            p.pointer("/SpecialToken/id")
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        if let Some(seq) = seq {
            if let Some(t) = single[..seq].iter().find_map(special) {
                self.bos = self.bos.or(self.id_of(&t));
                self.add_bos = true;
            }
            if let Some(t) = single[seq + 1..].iter().find_map(special) {
                self.eos = self.eos.or(self.id_of(&t));
                self.add_eos = true;
            }
        }
    }

    /// Well-known special token texts when nothing else names them. GPT-2's convention
    /// (`<|endoftext|>` is both BOS and EOS) is what a byte-level BPE trainer usually keeps;
    /// without any id llama.cpp would fall back to GPT-2's id 11 for BOS/EOS.
    fn specials_from_names(&mut self) {
        let special = |t: &str| {
            self.by_id
                .iter()
                .find(|(_, e)| e.text == t && e.added == Some(true))
                .map(|(&id, _)| id)
        };
        let eos = ["<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>"]
            .into_iter()
            .find_map(special);
        let bos = ["<|begin_of_text|>", "<s>", "<bos>"]
            .into_iter()
            .find_map(special);
        self.eos = self.eos.or(eos);
        let gpt2_style = eos.is_some() && eos == special("<|endoftext|>");
        self.bos = self.bos.or(bos).or(if gpt2_style { eos } else { None });
    }

    /// The GGUF vocabulary for a model of `vocab_size` rows (byte-level BPE only).
    pub fn bpe_vocab(&self, vocab_size: usize) -> Result<BpeVocab> {
        let m = self.json.get("model").cloned().unwrap_or(Value::Null);
        if m.get("type").and_then(Value::as_str) != Some("BPE") {
            return Err(bad(
                &self.path,
                format!(
                    "model type {} is not BPE (GGUF export writes byte-level BPE vocabularies)",
                    m.get("type").unwrap_or(&Value::Null)
                ),
            ));
        }
        if m.get("byte_fallback")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            return Err(bad(
                &self.path,
                "byte_fallback BPE (SentencePiece-style) is not a byte-level vocabulary",
            ));
        }
        let pre = pre_name(&self.path, &self.json)?;
        let mut tokens = Vec::with_capacity(vocab_size);
        let mut token_types = Vec::with_capacity(vocab_size);
        for i in 0..vocab_size as u32 {
            let (text, ty) = match self.by_id.get(&i) {
                None => (format!("[PAD{i}]"), UNUSED),
                Some(Entry {
                    text,
                    added: Some(special),
                }) => {
                    let control = *special || looks_special(text);
                    (text.clone(), if control { CONTROL } else { USER_DEFINED })
                }
                Some(Entry { text, added: None }) => (text.clone(), NORMAL),
            };
            tokens.push(text);
            token_types.push(ty);
        }
        Ok(BpeVocab {
            pre,
            tokens,
            token_types,
            merges: merges(&self.path, &m)?,
        })
    }
}

fn token_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// `convert_hf_to_gguf.py` `does_token_look_special`.
fn looks_special(t: &str) -> bool {
    matches!(t, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (t.starts_with("<|") && t.ends_with("|>"))
        || (t.starts_with("<｜") && t.ends_with("｜>"))
        || (t.starts_with("<start_of_") && t.ends_with('>'))
}

fn template_single(pp: Option<&Value>) -> Option<Vec<Value>> {
    let pp = pp?;
    match pp.get("type")?.as_str()? {
        "TemplateProcessing" => pp.get("single")?.as_array().cloned(),
        "Sequence" => pp
            .get("processors")?
            .as_array()?
            .iter()
            .find_map(|p| template_single(Some(p))),
        _ => None,
    }
}

fn merges(path: &Path, model: &Value) -> Result<Vec<String>> {
    let Some(list) = model.get("merges").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|m| match m {
            Value::String(s) => Ok(s.clone()),
            Value::Array(p) if p.len() == 2 => match (p[0].as_str(), p[1].as_str()) {
                (Some(a), Some(b)) => Ok(format!("{a} {b}")),
                _ => Err(bad(path, format!("merge {m} is not two strings"))),
            },
            _ => Err(bad(path, format!("merge {m} is not `a b` or [a, b]"))),
        })
        .collect()
}

/// Pre-tokenizer regexes of the HF Llama 3 and Qwen2 tokenizers (`Split` patterns).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// `tokenizer.ggml.pre` for the pre-tokenizer pipelines llama.cpp implements.
fn pre_name(path: &Path, json: &Value) -> Result<String> {
    let pt = json.get("pre_tokenizer").unwrap_or(&Value::Null);
    let ty = |v: &Value| {
        v.get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let byte_level = |v: &Value, regex: bool| {
        ty(v) == "ByteLevel"
            && !v
                .get("add_prefix_space")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            && v.get("use_regex").and_then(Value::as_bool).unwrap_or(true) == regex
    };
    let split = |v: &Value, pattern: &str| {
        ty(v) == "Split" && v.pointer("/pattern/Regex").and_then(Value::as_str) == Some(pattern)
    };
    let seq: Vec<Value> = match ty(pt).as_str() {
        "Sequence" => pt
            .get("pretokenizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => vec![pt.clone()],
    };
    let name = match seq.as_slice() {
        [b] if byte_level(b, true) => "gpt-2",
        [d, b] if ty(d) == "Digits" && d.get("individual_digits") == Some(&Value::Bool(true)) && byte_level(b, true) => "smollm",
        [s, b] if split(s, LLAMA3_SPLIT) && byte_level(b, false) => "llama-bpe",
        [s, b] if split(s, QWEN2_SPLIT) && byte_level(b, false) => "qwen2",
        _ => {
            return Err(bad(path, format!("pre_tokenizer {pt} is not one llama.cpp implements (ByteLevel; Digits + ByteLevel; the Llama 3 or Qwen2 Split + ByteLevel)")))
        }
    };
    match json.get("normalizer") {
        None | Some(Value::Null) => Ok(name.to_string()),
        Some(n) if ty(n) == "NFC" => Ok(name.to_string()),
        Some(n) => Err(bad(
            path,
            format!("normalizer {n} has no llama.cpp equivalent"),
        )),
    }
}
