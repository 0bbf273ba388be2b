//! Constrained decoding (`text::grammar`, llguidance) on the real SmolLM2 vocabulary:
//! token bytes as the matcher sees them, masks that allow only valid continuations,
//! a forced token sequence that completes the document, and schemas that must fail.
//! The SmolLM2 tokenizer.json fixture needs no model; the GGUF checks use the cached
//! SmolLM2 and Gemma 3 files.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use lineage::runtime::constraint::Constraint;
use lineage::text::grammar::{Grammars, Structure};
use lineage::text::Tokenizer;
use serde_json::json;

fn hf_smollm2() -> Arc<Tokenizer> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/text");
    let tok = Tokenizer::from_files(
        &dir.join("smollm2_tokenizer.json"),
        Some(&dir.join("smollm2_tokenizer_config.json")),
    )
    .unwrap();
    Arc::new(tok)
}

fn gguf_tokenizer(file: &str, test: &str) -> Option<Tokenizer> {
    let path = lineage::cache::test_model(file, test)?;
    Some(lineage::load_tokenizer(&path).unwrap())
}

/// Each token's bytes, concatenated over an encoding, give back the text.
fn assert_pieces_spell(tok: &Tokenizer, text: &str) {
    let pieces = tok.token_pieces().unwrap();
    let ids = tok.encode(text, false).unwrap();
    let bytes: Vec<u8> = ids
        .iter()
        .flat_map(|&id| pieces[id as usize].bytes.clone())
        .collect();
    assert_eq!(String::from_utf8_lossy(&bytes), text, "ids {ids:?}");
}

const TEXTS: &[&str] = &[
    r#"{"name": "Zoë", "tags": ["a b", "ç"], "n": -1.5e3}"#,
    "  spaces\n\tand 🦙 emoji",
];

#[test]
fn token_pieces_smollm2_hf_and_gguf_agree_and_spell_the_text() {
    let hf = hf_smollm2();
    for t in TEXTS {
        assert_pieces_spell(&hf, t);
    }
    let Some(gguf) = gguf_tokenizer(lineage::cache::SMOLLM2_Q4_1, "token_pieces") else {
        return;
    };
    for t in TEXTS {
        assert_pieces_spell(&gguf, t);
    }
    let (a, b) = (hf.token_pieces().unwrap(), gguf.token_pieces().unwrap());
    assert_eq!(a.len(), b.len());
    let differ: Vec<usize> = (0..a.len()).filter(|&i| a[i].bytes != b[i].bytes).collect();
    assert!(differ.is_empty(), "ids whose bytes differ: {differ:?}");
    assert!(b[2].special && !b[100].special, "<|im_end|> is special");
}

#[test]
fn token_pieces_gemma3_sentencepiece_spell_the_text() {
    let Some(tok) = gguf_tokenizer(lineage::cache::GEMMA3_270M_Q4_K_M, "gemma_pieces") else {
        return;
    };
    for t in TEXTS {
        assert_pieces_spell(&tok, t);
    }
}

fn allowed(c: &mut dyn Constraint, n: usize) -> Vec<u32> {
    let mut logits = vec![0.0f32; n];
    c.mask(&mut logits).unwrap();
    (0..n as u32)
        .filter(|&i| logits[i as usize].is_finite())
        .collect()
}

fn schema() -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "age": {"type": "integer"},
            "color": {"enum": ["red", "green"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name", "age", "color", "tags"],
        "additionalProperties": false,
    })
}

#[test]
fn grammar_json_object_mask_at_start_allows_only_tokens_opening_an_object() {
    let tok = hf_smollm2();
    let g = Grammars::new(Arc::clone(&tok)).unwrap();
    let n = tok.vocab_size();
    let mut c = g.compile(&Structure::JsonObject).unwrap().start().unwrap();
    let ok = allowed(c.as_mut(), n);
    let pieces = tok.token_pieces().unwrap();
    assert!(ok.contains(&tok.token_to_id("{").unwrap()));
    for &id in &ok {
        assert!(
            pieces[id as usize].bytes.starts_with(b"{"),
            "{:?}",
            tok.decode(&[id])
        );
    }
    assert!(
        !ok.iter().any(|id| tok.eos_ids().contains(id)),
        "EOS before the object"
    );
    assert!(!c.done());
}

#[test]
fn grammar_schema_forced_tokens_complete_the_document_then_done() {
    let tok = hf_smollm2();
    let g = Grammars::new(Arc::clone(&tok)).unwrap();
    let n = tok.vocab_size();
    let text = r#"{"name": "Ann", "age": 41, "color": "green", "tags": ["x", "y z"]}"#;
    let ids = tok.encode(text, false).unwrap();
    let mut c = g
        .compile(&Structure::JsonSchema(schema()))
        .unwrap()
        .start()
        .unwrap();
    for (k, &id) in ids.iter().enumerate() {
        assert!(!c.done(), "done before token {k}");
        let ok = allowed(c.as_mut(), n);
        assert!(ok.contains(&id), "token {k} {:?} masked", tok.decode(&[id]));
        c.commit(id).unwrap();
    }
    assert!(c.done(), "the closing brace ends the document");
}

#[test]
fn grammar_schema_masks_wrong_types_enum_values_and_missing_properties() {
    let tok = hf_smollm2();
    let g = Grammars::new(Arc::clone(&tok)).unwrap();
    let n = tok.vocab_size();
    let compiled = g.compile(&Structure::JsonSchema(schema())).unwrap();
    let id = |t: &str| {
        let ids = tok.encode(t, false).unwrap();
        assert_eq!(ids.len(), 1, "{t:?} is one token");
        ids[0]
    };
    let push = |c: &mut dyn Constraint, text: &str| {
        for t in tok.encode(text, false).unwrap() {
            c.commit(t).unwrap();
        }
    };
    // After `"age": ` a digit or `-` may follow, a quote may not.
    let mut c = compiled.start().unwrap();
    push(c.as_mut(), r#"{"name": "A", "age": "#);
    let ok = allowed(c.as_mut(), n);
    assert!(ok.contains(&id("4")) && !ok.contains(&id("\"")));
    // The enum: "gr" may start "green", "bl" nothing.
    let mut c = compiled.start().unwrap();
    push(c.as_mut(), r#"{"name": "A", "age": 4, "color": ""#);
    let ok = allowed(c.as_mut(), n);
    assert!(ok.contains(&id("gr")) && !ok.contains(&id("bl")));
    // Properties come in order and all are required: no `}` after the first.
    let mut c = compiled.start().unwrap();
    push(c.as_mut(), r#"{"name": "A""#);
    let ok = allowed(c.as_mut(), n);
    assert!(ok.contains(&id(",")) && !ok.contains(&id("}")));
    // A committed token the mask did not allow is an error, not a silent pass.
    assert!(c.commit(id("}")).is_err());
}

#[test]
fn grammar_bad_or_hostile_schemas_fail_fast_with_the_library_message() {
    let tok = hf_smollm2();
    let g = Grammars::new(Arc::clone(&tok)).unwrap();
    let e = g
        .compile(&Structure::JsonSchema(json!({"type": "frobnicate"})))
        .unwrap_err()
        .to_string();
    assert!(e.contains("frobnicate"), "{e}");
    // Each is served or refused within a bounded time: regexes whose DFAs blow up,
    // recursion through `$ref`, deep nesting, and a 64 KiB schema whose first Earley row
    // is past `max_items_in_row`. `true`: it must be refused.
    let wide = |n: usize| {
        let props: serde_json::Map<_, _> = (0..n)
            .map(|i| {
                (
                    format!("p{i}"),
                    json!({"type": "array", "items": {"type": "object",
                "properties": {"a": {"type": "string"}, "b": {"type": "number"}}}}),
                )
            })
            .collect();
        json!({"type": "object", "properties": props})
    };
    assert!(wide(600).to_string().len() < 64 << 10);
    let deep = (0..60).fold(
        json!({"type": "integer"}),
        |inner, _| json!({"type": "object", "properties": {"a": inner}, "required": ["a"]}),
    );
    let cases = [
        (
            json!({"type": "string", "pattern": "^(a|b)*a(a|b){40}$"}),
            false,
        ),
        (
            json!({"type": "string", "pattern": "^((a{1,100}){1,100}){1,100}$"}),
            false,
        ),
        (
            json!({"type": "string", "pattern": "^(.{1,200}x){1,200}$"}),
            false,
        ),
        (
            json!({"type": "array", "items": {"type": "string", "pattern": "^[a-z]{1,5000}$"}}),
            false,
        ),
        (
            json!({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}),
            true,
        ),
        (
            json!({"$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "null"}]}},
                "$ref": "#/$defs/a"}),
            false,
        ),
        (deep, false),
        (wide(600), true),
    ];
    for (k, (s, must_fail)) in cases.into_iter().enumerate() {
        let t = Instant::now();
        // Compile, then drive 200 steps taking the lowest allowed token each time.
        let r = g.compile(&Structure::JsonSchema(s)).and_then(|c| {
            let mut c = c.start()?;
            let mut logits = vec![0.0f32; tok.vocab_size()];
            for _ in 0..200 {
                if c.done() {
                    break;
                }
                logits.fill(0.0);
                c.mask(&mut logits)?;
                let id = (0..logits.len()).find(|&i| logits[i].is_finite()).unwrap();
                c.commit(id as u32)?;
            }
            Ok(())
        });
        let took = t.elapsed();
        println!(
            "schema {k}: {:?} in {took:?}",
            r.as_ref().err().map(|e| e.to_string())
        );
        assert!(took.as_secs_f64() < 2.0, "schema {k} took {took:?}");
        if must_fail {
            assert!(r.is_err(), "schema {k} was served");
        }
    }
}

#[test]
fn grammar_mask_cost_per_token_on_smollm2_vocabulary() {
    let tok = hf_smollm2();
    let t = Instant::now();
    let g = Grammars::new(Arc::clone(&tok)).unwrap();
    let setup = t.elapsed();
    let text = r#"{"name": "Annabel Lee", "age": 41, "color": "green", "tags": ["kingdom", "by the sea", "many and many a year ago"]}"#;
    let ids = tok.encode(text, false).unwrap();
    let t = Instant::now();
    let compiled = g.compile(&Structure::JsonSchema(schema())).unwrap();
    let compile = t.elapsed();
    let mut c = compiled.start().unwrap();
    let mut logits = vec![0.0f32; tok.vocab_size()];
    let t = Instant::now();
    for &id in &ids {
        logits.fill(0.0);
        c.mask(&mut logits).unwrap();
        c.commit(id).unwrap();
    }
    let per = t.elapsed() / ids.len() as u32;
    println!(
        "vocab {}: setup {setup:?}, compile {compile:?}, mask+commit {per:?}/token over {} tokens",
        g.vocab_size(),
        ids.len()
    );
    assert!(per.as_millis() < 20, "mask+commit {per:?} per token");
}
