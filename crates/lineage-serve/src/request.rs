//! OpenAI request bodies (`/v1/chat/completions`, `/v1/completions`) and the
//! generation settings they ask for, checked in one place with errors naming the field.
//! Unknown fields are ignored, as OpenAI's own server does for most of them.

use lineage::runtime::sampler::SamplerConfig;
use lineage::runtime::session::GenerateOptions;
use lineage::text::grammar::Structure;
use lineage::text::ChatMessage;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;

/// Most choices per request (`n`).
pub const MAX_N: i64 = 16;
/// Most alternatives per token in `top_logprobs` (OpenAI's limit).
const MAX_TOP_LOGPROBS: i64 = 20;
/// Most stop strings per request.
const MAX_STOP: usize = 16;
/// Largest `response_format` JSON schema, as JSON text (llguidance's own limits bound
/// what compiling and each mask may cost).
const MAX_SCHEMA_BYTES: usize = 64 << 10;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// The sampling and length fields both endpoints share.
#[derive(Debug, Deserialize, Default)]
pub struct Sampling {
    pub max_tokens: Option<i64>,
    pub max_completion_tokens: Option<i64>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<i64>,
    pub min_p: Option<f32>,
    pub seed: Option<u64>,
    pub stop: Option<OneOrMany>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub repetition_penalty: Option<f32>,
    pub n: Option<i64>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub logprobs: Option<Value>,
    pub top_logprobs: Option<i64>,
    pub response_format: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<WireMessage>,
    /// Checked by `tools::Tools::new`.
    pub tools: Option<Value>,
    pub tool_choice: Option<Value>,
    #[serde(flatten)]
    pub sampling: Sampling,
}

#[derive(Debug, Deserialize)]
pub struct WireMessage {
    pub role: String,
    #[serde(default)]
    pub content: Value,
    /// An assistant turn's calls (`[{id, type, function: {name, arguments}}]`).
    pub tool_calls: Option<Value>,
    /// The call a `tool` turn answers.
    pub tool_call_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    pub prompt: OneOrMany,
    /// Refused: plain completions have no tools (chat completions do).
    pub tools: Option<Value>,
    #[serde(flatten)]
    pub sampling: Sampling,
}

/// A body as `T`, or a 400 naming what is wrong with it.
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}"), None))
}

/// Chat messages with their text (a string, or the text parts of a content array) and,
/// for tool use, an assistant's `tool_calls` and a tool result's `tool_call_id`.
pub fn messages(wire: Vec<WireMessage>) -> Result<Vec<ChatMessage>, ApiError> {
    if wire.is_empty() {
        return Err(ApiError::bad_request(
            "`messages` is empty",
            Some("messages"),
        ));
    }
    wire.into_iter()
        .enumerate()
        .map(|(i, m)| {
            let calls = crate::tools::message_calls(m.tool_calls.as_ref(), &m.role, i)?;
            let mut msg = ChatMessage::new(m.role, content_text(&m.content, i)?);
            msg.tool_calls = calls;
            msg.tool_call_id = m.tool_call_id;
            Ok(msg)
        })
        .collect()
}

fn content_text(v: &Value, i: usize) -> Result<String, ApiError> {
    let bad = || {
        ApiError::bad_request(
            format!("messages[{i}].content must be a string or an array of text parts"),
            Some("messages"),
        )
    };
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => parts
            .iter()
            .map(
                |p| match (p.get("type").and_then(Value::as_str), p.get("text")) {
                    (Some("text"), Some(Value::String(t))) => Ok(t.as_str()),
                    _ => Err(bad()),
                },
            )
            .collect::<Result<Vec<_>, _>>()
            .map(|t| t.concat()),
        _ => Err(bad()),
    }
}

impl Sampling {
    /// Choices requested (`n`), 1..=MAX_N.
    pub fn n(&self) -> Result<usize, ApiError> {
        match self.n.unwrap_or(1) {
            n @ 1..=MAX_N => Ok(n as usize),
            n => Err(ApiError::bad_request(
                format!("n = {n}: must be between 1 and {MAX_N}"),
                Some("n"),
            )),
        }
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage)
    }

    /// What `response_format` asks the output to be: `text` (or nothing) is free text,
    /// `json_object` any JSON object, `json_schema` a document valid under its `schema`.
    pub fn structure(&self) -> Result<Option<Structure>, ApiError> {
        let bad = |m: String| Err(ApiError::bad_request(m, Some("response_format")));
        let Some(f) = self.response_format.as_ref().filter(|f| !f.is_null()) else {
            return Ok(None);
        };
        match f.get("type").and_then(Value::as_str) {
            Some("text") => Ok(None),
            Some("json_object") => Ok(Some(Structure::JsonObject)),
            Some("json_schema") => match f.get("json_schema").and_then(|j| j.get("schema")) {
                Some(s @ (Value::Object(_) | Value::Bool(_))) => {
                    let len = s.to_string().len();
                    if len > MAX_SCHEMA_BYTES {
                        return bad(format!(
                            "`response_format.json_schema.schema` is {len} bytes: at most {MAX_SCHEMA_BYTES}"
                        ));
                    }
                    Ok(Some(Structure::JsonSchema(s.clone())))
                }
                _ => bad("`response_format.json_schema.schema` must be a JSON schema object".into()),
            },
            Some(t) => bad(format!(
                "`response_format.type` {t:?}: expected \"text\", \"json_object\" or \"json_schema\""
            )),
            None => bad("`response_format` needs a `type`".into()),
        }
    }

    /// How many alternatives to report per token, if log-probabilities are asked for:
    /// chat sends `logprobs: true` and `top_logprobs: k`, completions `logprobs: k`.
    pub fn logprobs(&self, chat: bool) -> Result<Option<usize>, ApiError> {
        let bad = |m: &str| Err(ApiError::bad_request(m, Some("logprobs")));
        let asked = self.logprobs.as_ref().unwrap_or(&Value::Null);
        let top = match (chat, asked) {
            (_, Value::Null) | (true, Value::Bool(false)) if self.top_logprobs.is_none() => {
                return Ok(None)
            }
            (true, Value::Bool(true)) => self.top_logprobs.unwrap_or(0),
            (true, _) => return bad("`top_logprobs` needs `logprobs: true`"),
            (false, v) => match v.as_i64() {
                Some(k) => k,
                None => return bad("`logprobs` must be a number of alternatives"),
            },
        };
        match top {
            0..=MAX_TOP_LOGPROBS => Ok(Some(top as usize)),
            k => bad(&format!(
                "{k} alternatives per token: at most {MAX_TOP_LOGPROBS}"
            )),
        }
    }

    /// Generation settings for choice `index` of a prompt of `prompt_len` tokens; the
    /// length budget is clamped to what the context has left.
    pub fn options(
        &self,
        index: usize,
        prompt_len: usize,
        ctx: usize,
        logprobs: Option<usize>,
    ) -> Result<GenerateOptions, ApiError> {
        let left = ctx.saturating_sub(prompt_len);
        let max_tokens = match self.max_completion_tokens.or(self.max_tokens) {
            None => left,
            Some(m) if m < 0 => {
                return Err(ApiError::bad_request(
                    format!("max_tokens = {m}: must be >= 0"),
                    Some("max_tokens"),
                ))
            }
            Some(m) => (m as u64).min(left as u64) as usize,
        };
        let stop = self.stop_strings()?;
        let base = self.seed.unwrap_or_else(clock_seed);
        let sampler = SamplerConfig {
            temperature: self.temperature.unwrap_or(1.0),
            top_k: self.top_k.map_or(Ok(0), |k| {
                usize::try_from(k)
                    .map_err(|_| ApiError::bad_request("top_k must be >= 0", Some("top_k")))
            })?,
            top_p: self.top_p.unwrap_or(1.0),
            min_p: self.min_p.unwrap_or(0.0),
            repetition_penalty: self.repetition_penalty.unwrap_or(1.0),
            presence_penalty: self.presence_penalty.unwrap_or(0.0),
            frequency_penalty: self.frequency_penalty.unwrap_or(0.0),
            penalty_last_n: None,
            // Choice i of n draws its own stream, reproducibly for a given seed.
            seed: base.wrapping_add(index as u64),
        };
        sampler
            .validate()
            .map_err(|e| ApiError::bad_request(e.to_string(), None))?;
        Ok(GenerateOptions {
            max_tokens,
            sampler,
            stop,
            logprobs,
            constraint: None,
            keep_special: false,
        })
    }

    fn stop_strings(&self) -> Result<Vec<String>, ApiError> {
        let stop = self.stop.as_ref().map_or_else(Vec::new, OneOrMany::to_vec);
        if stop.len() > MAX_STOP {
            return Err(ApiError::bad_request(
                format!("{} stop strings: at most {MAX_STOP}", stop.len()),
                Some("stop"),
            ));
        }
        Ok(stop)
    }
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
