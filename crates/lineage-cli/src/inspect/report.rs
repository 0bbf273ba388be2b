//! Renderings of `inspect` summaries: plain text for one target, Markdown tables for one
//! or many, JSON with the stable keys of `lineage::analysis::Summary`.

use std::fmt::Write;

use lineage::analysis::{describe, ParamCounts, WeightFormat};
use serde_json::{json, Value};

use super::Target;

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `8030261248` -> `8.03B`.
pub fn short_count(n: u64) -> String {
    let f = n as f64;
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}K", f / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", f / 1e6),
        1_000_000_000..=999_999_999_999 => format!("{:.2}B", f / 1e9),
        _ => format!("{:.2}T", f / 1e12),
    }
}

/// Bytes in binary units.
pub fn bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.2} {}", units[u])
    }
}

fn flops(n: u64) -> String {
    format!("{:.3} GFLOP", n as f64 / 1e9)
}

/// `(label, value)` rows of the numbers, shared by every rendering of a table.
fn number_rows(t: &Target) -> Vec<(String, String)> {
    let s = &t.summary;
    let kv = &s.kv_cache;
    let f = &s.flops_per_token;
    let mut rows = vec![
        (
            "total params".to_string(),
            format!(
                "{} ({})",
                thousands(s.total_params),
                short_count(s.total_params)
            ),
        ),
        (
            "active params / token".into(),
            format!(
                "{} ({})",
                thousands(s.active_params),
                short_count(s.active_params)
            ),
        ),
        (
            "active w/o embedding tables".into(),
            short_count(s.active_params_without_embeddings),
        ),
    ];
    // Canonical component order (the JSON map is sorted by name).
    for (name, _) in ParamCounts::default().components() {
        let n = s.params_by_component.get(name).copied().unwrap_or(0);
        if n > 0 {
            let pct = 100.0 * n as f64 / s.total_params.max(1) as f64;
            rows.push((
                format!("params: {name}"),
                format!("{} ({pct:.1}%)", short_count(n)),
            ));
        }
    }
    rows.extend([
        (
            format!("KV cache / token ({})", kv.dtype.name()),
            bytes(kv.bytes_per_token),
        ),
        (
            "KV cache / token (engine, f32)".into(),
            bytes(s.engine_kv_bytes_per_token),
        ),
        (
            "KV cache @ context_len".into(),
            format!("{} @ {}", bytes(kv.bytes_at_context), kv.context),
        ),
        ("FLOPs / token: context T".into(), f.context.to_string()),
        ("FLOPs / token: matmul".into(), flops(f.matmul)),
        ("FLOPs / token: attention @ T".into(), flops(f.attention)),
        ("FLOPs / token: total @ T".into(), flops(f.total)),
        ("FLOPs / token: 2N".into(), flops(f.approx_2n)),
    ]);
    for f in WeightFormat::ALL {
        let b = s.weight_bytes.get(f.name()).copied().unwrap_or(0);
        rows.push((format!("weights {}", f.name()), bytes(b)));
    }
    rows
}

fn component_rows(t: &Target) -> Vec<(String, String)> {
    // describe() order (the JSON map is sorted by name).
    describe::describe(&t.config)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Plain-text report of one target.
pub fn text_one(t: &Target) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{}{}",
        t.name,
        t.about
            .as_ref()
            .map_or(String::new(), |a| format!("  ({a})"))
    );
    for n in &t.notes {
        let _ = writeln!(o, "note: {n}");
    }
    let _ = writeln!(o, "\ncomponents");
    for (k, v) in component_rows(t) {
        let _ = writeln!(o, "  {k:<30} {v}");
    }
    let _ = writeln!(o, "\nnumbers");
    for (k, v) in number_rows(t) {
        let _ = writeln!(o, "  {k:<30} {v}");
    }
    let _ = writeln!(o, "\ncounting rules");
    let _ = writeln!(o, "  active = all but routed experts + top_k experts per MoE layer; FLOPs = 2 x active matrix elements (LM head included, embedding lookups not) + 4 x heads x head_dim x min(T, window) per layer");
    for f in WeightFormat::ALL {
        let _ = writeln!(o, "  {:<6} {}", f.name(), f.rule());
    }
    let _ = writeln!(o, "\nunknown config keys: {}", unknown(t));
    o
}

fn unknown(t: &Target) -> String {
    if t.summary.unknown_keys.is_empty() {
        "none".into()
    } else {
        t.summary.unknown_keys.join(", ")
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Markdown report of one target.
pub fn markdown_one(t: &Target) -> String {
    markdown_many(std::slice::from_ref(t))
}

/// Markdown side-by-side table of every target: component choices, then numbers.
pub fn markdown_many(ts: &[Target]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "| | {} |",
        ts.iter()
            .map(|t| md_escape(&t.name))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(o, "|---|{}", "---|".repeat(ts.len()));
    let comps: Vec<_> = ts.iter().map(component_rows).collect();
    let nums: Vec<_> = ts.iter().map(number_rows).collect();
    for (i, (label, _)) in comps[0].iter().enumerate() {
        let cells: Vec<String> = comps.iter().map(|r| md_escape(&r[i].1)).collect();
        let _ = writeln!(o, "| {label} | {} |", cells.join(" | "));
    }
    for label in union_labels(&nums) {
        let cells: Vec<String> = nums
            .iter()
            .map(|r| {
                r.iter()
                    .find(|(l, _)| *l == label)
                    .map_or("0".into(), |(_, v)| md_escape(v))
            })
            .collect();
        let _ = writeln!(o, "| {label} | {} |", cells.join(" | "));
    }
    let _ = writeln!(
        o,
        "| unknown config keys | {} |",
        ts.iter()
            .map(|t| md_escape(&unknown(t)))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    for t in ts {
        for n in &t.notes {
            let _ = writeln!(o, "\n*{}*: {}", md_escape(&t.name), n);
        }
    }
    o
}

/// Row labels in first-seen order over all targets (component rows differ by model).
fn union_labels(rows: &[Vec<(String, String)>]) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    let all_labels = rows.iter().flat_map(|r| r.iter().map(|(l, _)| l.clone()));
    for l in all_labels {
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    // Component rows (present in some models only) stay between the totals and the rest,
    // in canonical component order.
    let names = ParamCounts::default().components().map(|(n, _)| n);
    let order = |l: &String| -> (usize, usize) {
        let later = ["KV", "FLOPs", "weights"].iter().any(|p| l.starts_with(p));
        match l.strip_prefix("params: ") {
            Some(n) => (1, names.iter().position(|x| *x == n).unwrap_or(0)),
            None if later => (2, 0),
            None => (0, 0),
        }
    };
    labels.sort_by_key(order);
    labels
}

fn json_value(t: &Target) -> anyhow::Result<Value> {
    let mut v = serde_json::to_value(&t.summary)?;
    if let Value::Object(m) = &mut v {
        m.insert("name".into(), json!(t.name));
        m.insert("notes".into(), json!(t.notes));
    }
    Ok(v)
}

pub fn json_one(t: &Target) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&json_value(t)?)? + "\n")
}

pub fn json_many(ts: &[Target]) -> anyhow::Result<String> {
    let models = ts
        .iter()
        .map(json_value)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(serde_json::to_string_pretty(&json!({ "models": models }))? + "\n")
}
