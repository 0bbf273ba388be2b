//! Structured output (`response_format`) on the real SmolLM2 at temperature 1.0: every
//! `json_schema` answer parses and validates against its schema (checked by a validator
//! written here for the keywords the schema uses), whole, streamed and with n = 2;
//! `json_object` answers are JSON objects; bad and hostile schemas are 400s in bounded time.

mod common;

use std::time::{Duration, Instant};

use common::{config, post, start};
use serde_json::{json, Value};

fn chat(content: &str, extra: Value) -> Value {
    let mut v = json!({"model": "smollm2", "messages": [{"role": "user", "content": content}]});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    v
}

fn person_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 24},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "height_m": {"type": "number"},
            "member": {"type": "boolean"},
            "color": {"enum": ["red", "green", "blue"]},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 16},
                     "minItems": 1, "maxItems": 3},
        },
        "required": ["name", "age", "height_m", "member", "color", "tags"],
        "additionalProperties": false,
    })
}

/// Checks `v` against the JSON Schema keywords `person_schema` uses; the first violation.
fn validate(v: &Value, s: &Value, at: &str) -> Result<(), String> {
    let fail = |m: &str| Err(format!("{at}: {m} ({v})"));
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        if !options.contains(v) {
            return fail("not in the enum");
        }
    }
    let count = |k: &str| s.get(k).and_then(Value::as_u64).map(|n| n as usize);
    let num = |k: &str| s.get(k).and_then(Value::as_f64);
    match (s.get("type").and_then(Value::as_str), v) {
        (None, _) => {}
        (Some("string"), Value::String(t)) => {
            let n = t.chars().count();
            if count("minLength").is_some_and(|m| n < m)
                || count("maxLength").is_some_and(|m| n > m)
            {
                return fail("string length");
            }
        }
        (Some("integer"), Value::Number(x)) if x.is_i64() || x.is_u64() => {
            let x = x.as_f64().unwrap();
            if num("minimum").is_some_and(|m| x < m) || num("maximum").is_some_and(|m| x > m) {
                return fail("out of range");
            }
        }
        (Some("number"), Value::Number(_)) | (Some("boolean"), Value::Bool(_)) => {}
        (Some("array"), Value::Array(items)) => {
            let n = items.len();
            if count("minItems").is_some_and(|m| n < m) || count("maxItems").is_some_and(|m| n > m)
            {
                return fail("item count");
            }
            for (i, item) in items.iter().enumerate() {
                validate(item, &s["items"], &format!("{at}[{i}]"))?;
            }
        }
        (Some("object"), Value::Object(obj)) => {
            let props = s["properties"].as_object().unwrap();
            for r in s["required"].as_array().unwrap() {
                if !obj.contains_key(r.as_str().unwrap()) {
                    return fail(&format!("missing {r}"));
                }
            }
            for (k, item) in obj {
                match props.get(k) {
                    Some(p) => validate(item, p, &format!("{at}.{k}"))?,
                    None if s["additionalProperties"] == false => {
                        return fail(&format!("extra property {k}"))
                    }
                    None => {}
                }
            }
        }
        (Some(t), _) => return fail(&format!("not of type {t}")),
    }
    Ok(())
}

#[test]
fn validator_rejects_what_the_schema_forbids() {
    let s = person_schema();
    let good = json!({"name": "Ann", "age": 41, "height_m": 1.7, "member": true,
                      "color": "red", "tags": ["a"]});
    assert_eq!(validate(&good, &s, "$"), Ok(()));
    for (k, bad) in [
        ("age", json!(41.5)),
        ("age", json!(-1)),
        ("color", json!("pink")),
        ("tags", json!([])),
        ("name", json!("")),
        ("member", json!("yes")),
    ] {
        let mut v = good.clone();
        v[k] = bad;
        assert!(validate(&v, &s, "$").is_err(), "{v}");
    }
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("tags");
    assert!(validate(&v, &s, "$").is_err());
}

fn json_schema_format() -> Value {
    json!({"type": "json_schema",
           "json_schema": {"name": "person", "strict": true, "schema": person_schema()}})
}

const ASK: &str = "Describe a fictional person as JSON.";

/// The content of every choice of a whole answer, each finished by `stop`.
fn contents(v: &Value) -> Vec<String> {
    v["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["finish_reason"], "stop", "{c}");
            c["message"]["content"].as_str().unwrap().to_string()
        })
        .collect()
}

fn assert_valid(text: &str, what: &str) -> Value {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}: {text:?}"));
    if let Err(e) = validate(&v, &person_schema(), "$") {
        panic!("{what}: {e}");
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_schema_answers_parse_and_validate_whole_streamed_and_n2() {
    let Some(addr) = start(config(), "json_schema_answers_parse_and_validate").await else {
        return;
    };
    for seed in 1..=4 {
        let body = chat(
            ASK,
            json!({"temperature": 1.0, "seed": seed, "max_tokens": 200,
                                    "response_format": json_schema_format()}),
        );
        let r = post(addr, "/v1/chat/completions", &body).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let whole = contents(&r.json()).remove(0);
        assert_valid(&whole, &format!("seed {seed}"));
        println!("seed {seed}: {whole}");
        if seed <= 2 {
            let mut body = body.clone();
            body["stream"] = json!(true);
            let s = post(addr, "/v1/chat/completions", &body).await;
            let ev = s.events();
            assert_eq!(ev.last().unwrap(), "[DONE]");
            let chunks: Vec<Value> = ev[..ev.len() - 1]
                .iter()
                .map(|e| serde_json::from_str(e).unwrap())
                .collect();
            let streamed: String = chunks
                .iter()
                .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
                .collect();
            assert_eq!(streamed, whole, "seed {seed}: streamed differs from whole");
            assert_eq!(
                chunks.last().unwrap()["choices"][0]["finish_reason"],
                "stop"
            );
        }
    }
    let body = chat(
        ASK,
        json!({"temperature": 1.0, "seed": 9, "n": 2, "max_tokens": 200,
                                "response_format": json_schema_format()}),
    );
    let r = post(addr, "/v1/chat/completions", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let both = contents(&r.json());
    assert_eq!(both.len(), 2);
    for (i, t) in both.iter().enumerate() {
        assert_valid(t, &format!("n=2 choice {i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_object_answers_are_json_objects_and_text_is_free() {
    let Some(addr) = start(config(), "json_object_answers_are_json_objects").await else {
        return;
    };
    let ask = "Give the name and the age of a fictional person as a JSON object.";
    for seed in 1..=4 {
        let body = chat(
            ask,
            json!({"temperature": 1.0, "seed": seed, "max_tokens": 200,
                                    "response_format": {"type": "json_object"}}),
        );
        let r = post(addr, "/v1/chat/completions", &body).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let t = contents(&r.json()).remove(0);
        let v: Value =
            serde_json::from_str(&t).unwrap_or_else(|e| panic!("seed {seed}: {e}: {t:?}"));
        assert!(v.is_object(), "seed {seed}: {t}");
    }
    // Plain completions take it too.
    let body = json!({"prompt": "A JSON object describing a cat:", "temperature": 1.0,
                      "seed": 3, "max_tokens": 200, "response_format": {"type": "json_object"}});
    let r = post(addr, "/v1/completions", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t = r.json()["choices"][0]["text"].as_str().unwrap().to_string();
    assert!(
        serde_json::from_str::<Value>(&t).unwrap().is_object(),
        "{t}"
    );
    // `text` constrains nothing: the greedy answer is not JSON.
    let body = chat(
        "Say hello.",
        json!({"temperature": 0, "max_tokens": 16,
                                         "response_format": {"type": "text"}}),
    );
    let r = post(addr, "/v1/chat/completions", &body).await;
    let t = r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(serde_json::from_str::<Value>(&t).is_err(), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_hostile_schemas_are_400s_naming_response_format_in_bounded_time() {
    let Some(addr) = start(config(), "bad_and_hostile_schemas_are_400s").await else {
        return;
    };
    let with = |schema: Value| {
        chat(
            ASK,
            // Greedy: the 600-property schema passes llguidance's row limit on the row
            // after `{` or `{"`, but `{}` (one token, a complete document) never builds
            // that row, so a sampled reply could end there with a 200.
            json!({"max_tokens": 8, "temperature": 0, "response_format":
            {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}),
        )
    };
    let wide: serde_json::Map<String, Value> = (0..600)
        .map(|i| {
            (
                format!("p{i}"),
                json!({"type": "array", "items": {"type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "number"}}}}),
            )
        })
        .collect();
    let huge: serde_json::Map<String, Value> = (0..5000)
        .map(|i| (format!("property_{i}"), json!({"type": "string"})))
        .collect();
    let cases = [
        (
            "unknown type",
            with(json!({"type": "frobnicate"})),
            "frobnicate",
        ),
        (
            "$ref loop",
            with(json!({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"})),
            "response_format",
        ),
        (
            "over the parser limits",
            with(json!({"type": "object", "properties": wide})),
            "max is 2000",
        ),
        (
            "over 64 KiB",
            with(json!({"type": "object", "properties": huge})),
            "at most 65536",
        ),
        (
            "no schema",
            chat(
                ASK,
                json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}),
            ),
            "must be a JSON schema",
        ),
        (
            "unknown format",
            chat(ASK, json!({"response_format": {"type": "yaml"}})),
            "json_object",
        ),
    ];
    for (name, body, needle) in cases {
        let t = Instant::now();
        let r = post(addr, "/v1/chat/completions", &body).await;
        let took = t.elapsed();
        assert_eq!(r.status, 400, "{name}: {}", r.body);
        let e = &r.json()["error"];
        assert_eq!(e["param"], "response_format", "{name}");
        assert!(
            e["message"].as_str().unwrap().contains(needle),
            "{name}: {e}"
        );
        assert!(took < Duration::from_secs(5), "{name} took {took:?}");
    }
    // The server still answers.
    let r = post(
        addr,
        "/v1/chat/completions",
        &chat(ASK, json!({"max_tokens": 4})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
