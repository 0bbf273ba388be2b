//! Harmony parsed as it streams (`HarmonyStream`, `HarmonyReply`): on completions shaped
//! as gpt-oss writes them, every split of the text (at each char, at every pair of
//! chars, one char per piece) gives the messages `parse_completion` gives for the whole
//! text; text that parser refuses still gives the same events however it is split;
//! content is released as soon as it cannot be the start of a special token.

use lineage::text::{
    messages_of, parse_completion, HarmonyEvent, HarmonyMessage, HarmonyPart, HarmonyReply,
    HarmonyStream,
};

/// Completions as the decoder hands them over: special tokens kept, the EOS (`<|return|>`,
/// `<|call|>`) left out, except where a test keeps it.
const COMPLETIONS: &[&str] = &[
    "<|channel|>analysis<|message|>User asks the capital of France. Answer briefly.<|end|>\
     <|start|>assistant<|channel|>final<|message|>Paris is the capital of France.",
    "<|channel|>analysis<|message|>Größe ≈ 3 µm; 日本語 😀; a<b, c <|x|> d, <|en d.<|end|>\
     <|start|>assistant<|channel|>final<|message|>Done: 😀 <| ok<|return|>",
    "<|channel|>analysis<|message|>Need the weather: call the tool.<|end|>\
     <|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json\
     <|message|>{\"city\":\"Paris\"}",
    " to=functions.get_time<|channel|>commentary json<|message|>{}<|call|>\
     <|start|>assistant<|channel|>final<|message|>Checking the time.<|return|>",
    "<|channel|>commentary<|message|>Let me look that up.<|end|>\
     <|start|>assistant<|channel|>commentary to=functions.search <|constrain|>json<|message|>{\"q\": \"rust\"}",
    "<|channel|>analysis<|message|>Thinking, cut by a new message<|start|>assistant\
     <|channel|>final<|message|>Answer.",
    "<|channel|>analysis<|message|>Cut inside the next header.<|end|><|start|>assistant<|channel|>fin",
    "<|channel|>analysis<|message|>Cut in the body <|ret",
    "<|channel|>ana",
    "",
];

fn streamed(pieces: &[&str]) -> Vec<HarmonyEvent> {
    let mut s = HarmonyStream::new();
    let mut events: Vec<HarmonyEvent> = pieces.iter().flat_map(|p| s.push(p)).collect();
    events.extend(s.finish());
    events
}

fn boundaries(text: &str) -> Vec<usize> {
    (0..=text.len())
        .filter(|&i| text.is_char_boundary(i))
        .collect()
}

/// Each split of `text` (one cut, two cuts, char by char) gives `expect`.
fn check_every_split(text: &str, expect: &[HarmonyMessage]) {
    let cuts = boundaries(text);
    for &i in &cuts {
        let got = messages_of(streamed(&[&text[..i], &text[i..]]));
        assert_eq!(got, expect, "{text:?} cut at byte {i}");
    }
    for (a, &i) in cuts.iter().enumerate() {
        for &j in &cuts[a..] {
            let got = messages_of(streamed(&[&text[..i], &text[i..j], &text[j..]]));
            assert_eq!(got, expect, "{text:?} cut at bytes {i} and {j}");
        }
    }
    let chars: Vec<String> = text.chars().map(String::from).collect();
    let pieces: Vec<&str> = chars.iter().map(String::as_str).collect();
    assert_eq!(
        messages_of(streamed(&pieces)),
        expect,
        "{text:?} char by char"
    );
}

#[test]
fn harmony_stream_any_split_of_a_completion_equals_parse_completion() {
    for text in COMPLETIONS {
        let whole = parse_completion(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert!(!whole.is_empty(), "{text:?}");
        check_every_split(text, &whole);
    }
}

#[test]
fn harmony_stream_text_parse_completion_refuses_splits_the_same_way() {
    for text in [
        "Plain text from a model that is not speaking harmony <|start|> at all",
        "analysisUser asks.assistantfinalParis.", // special tokens stripped
        "<|channel|>final<|message|>a<|end|>\n\n<|start|>assistant<|channel|>final<|message|>b",
        "<|channel|>final<|message|>a<|end|>stray text<|end|> more",
        "<|channel|>final<|message|>a<|return|>  ",
    ] {
        let whole = messages_of(streamed(&[text]));
        check_every_split(text, &whole);
    }
}

#[test]
fn harmony_stream_text_outside_messages_is_kept_as_messages_without_a_channel() {
    let plain = "Hello <|start|> world";
    let m = messages_of(streamed(&[plain]));
    assert_eq!(m.len(), 1);
    assert_eq!(
        (m[0].channel.as_deref(), m[0].content.as_str()),
        (None, plain)
    );
    let text = "<|channel|>final<|message|>a<|end|>\n\n<|start|>assistant<|channel|>final<|message|>b<|end|>stray";
    let m = messages_of(streamed(&[text]));
    let contents: Vec<&str> = m.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, ["a", "b", "stray"]);
    assert_eq!(m[2].channel, None);
}

#[test]
fn harmony_stream_releases_content_unless_it_may_be_a_special_token() {
    let mut s = HarmonyStream::new();
    assert_eq!(s.push("<|channel|>final<|mess"), vec![]);
    let started = s.push("age|>Hello wor");
    assert!(matches!(&started[0], HarmonyEvent::Start(m) if m.channel.as_deref() == Some("final")));
    assert_eq!(started[1..], [HarmonyEvent::Content("Hello wor".into())]);
    assert_eq!(s.push("ld <|en"), [HarmonyEvent::Content("ld ".into())]);
    // Not an end token after all: released.
    assert_eq!(s.push("try"), [HarmonyEvent::Content("<|entry".into())]);
    assert_eq!(s.push(" 1 < 2"), [HarmonyEvent::Content(" 1 < 2".into())]);
}

fn parts(pieces: &[&str]) -> (String, String, Vec<(String, String)>) {
    let mut r = HarmonyReply::new();
    let mut all: Vec<HarmonyPart> = pieces.iter().flat_map(|p| r.push(p)).collect();
    all.extend(r.finish());
    let (mut reasoning, mut answer, mut tools) = (String::new(), String::new(), Vec::new());
    for p in all {
        match p {
            HarmonyPart::Reasoning(t) => reasoning += &t,
            HarmonyPart::Answer(t) => answer += &t,
            HarmonyPart::ToTool { recipient, content } => tools.push((recipient, content)),
        }
    }
    (reasoning, answer, tools)
}

/// A completion, its reasoning, its answer and its tool messages (recipient, content).
type Case<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, &'a str)]);

#[test]
fn harmony_reply_splits_reasoning_answer_and_tool_messages_for_any_split() {
    let cases: [Case; 4] = [
        (
            COMPLETIONS[0],
            "User asks the capital of France. Answer briefly.",
            "Paris is the capital of France.",
            &[],
        ),
        (
            COMPLETIONS[2],
            "Need the weather: call the tool.",
            "",
            &[("functions.get_weather", "{\"city\":\"Paris\"}")],
        ),
        (
            COMPLETIONS[3],
            "",
            "Checking the time.",
            &[("functions.get_time", "{}")],
        ),
        (
            "analysisUser asks.assistantfinalParis.",
            "",
            "analysisUser asks.assistantfinalParis.",
            &[],
        ),
    ];
    for (text, reasoning, answer, tools) in cases {
        let tools: Vec<(String, String)> = tools
            .iter()
            .map(|(r, c)| (r.to_string(), c.to_string()))
            .collect();
        let expect = (reasoning.to_string(), answer.to_string(), tools);
        for i in boundaries(text) {
            assert_eq!(
                parts(&[&text[..i], &text[i..]]),
                expect,
                "{text:?} cut at {i}"
            );
        }
    }
}
