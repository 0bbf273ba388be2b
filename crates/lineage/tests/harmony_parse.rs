//! Harmony text read back into messages: conversations the renderer writes, completions
//! with analysis, final answers and tool calls, and text cut short.

use lineage::text::{
    parse_completion, parse_conversation, ChatMessage, HarmonyEnd, HarmonyMessage, HarmonyRenderer,
};

fn msg(role: &str, channel: Option<&str>, content: &str, end: HarmonyEnd) -> HarmonyMessage {
    HarmonyMessage {
        role: role.into(),
        channel: channel.map(Into::into),
        recipient: None,
        content_type: None,
        content: content.into(),
        end,
    }
}

#[test]
fn a_rendered_conversation_parses_back_to_its_messages() {
    let turns = [
        ChatMessage::new("system", "Answer briefly."),
        ChatMessage::new("user", "Capital of France?"),
        ChatMessage::new("assistant", "Paris."),
        ChatMessage::new("user", "And of Italy? <|not a token"),
    ];
    let text = HarmonyRenderer::default().render(&turns, false).unwrap();
    let got = parse_conversation(&text).unwrap();
    let roles: Vec<&str> = got.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["system", "developer", "user", "assistant", "user"]);
    assert!(got[1].content.contains("Answer briefly."));
    assert_eq!(
        got[2],
        msg("user", None, "Capital of France?", HarmonyEnd::End)
    );
    assert_eq!(
        got[3],
        msg("assistant", Some("final"), "Paris.", HarmonyEnd::End)
    );
    assert_eq!(got[4].content, "And of Italy? <|not a token");
}

#[test]
fn a_completion_with_analysis_then_final_answer() {
    let text = "<|channel|>analysis<|message|>User asks capital. Easy.<|end|>\
                <|start|>assistant<|channel|>final<|message|>Paris.<|return|>";
    assert_eq!(
        parse_completion(text).unwrap(),
        [
            msg(
                "assistant",
                Some("analysis"),
                "User asks capital. Easy.",
                HarmonyEnd::End
            ),
            msg("assistant", Some("final"), "Paris.", HarmonyEnd::Return),
        ]
    );
}

#[test]
fn tool_calls_name_their_recipient_and_content_type() {
    // The recipient may sit in the channel part or in the role part.
    let a = "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}<|call|>";
    let b = " to=functions.get_weather<|channel|>commentary json<|message|>{\"city\":\"Paris\"}<|call|>";
    for text in [a, b] {
        let m = &parse_completion(text).unwrap()[0];
        assert_eq!(
            m.recipient.as_deref(),
            Some("functions.get_weather"),
            "{text}"
        );
        assert_eq!(m.channel.as_deref(), Some("commentary"), "{text}");
        assert_eq!(m.content_type.as_deref(), Some("json"), "{text}");
        assert_eq!(
            (m.content.as_str(), m.end),
            ("{\"city\":\"Paris\"}", HarmonyEnd::Call)
        );
    }
}

#[test]
fn text_cut_short_is_truncated_not_an_error() {
    let m = parse_completion("<|channel|>final<|message|>Par").unwrap();
    assert_eq!(
        m,
        [msg(
            "assistant",
            Some("final"),
            "Par",
            HarmonyEnd::Truncated
        )]
    );
    let m = parse_completion("<|channel|>fin").unwrap();
    assert_eq!(
        (m[0].content.as_str(), m[0].end),
        ("", HarmonyEnd::Truncated)
    );
    // A new message begun without ending the last one.
    let m = parse_completion("<|channel|>analysis<|message|>hmm<|start|>assistant<|channel|>final<|message|>ok<|return|>").unwrap();
    assert_eq!(m[0].end, HarmonyEnd::Truncated);
    assert_eq!(
        (m[1].content.as_str(), m[1].end),
        ("ok", HarmonyEnd::Return)
    );
}

#[test]
fn text_outside_a_message_is_an_error_naming_where() {
    let e = parse_conversation("<|start|>user<|message|>hi<|end|>stray").unwrap_err();
    assert!(e.to_string().contains("byte 33"), "{e}");
}
