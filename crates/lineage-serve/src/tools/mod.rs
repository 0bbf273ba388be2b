//! OpenAI function tools: the request's `tools` and `tool_choice` checked in one step,
//! the tool-call turns of `messages`, and the calls parsed back out of the reply in the
//! format the model's template teaches (`format.rs`, `parse.rs`).
//!
//! `tool_choice: "required"` or a named function constrains the reply to a call in the
//! model's format (`forced.rs`; not for harmony, whose reasoning comes first).

mod forced;
mod format;
mod parse;

use lineage::text::ToolCall;
use serde_json::Value;

use crate::error::ApiError;
pub use format::{detect, ToolFormat};
pub(crate) use parse::call_from_parts;
pub use parse::{parse, Call};

/// OpenAI's limits: 128 tools per request, names of 1-64 of `[A-Za-z0-9_-]`.
const MAX_TOOLS: usize = 128;
const MAX_NAME: usize = 64;

/// What the caller allows the model to do with the tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    None,
    Auto,
    Required,
    Function(String),
}

/// A request's tools, checked, with the format the reply will be parsed in.
#[derive(Debug, Default)]
pub struct Tools {
    /// `{"type": "function", "function": {...}}` each, as the client sent them.
    list: Vec<Value>,
    choice: Option<ToolChoice>,
    format: Option<ToolFormat>,
}

impl Tools {
    /// Checks `tools` and `tool_choice`; `format` is the model's (`format::detect`).
    pub fn new(
        tools: Option<&Value>,
        choice: Option<&Value>,
        format: Option<ToolFormat>,
    ) -> Result<Self, ApiError> {
        let list = tool_list(tools)?;
        let choice = tool_choice(choice, &list)?;
        Ok(Self {
            list,
            choice,
            format,
        })
    }

    /// The tools the template is given. With `tool_choice: "none"` they are left out, so
    /// the model is not invited to call what it may not.
    pub fn prompt_tools(&self) -> &[Value] {
        match self.choice {
            Some(ToolChoice::None) => &[],
            _ => &self.list,
        }
    }

    /// The constraint that forces a call (`tool_choice` "required" or a named function),
    /// where the model's format allows one.
    pub fn forced(&self) -> Option<lineage::text::grammar::Structure> {
        forced::structure(&self.list, self.choice.as_ref(), self.format)
    }

    /// The parser for the reply: only when tools were given and may be called.
    pub fn parser(&self) -> Option<ToolFormat> {
        match self.choice {
            Some(ToolChoice::None) | None => None,
            Some(_) => self.format,
        }
    }
}

fn bad(message: String, param: &str) -> ApiError {
    ApiError::bad_request(message, Some(param))
}

fn tool_list(tools: Option<&Value>) -> Result<Vec<Value>, ApiError> {
    let list = match tools {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(bad(
                "`tools` must be an array of {\"type\": \"function\", \"function\": {...}}".into(),
                "tools",
            ))
        }
    };
    if list.len() > MAX_TOOLS {
        return Err(bad(
            format!("{} tools: at most {MAX_TOOLS}", list.len()),
            "tools",
        ));
    }
    let mut names: Vec<&str> = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let name = check_tool(t, i)?;
        if names.contains(&name) {
            return Err(bad(
                format!("tools[{i}]: a second function named `{name}`"),
                "tools",
            ));
        }
        names.push(name);
    }
    Ok(list.clone())
}

/// One tool's shape; its function name.
fn check_tool(t: &Value, i: usize) -> Result<&str, ApiError> {
    let err = |what: &str| bad(format!("tools[{i}]{what}"), "tools");
    if t["type"] != "function" {
        return Err(err(".type must be \"function\""));
    }
    let f = &t["function"];
    if !f.is_object() {
        return Err(err(".function must be an object with a `name`"));
    }
    let name = f["name"].as_str().unwrap_or_default();
    if !valid_name(name) {
        return Err(err(&format!(
            ".function.name {:?} must be 1-{MAX_NAME} letters, digits, `_` or `-`",
            f["name"]
        )));
    }
    if !(f["description"].is_null() || f["description"].is_string()) {
        return Err(err(".function.description must be a string"));
    }
    if !(f["parameters"].is_null() || f["parameters"].is_object()) {
        return Err(err(".function.parameters must be a JSON Schema object"));
    }
    Ok(name)
}

fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn tool_choice(choice: Option<&Value>, tools: &[Value]) -> Result<Option<ToolChoice>, ApiError> {
    let parsed = match choice {
        None | Some(Value::Null) => return Ok((!tools.is_empty()).then_some(ToolChoice::Auto)),
        Some(Value::String(s)) => match s.as_str() {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            other => {
                return Err(bad(
                    format!("tool_choice {other:?}: expected \"none\", \"auto\", \"required\" or {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}"),
                    "tool_choice",
                ))
            }
        },
        Some(v) => named_choice(v, tools)?,
    };
    if tools.is_empty() && !matches!(parsed, ToolChoice::None | ToolChoice::Auto) {
        return Err(bad("`tool_choice` needs `tools`".into(), "tool_choice"));
    }
    Ok(Some(parsed))
}

fn named_choice(v: &Value, tools: &[Value]) -> Result<ToolChoice, ApiError> {
    let name = match (&v["type"], v["function"]["name"].as_str()) {
        (t, Some(n)) if t == "function" => n,
        _ => {
            return Err(bad(
                "tool_choice must be {\"type\": \"function\", \"function\": {\"name\": ...}}"
                    .into(),
                "tool_choice",
            ))
        }
    };
    if !tools.iter().any(|t| t["function"]["name"] == name) {
        return Err(bad(
            format!("tool_choice names `{name}`, which is not in `tools`"),
            "tool_choice",
        ));
    }
    Ok(ToolChoice::Function(name.to_string()))
}

/// The `tool_calls` of message `i` (an assistant turn): arguments as a JSON string, as
/// OpenAI sends them, or as an object, as some clients do.
pub fn message_calls(v: Option<&Value>, role: &str, i: usize) -> Result<Vec<ToolCall>, ApiError> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) if role == "assistant" => list,
        Some(Value::Array(_)) => {
            return Err(bad(
                format!(
                "messages[{i}]: only assistant messages have `tool_calls` (this one is `{role}`)"
            ),
                "messages",
            ))
        }
        Some(_) => {
            return Err(bad(
                format!("messages[{i}].tool_calls must be an array"),
                "messages",
            ))
        }
    };
    list.iter()
        .enumerate()
        .map(|(j, c)| message_call(c, i, j))
        .collect()
}

fn message_call(c: &Value, i: usize, j: usize) -> Result<ToolCall, ApiError> {
    let at = format!("messages[{i}].tool_calls[{j}]");
    let f = &c["function"];
    let Some(name) = f["name"].as_str().filter(|n| !n.is_empty()) else {
        return Err(bad(
            format!("{at}.function.name must be a non-empty string"),
            "messages",
        ));
    };
    let arguments = match &f["arguments"] {
        Value::String(s) if serde_json::from_str::<Value>(s).is_ok() => s.clone(),
        Value::String(_) => {
            return Err(bad(
                format!("{at}.function.arguments is not valid JSON"),
                "messages",
            ))
        }
        Value::Object(_) => f["arguments"].to_string(),
        Value::Null => "{}".to_string(),
        _ => {
            return Err(bad(
                format!("{at}.function.arguments must be a JSON string"),
                "messages",
            ))
        }
    };
    let id = c["id"].as_str().map(String::from);
    Ok(ToolCall::function(id, name, arguments))
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
