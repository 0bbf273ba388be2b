//! Function calls read back out of a model's reply, one parser per `ToolFormat`.
//!
//! Model output is untrusted: a call whose JSON does not parse, lacks a name, or has
//! arguments that are not an object stays in the text as ordinary content, and a reply
//! with no complete call is returned unchanged. Nothing here fails.
//! References: Qwen2.5's and Llama 3.1's chat templates (the call shapes they teach),
//! vLLM's `hermes_tool_parser.py` / `llama_tool_parser.py`, and the harmony format
//! description (`openai/harmony`, docs/format.md).

use serde_json::{Map, Value};

use super::format::ToolFormat;

const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";
const PYTHON_TAG: &str = "<|python_tag|>";

/// One call: the function's name and its arguments as compact JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub name: String,
    pub arguments: String,
}

/// A reply split into calls and the text outside them (`None` when nothing is left).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub content: Option<String>,
    pub calls: Vec<Call>,
}

impl Parsed {
    /// No calls: the reply is all content, unchanged.
    fn text(text: &str) -> Self {
        Self {
            content: Some(text.to_string()),
            calls: Vec::new(),
        }
    }

    /// The calls found and what was outside them; the whole reply when none was found.
    fn of(text: &str, outside: &str, calls: Vec<Call>) -> Self {
        if calls.is_empty() {
            return Self::text(text);
        }
        let outside = outside.trim();
        Self {
            content: (!outside.is_empty()).then(|| outside.to_string()),
            calls,
        }
    }
}

pub fn parse(format: ToolFormat, text: &str) -> Parsed {
    match format {
        ToolFormat::Hermes => hermes(text),
        ToolFormat::LlamaJson => llama_json(text),
        ToolFormat::Harmony => harmony(text),
    }
}

/// `<tool_call>{json}</tool_call>` blocks anywhere in the reply; a last block the reply
/// ends inside counts when its JSON is complete (generation stopped before the close tag).
fn hermes(text: &str) -> Parsed {
    let (mut outside, mut calls, mut rest) = (String::new(), Vec::new(), text);
    while let Some(open) = rest.find(OPEN) {
        let body = &rest[open + OPEN.len()..];
        let (inner, after) = match body.find(CLOSE) {
            Some(close) => (&body[..close], &body[close + CLOSE.len()..]),
            None => (body, ""),
        };
        match call_from_json(inner.trim()) {
            Some(c) => {
                outside.push_str(&rest[..open]);
                calls.push(c);
            }
            None => outside.push_str(&rest[..rest.len() - after.len()]),
        }
        rest = after;
    }
    outside.push_str(rest);
    Parsed::of(text, &outside, calls)
}

/// The whole reply is one or more call objects (`;`-separated, as Llama 3.1 may write
/// several), after an optional `<|python_tag|>`; anything else is plain text.
fn llama_json(text: &str) -> Parsed {
    let body = text.trim_start();
    let mut rest = body.strip_prefix(PYTHON_TAG).unwrap_or(body).trim();
    if !rest.starts_with('{') {
        return Parsed::text(text);
    }
    let mut calls = Vec::new();
    while !rest.is_empty() {
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        let Some(call) = stream.next().and_then(Result::ok).and_then(call_from_value) else {
            return Parsed::text(text); // not all calls: the reply is text
        };
        calls.push(call);
        let tail = rest[stream.byte_offset()..].trim_start();
        rest = tail.strip_prefix(';').unwrap_or(tail).trim_start();
    }
    Parsed::of(text, "", calls)
}

/// Messages to `functions.NAME` are calls (content: the JSON arguments); the text of the
/// `final` channel (and commentary addressed to no one, a preamble to the user) is content.
/// Reasoning (`analysis`) is left out, with or without a call (the chat response carries
/// it as `reasoning_content`: `crate::harmony`). Text that is not harmony (its special
/// tokens stripped) is returned unchanged.
fn harmony(text: &str) -> Parsed {
    let w = crate::harmony::whole(text, true);
    if w.calls.is_empty() && w.reasoning.is_empty() && w.content == text {
        return Parsed::text(text);
    }
    let content = w.content.trim();
    Parsed {
        content: (!content.is_empty()).then(|| content.to_string()),
        calls: w.calls,
    }
}

/// `{"name": ..., "arguments": {...}}` (or `"parameters"`) as a call.
fn call_from_json(s: &str) -> Option<Call> {
    call_from_value(serde_json::from_str(s).ok()?)
}

fn call_from_value(v: Value) -> Option<Call> {
    let Value::Object(mut obj) = v else {
        return None;
    };
    let name = match obj.remove("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => n,
        _ => return None,
    };
    let args = obj
        .remove("arguments")
        .or_else(|| obj.remove("parameters"))
        .unwrap_or(Value::Null);
    Some(Call {
        name,
        arguments: arguments_text(args)?,
    })
}

/// A call to `name` with `args` (JSON text), or `None` when they are not a call.
pub(crate) fn call_from_parts(name: &str, args: &str) -> Option<Call> {
    if name.is_empty() {
        return None;
    }
    Some(Call {
        name: name.to_string(),
        arguments: arguments_text(serde_json::from_str(args).ok()?)?,
    })
}

/// Arguments as compact JSON text: an object, an object written as a JSON string (some
/// models quote it), or nothing (`{}`).
fn arguments_text(v: Value) -> Option<String> {
    match v {
        Value::Object(m) => Some(Value::Object(m).to_string()),
        Value::Null => Some(Value::Object(Map::new()).to_string()),
        Value::String(s) => match serde_json::from_str::<Value>(&s).ok()? {
            Value::Object(m) => Some(Value::Object(m).to_string()),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
