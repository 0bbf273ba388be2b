//! `ChatTemplate`: renders a Jinja chat template (GGUF `tokenizer.chat_template` or
//! tokenizer_config.json `chat_template`) the way transformers' `apply_chat_template` does.
//!
//! HF semantics kept: `trim_blocks` and `lstrip_blocks` on, no trailing-newline keeping;
//! variables `messages`, `add_generation_prompt`, `bos_token`, `eos_token`, `tools` (the
//! OpenAI/HF tool list, or none when there are no tools);
//! `raise_exception(msg)`; `strftime_now(fmt)` (UTC); Python string/dict methods (`.strip()`, `.startswith()`,
//! `.items()`, ...) through minijinja-contrib's pycompat; `tojson` as Python's
//! `json.dumps(ensure_ascii=False)` (", " and ": " separators, no HTML escaping).
//! Reference: transformers `utils/chat_template_utils.py` (`_compile_jinja_template`).

use super::ChatMessage;
use crate::{Error, Result};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Serde, Value, ValueKind};
use minijinja::{Environment, ErrorKind};

const TEMPLATE_NAME: &str = "chat_template";
/// Marks errors raised by the template itself, to map them to `Error::TemplateException`.
const RAISE_MARKER: &str = "raise_exception: ";

/// A template is code from the model file's author, so every render is bounded.
/// Fuel is minijinja's budget: one unit per instruction and per ~64 bytes of data created,
/// so it bounds loop iterations, time and memory at once. Real templates spend a few
/// thousand units on a short chat; the budget grows with the conversation.
const BASE_FUEL: u64 = 2_000_000;
/// Fuel allowed per byte of message text (each byte may be copied, escaped and output a
/// few times: 64 bytes cost ~1 unit, so 1 unit/byte is ~64 passes over the input).
const FUEL_PER_INPUT_BYTE: u64 = 1;
/// Nesting of macro calls, includes and blocks (minijinja counts several levels per macro
/// call, ~40 calls here); HF templates nest a few, minijinja's own ceiling is 500.
const RECURSION_LIMIT: usize = 200;
/// The rendered prompt may be this much larger than the messages it holds, plus a fixed
/// allowance for the template's own text.
const OUTPUT_PER_INPUT_BYTE: usize = 8;
const BASE_OUTPUT: usize = 1 << 20;

/// A compiled chat template plus the special-token texts it may print.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

fn now_unix_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl ChatTemplate {
    /// Compiles `source`; syntax errors are reported with their line.
    pub fn new(
        source: &str,
        bos_token: impl Into<String>,
        eos_token: impl Into<String>,
    ) -> Result<Self> {
        if source.len() > crate::limits::MAX_TEMPLATE_BYTES {
            return Err(Error::Template(format!(
                "the chat template is {} bytes, more than the {} allowed",
                source.len(),
                crate::limits::MAX_TEMPLATE_BYTES
            )));
        }
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(template_err)?;
        env.set_syntax(syntax);
        env.set_recursion_limit(RECURSION_LIMIT);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_filter("tojson", tojson);
        env.add_function("strftime_now", |fmt: String| {
            super::strftime::format(now_unix_secs(), &fmt)
        });
        env.add_template_owned(TEMPLATE_NAME, source.to_string())
            .map_err(template_err)?;
        Ok(Self {
            env,
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
        })
    }

    /// Fixes the time `strftime_now` reports (UTC seconds since 1970), for reproducible prompts.
    pub fn set_now(&mut self, unix_secs: i64) {
        self.env.add_function("strftime_now", move |fmt: String| {
            super::strftime::format(unix_secs, &fmt)
        });
    }

    /// Renders the conversation; `add_generation_prompt` opens an assistant turn.
    /// Refused with `Error::Template` when the template exceeds its budget (`limits`).
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        self.render_with_tools(messages, &[], add_generation_prompt)
    }

    /// As `render`, with `tools` (`{"type": "function", "function": {...}}` each, as
    /// transformers' `apply_chat_template(tools=...)` takes them) in the `tools` variable;
    /// an empty list is passed as none, since templates test `tools is not none`.
    pub fn render_with_tools(
        &self,
        messages: &[ChatMessage],
        tools: &[serde_json::Value],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let tools_len: usize = tools.iter().map(|t| t.to_string().len()).sum();
        let input = messages.iter().map(ChatMessage::text_len).sum::<usize>() + tools_len;
        let mut env = self.env.clone();
        env.set_fuel(Some(BASE_FUEL + FUEL_PER_INPUT_BYTE * input as u64));
        let tmpl = env.get_template(TEMPLATE_NAME).map_err(template_err)?;
        let tools = match tools {
            [] => Value::from(()),
            t => Value::from(Serde(t)),
        };
        let ctx = minijinja::context! {
            messages => Value::from(Serde(messages)),
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.as_str(),
            eos_token => self.eos_token.as_str(),
            tools => tools,
        };
        let out = tmpl.render(ctx).map_err(template_err)?;
        let max_out = BASE_OUTPUT + OUTPUT_PER_INPUT_BYTE * input;
        if out.len() > max_out {
            return Err(Error::Template(format!(
                "the chat template's output is {} bytes, more than the {max_out} allowed for {input} bytes of messages",
                out.len()
            )));
        }
        Ok(out)
    }
}

fn raise_exception(message: String) -> std::result::Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(
        ErrorKind::InvalidOperation,
        format!("{RAISE_MARKER}{message}"),
    ))
}

fn template_err(e: minijinja::Error) -> Error {
    let detail = e.detail().unwrap_or_default();
    if let Some(msg) = detail.strip_prefix(RAISE_MARKER) {
        return Error::TemplateException(msg.to_string());
    }
    // The raise may sit under an include/macro frame: look through the source chain.
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(msg) = s.to_string().split(RAISE_MARKER).nth(1) {
            return Error::TemplateException(msg.to_string());
        }
        source = s.source();
    }
    let line = e.line().map(|l| format!(" (line {l})")).unwrap_or_default();
    let limit = match e.kind() {
        ErrorKind::OutOfFuel => {
            " — the template exceeded its work budget (loop iterations, time or memory); a chat template should not loop or build large strings"
        }
        _ if e.to_string().contains("recursion") => " — the template nests deeper than the limit",
        _ => "",
    };
    Error::Template(format!("{}{line}{limit}", e))
}

/// `value` as Python's `json.dumps(value, ensure_ascii=False)` writes it (", " and ": "
/// separators), the form templates give tool arguments; the harmony renderer uses it too.
pub(crate) fn python_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    // Writing a plain JSON value cannot fail: every kind it holds has a JSON form.
    let _ = write_json(&Value::from(Serde(value)), None, 0, &mut out);
    out
}

/// Python `json.dumps(value, ensure_ascii=False, indent=indent)`; indent positional or keyword.
/// `ensure_ascii`, `separators` and `sort_keys` are accepted and ignored.
fn tojson(
    value: Value,
    indent: Option<usize>,
    kwargs: Kwargs,
) -> std::result::Result<Value, minijinja::Error> {
    let indent = indent.or(kwargs.get::<Option<usize>>("indent")?);
    for ignored in ["ensure_ascii", "separators", "sort_keys"] {
        let _: Option<Value> = kwargs.get(ignored)?;
    }
    let mut out = String::new();
    write_json(&value, indent, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

fn write_json(
    v: &Value,
    indent: Option<usize>,
    level: usize,
    out: &mut String,
) -> std::result::Result<(), minijinja::Error> {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&v.to_string()),
        ValueKind::String => out.push_str(&serde_json::Value::String(v.to_string()).to_string()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            write_container(out, ('[', ']'), items.len(), indent, level, |i, out| {
                write_json(&items[i], indent, level + 1, out)
            })?;
        }
        ValueKind::Map => {
            let keys: Vec<Value> = v.try_iter()?.collect();
            write_container(out, ('{', '}'), keys.len(), indent, level, |i, out| {
                write_json(&Value::from(keys[i].to_string()), None, 0, out)?;
                out.push_str(": ");
                write_json(&v.get_item(&keys[i])?, indent, level + 1, out)
            })?;
        }
        _ => out.push_str(&serde_json::Value::String(v.to_string()).to_string()),
    }
    Ok(())
}

/// Writes `n` items between brackets with Python's separators and optional indentation.
fn write_container(
    out: &mut String,
    (open, close): (char, char),
    n: usize,
    indent: Option<usize>,
    level: usize,
    mut item: impl FnMut(usize, &mut String) -> std::result::Result<(), minijinja::Error>,
) -> std::result::Result<(), minijinja::Error> {
    out.push(open);
    for i in 0..n {
        match indent {
            Some(w) => {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                out.push_str(&" ".repeat(w * (level + 1)));
            }
            None if i > 0 => out.push_str(", "),
            None => {}
        }
        item(i, out)?;
    }
    if let (Some(w), true) = (indent, n > 0) {
        out.push('\n');
        out.push_str(&" ".repeat(w * level));
    }
    out.push(close);
    Ok(())
}
