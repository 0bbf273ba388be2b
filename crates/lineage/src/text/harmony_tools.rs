//! The `# Tools` section of a harmony developer message: OpenAI function tools written as
//! a TypeScript `namespace functions { ... }`, their JSON-schema parameters as types.
//!
//! Reference: the harmony format description (`openai/harmony`, docs/format.md, "Function
//! calling") and the gpt-oss chat template's `render_tool_namespace` and
//! `render_typescript_type` macros, which this mirrors byte for byte, quirks included
//! (a newline and 16 spaces before a nested property's type, ", // default: x," with its
//! trailing comma), because that is the text gpt-oss prompts are rendered with.

use serde_json::Value;

use super::template::python_json;

/// What the gpt-oss template leaves between `name: ` and a nested object property's type.
const NESTED_GAP: &str = "\n                ";
/// The template's inner-type length past which an array of it is written `any[]`.
const MAX_INNER_TYPE: usize = 50;

/// `## functions\n\nnamespace functions {...} // namespace functions` for `tools`
/// (`{"type": "function", "function": {name, description, parameters}}` each).
pub(crate) fn namespace(tools: &[Value]) -> String {
    let mut out = String::from("## functions\n\nnamespace functions {\n\n");
    for tool in tools {
        let f = &tool["function"];
        if let Some(d) = f["description"].as_str() {
            out.push_str(&format!("// {d}\n"));
        }
        out.push_str(&format!(
            "type {} = ",
            f["name"].as_str().unwrap_or_default()
        ));
        let params = &f["parameters"];
        match params["properties"].as_object().filter(|p| !p.is_empty()) {
            Some(props) => {
                out.push_str("(_: {\n");
                for (name, spec) in props {
                    out.push_str(&parameter(name, spec, params));
                }
                out.push_str("}) => any;\n\n");
            }
            None => out.push_str("() => any;\n\n"),
        }
    }
    out.push_str("} // namespace functions");
    out
}

/// One top-level parameter: its description comment, `name?: type`, its default.
fn parameter(name: &str, spec: &Value, params: &Value) -> String {
    let mut out = String::new();
    if let Some(d) = spec["description"].as_str().filter(|d| !d.is_empty()) {
        out.push_str(&format!("// {d}\n"));
    }
    out.push_str(name);
    if !is_required(params, name) {
        out.push('?');
    }
    out.push_str(": ");
    out.push_str(&ts_type(spec));
    if let Some(default) = spec.get("default") {
        if spec.get("enum").is_some_and(truthy) {
            out.push_str(&format!(", // default: {}", plain(default)));
        } else if spec.get("oneOf").is_some_and(truthy) {
            out.push_str(&format!("// default: {}", plain(default)));
        } else {
            out.push_str(&format!(", // default: {}", python_json(default)));
        }
    }
    out.push_str(",\n");
    out
}

/// The TypeScript type of a JSON schema (`render_typescript_type`).
fn ts_type(spec: &Value) -> String {
    let ty = &spec["type"];
    let nullable = if spec.get("nullable").is_some_and(truthy) {
        " | null"
    } else {
        ""
    };
    if ty == "array" {
        return format!("{}{nullable}", array_type(&spec["items"]));
    }
    if let Some(list) = ty.as_array().filter(|l| !l.is_empty()) {
        let names: Vec<String> = list.iter().map(plain).collect();
        return names.join(" | ");
    }
    if let Some(variants) = spec["oneOf"].as_array().filter(|v| !v.is_empty()) {
        return one_of(variants);
    }
    match ty.as_str() {
        Some("string") => match spec["enum"].as_array().filter(|e| !e.is_empty()) {
            Some(e) => {
                let names: Vec<String> = e.iter().map(plain).collect();
                format!("\"{}\"", names.join("\" | \""))
            }
            None => format!("string{nullable}"),
        },
        Some("number" | "integer") => "number".into(),
        Some("boolean") => "boolean".into(),
        Some("object") => object_type(spec),
        _ => "any".into(),
    }
}

fn array_type(items: &Value) -> String {
    if !truthy(items) {
        return "any[]".into();
    }
    match items["type"].as_str() {
        Some("string") => "string[]".into(),
        Some("number" | "integer") => "number[]".into(),
        Some("boolean") => "boolean[]".into(),
        _ => {
            let inner = ts_type(items);
            if inner == "object | object" || inner.chars().count() > MAX_INNER_TYPE {
                "any[]".into()
            } else {
                format!("{inner}[]")
            }
        }
    }
}

/// `a | \nb`; a union with an object variant is `any`.
fn one_of(variants: &[Value]) -> String {
    if variants.len() > 1 && variants.iter().any(|v| v["type"] == "object") {
        return "any".into();
    }
    let mut out = String::new();
    for (i, v) in variants.iter().enumerate() {
        out.push_str(&ts_type(v));
        if let Some(d) = v["description"].as_str().filter(|d| !d.is_empty()) {
            out.push_str(&format!("// {d}"));
        }
        if let Some(default) = v.get("default") {
            out.push_str(&format!(
                "                    // default: {}",
                python_json(default)
            ));
        }
        if i + 1 < variants.len() {
            out.push_str(" | \n");
        }
    }
    out
}

/// `{\nname?: \n    type, ...}` for an object schema with properties, else `object`.
fn object_type(spec: &Value) -> String {
    let Some(props) = spec["properties"].as_object().filter(|p| !p.is_empty()) else {
        return "object".into();
    };
    let fields: Vec<String> = props
        .iter()
        .map(|(name, p)| {
            let opt = if is_required(spec, name) { "" } else { "?" };
            format!("{name}{opt}: {NESTED_GAP}{}", ts_type(p))
        })
        .collect();
    format!("{{\n{}}}", fields.join(", "))
}

fn is_required(schema: &Value, name: &str) -> bool {
    schema["required"]
        .as_array()
        .is_some_and(|r| r.iter().any(|n| n == name))
}

/// Jinja truthiness of a JSON value: null, false, 0, "" and empty containers are false.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A value as Jinja prints it into text: strings bare, the rest as JSON.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => python_json(other),
    }
}
