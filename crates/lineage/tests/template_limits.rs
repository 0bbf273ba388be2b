//! Chat templates are code from whoever made the model file: a template that loops
//! forever, recurses without end or builds a gigabyte string gets a clear error, quickly,
//! while real templates still render long conversations.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use lineage::text::{ChatMessage, ChatTemplate};
use lineage::Error;

/// Far above what a refused render takes (well under a second); only a hang reaches it.
const HANG: Duration = Duration::from_secs(60);

/// Renders on a thread so a hang fails the test instead of stalling the suite.
fn render_bounded(src: &str, messages: Vec<ChatMessage>) -> lineage::Result<String> {
    let tmpl = ChatTemplate::new(src, "<s>", "</s>").expect("template compiles");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(tmpl.render(&messages, true));
    });
    rx.recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("render of {src:?} did not finish within {HANG:?}"))
}

fn assert_refused(name: &str, src: &str, needle: &str) {
    match render_bounded(src, vec![ChatMessage::new("user", "hi")]) {
        Err(Error::Template(msg)) => assert!(
            msg.contains(needle),
            "{name}: error should mention {needle:?}: {msg}"
        ),
        Err(other) => panic!("{name}: wrong error kind {other:?}"),
        Ok(out) => panic!("{name}: rendered {} bytes instead of refusing", out.len()),
    }
}

#[test]
fn template_loops_that_do_not_end_are_refused() {
    // 10^15 iterations (one range holds at most 10^5): only the work budget stops it.
    let src = "{% for i in range(100000) %}{% for j in range(100000) %}{% for k in range(100000) %}{% endfor %}{% endfor %}{% endfor %}";
    assert_refused("nested loops", src, "work budget");
}

#[test]
fn template_recursion_without_end_is_refused() {
    let src = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
    assert_refused("recursive macro", src, "recursion");
}

#[test]
fn template_gigabyte_strings_are_refused() {
    let cases = [
        ("repetition", "{{ 'x' * 1000000000 }}"),
        (
            "doubling in a namespace",
            "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        ),
        (
            "doubling by recursion",
            "{% macro d(s, n) %}{% if n > 0 %}{{ d(s ~ s ~ s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}{{ d('x', 15) }}",
        ),
        ("huge output", "{% for i in range(100000) %}{{ 'y' * 100000 }}{% endfor %}"),
    ];
    for (name, src) in cases {
        assert_refused(name, src, "work budget");
    }
}

/// Within the work budget, the prompt may still be no larger than its messages allow.
#[test]
fn template_output_far_larger_than_the_messages_is_refused() {
    let src = "{% for i in range(300) %}{{ 'y' * 100000 }}{% endfor %}";
    assert_refused("30 MB prompt for a 2-byte message", src, "allowed for");
}

/// The budget scales with the conversation: a long chat through a real template renders.
#[test]
fn template_limits_leave_long_real_conversations_alone() {
    let refs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/text/chat_template_refs.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let turn = "The quick brown fox jumps over the lazy dog. ".repeat(100);
    let messages: Vec<ChatMessage> = (0..400)
        .map(|i| ChatMessage::new(if i % 2 == 0 { "user" } else { "assistant" }, turn.clone()))
        .collect();
    let input: usize = messages.iter().map(|m| m.content.len()).sum();
    for case in refs["cases"].as_array().unwrap() {
        let src = case["template"].as_str().unwrap();
        let out = render_bounded(src, messages.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", case["name"]));
        assert!(out.len() >= input, "{}: output lost text", case["name"]);
    }
}
