//! Tokenizer against llama.cpp: token ids for the SmolLM2 GGUF vocabulary (byte-level BPE,
//! pre "smollm") and llama.cpp's llama-spm test vocabulary (SentencePiece), the same
//! SmolLM2 vocabulary as a HF tokenizer.json, decoding and streaming.
//! Fixtures: tools/text_fixtures/make_token_refs.py (llama-cpp-python 0.3.36).

use std::path::PathBuf;

use lineage::text::{TokenStream, Tokenizer, VocabSpec};
use lineage::Error;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/text")
        .join(name)
}

fn read_json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

/// Maps the extracted `tokenizer.*` GGUF metadata onto a VocabSpec (as the GGUF loader does).
fn vocab_spec(name: &str) -> VocabSpec {
    let m = read_json(name);
    let strings = |k: &str| {
        m[k].as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
    };
    let id = |k: &str| m[k].as_u64().map(|v| v as u32);
    VocabSpec {
        model: m["ggml.model"].as_str().unwrap().into(),
        pre: m["ggml.pre"].as_str().map(Into::into),
        tokens: strings("ggml.tokens").unwrap(),
        scores: m["ggml.scores"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_f64().unwrap() as f32).collect()),
        token_types: m["ggml.token_type"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_i64().unwrap() as i32).collect()),
        merges: strings("ggml.merges").unwrap_or_default(),
        bos_id: id("ggml.bos_token_id"),
        eos_id: id("ggml.eos_token_id"),
        eot_id: id("ggml.eot_token_id"),
        unknown_id: id("ggml.unknown_token_id"),
        add_bos: m["ggml.add_bos_token"].as_bool(),
        add_eos: m["ggml.add_eos_token"].as_bool(),
        add_space_prefix: m["ggml.add_space_prefix"].as_bool(),
        chat_template: m["chat_template"].as_str().map(Into::into),
    }
}

/// Expands a sparse vocabulary (make_sparse_bpe_refs.py): ids without a kept token get an
/// unused placeholder that no text can produce.
fn sparse_vocab_spec(name: &str) -> VocabSpec {
    let m = read_json(name);
    let n = m["ggml.n_tokens"].as_u64().unwrap() as usize;
    let mut tokens: Vec<String> = (0..n).map(|i| format!("\u{E000}{i}")).collect();
    let mut types = vec![5; n];
    for (id, text) in m["ggml.sparse_tokens"].as_object().unwrap() {
        let id: usize = id.parse().unwrap();
        tokens[id] = text.as_str().unwrap().into();
        types[id] = 1;
    }
    for (id, ty) in m["ggml.sparse_token_type"].as_object().unwrap() {
        types[id.parse::<usize>().unwrap()] = ty.as_i64().unwrap() as i32;
    }
    let merges = m["ggml.merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    VocabSpec {
        model: m["ggml.model"].as_str().unwrap().into(),
        pre: m["ggml.pre"].as_str().map(Into::into),
        tokens,
        token_types: Some(types),
        merges,
        bos_id: m["ggml.bos_token_id"].as_u64().map(|v| v as u32),
        eos_id: m["ggml.eos_token_id"].as_u64().map(|v| v as u32),
        add_bos: m["ggml.add_bos_token"].as_bool(),
        ..VocabSpec::default()
    }
}

struct Case {
    text: String,
    ids: Vec<u32>,
    decoded: Option<String>,
}

fn cases(name: &str) -> Vec<Case> {
    read_json(name)["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            text: c["text"].as_str().unwrap().into(),
            ids: c["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect(),
            decoded: c["decoded"].as_str().map(Into::into),
        })
        .collect()
}

/// Every case encodes to llama.cpp's ids; failures list text and the first differing index.
fn assert_encodes(tok: &Tokenizer, cases: &[Case]) {
    let mut failures = Vec::new();
    for c in cases {
        let got = tok.encode(&c.text, false).unwrap();
        if got != c.ids {
            let at = got
                .iter()
                .zip(&c.ids)
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(c.ids.len()));
            failures.push(format!(
                "{:?}: first difference at {at}\n  got  {got:?}\n  want {:?}",
                c.text, c.ids
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn smollm2() -> Tokenizer {
    Tokenizer::from_vocab(&vocab_spec("smollm2_vocab.json")).unwrap()
}

fn llama_spm() -> Tokenizer {
    Tokenizer::from_vocab(&vocab_spec("llama_spm_vocab.json")).unwrap()
}

#[test]
fn gguf_bpe_smollm2_prompts_match_llamacpp_ids() {
    let tok = smollm2();
    assert_encodes(&tok, &cases("smollm2_token_refs.json"));
    assert_encodes(&tok, &cases("smollm2_anchor_prompts.json"));
}

#[test]
fn gguf_bpe_smollm2_special_facts_match_metadata() {
    let tok = smollm2();
    assert_eq!(
        (tok.bos_id(), tok.eos_id(), tok.add_bos(), tok.add_eos()),
        (Some(1), Some(2), false, false)
    );
    assert_eq!(tok.eos_ids(), &[0, 2]); // <|endoftext|> and <|im_end|>
    assert_eq!(tok.token_to_id("<|im_start|>"), Some(1));
    assert_eq!(tok.encode("", true).unwrap(), Vec::<u32>::new());
    assert!(tok.chat_template().unwrap().contains("<|im_start|>"));
}

#[test]
fn gguf_bpe_smollm2_decode_matches_llamacpp_text() {
    let tok = smollm2();
    for c in cases("smollm2_token_refs.json") {
        assert_eq!(
            tok.decode(&c.ids).unwrap(),
            c.decoded.unwrap(),
            "ids {:?}",
            c.ids
        );
    }
    assert_eq!(
        tok.decode_skip_special(&[1, 4093, 198, 2]).unwrap(),
        "user\n"
    );
}

#[test]
fn gguf_spm_llama_prompts_match_llamacpp_ids() {
    assert_encodes(&llama_spm(), &cases("llama_spm_token_refs.json"));
}

#[test]
fn gguf_spm_llama_decode_matches_llamacpp_without_prefix_space() {
    let tok = llama_spm();
    assert!(tok.add_bos());
    assert_eq!(tok.encode("Hello", true).unwrap(), vec![1, 15043]);
    for c in cases("llama_spm_token_refs.json") {
        let want = c.decoded.unwrap();
        // llama.cpp keeps the added prefix space when not removing specials; HF and we drop it.
        let want = want.strip_prefix(' ').unwrap_or(&want);
        assert_eq!(tok.decode(&c.ids).unwrap(), want, "ids {:?}", c.ids);
    }
}

#[test]
fn token_stream_pushed_one_by_one_equals_full_decode() {
    for (tok, file) in [
        (smollm2(), "smollm2_token_refs.json"),
        (llama_spm(), "llama_spm_token_refs.json"),
    ] {
        for c in cases(file) {
            let mut stream = TokenStream::new(&tok, false);
            let mut text = String::new();
            for &id in &c.ids {
                let piece = stream.push(id).unwrap();
                assert!(
                    !piece.contains('\u{FFFD}') || c.text.contains('\u{FFFD}'),
                    "partial char in {piece:?}"
                );
                text.push_str(&piece);
            }
            text.push_str(&stream.finish().unwrap());
            assert_eq!(text, tok.decode(&c.ids).unwrap(), "{file}: {:?}", c.text);
        }
    }
}

#[test]
fn token_stream_split_emoji_waits_for_last_byte() {
    let tok = llama_spm();
    let ids = tok.encode("🦙", false).unwrap(); // byte fallback: ▁ + 4 byte tokens
    let mut stream = TokenStream::new(&tok, false);
    let pieces: Vec<String> = ids.iter().map(|&id| stream.push(id).unwrap()).collect();
    assert_eq!(pieces.concat(), "🦙");
    assert!(pieces[..pieces.len() - 1].iter().all(|p| !p.contains('🦙')));
}

#[test]
fn hf_tokenizer_json_smollm2_matches_llamacpp_ids() {
    let tok = Tokenizer::from_files(
        &fixture("smollm2_tokenizer.json"),
        Some(&fixture("smollm2_tokenizer_config.json")),
    )
    .unwrap();
    assert_encodes(&tok, &cases("smollm2_token_refs.json"));
    assert_encodes(&tok, &cases("smollm2_anchor_prompts.json"));
    assert_eq!(
        (tok.bos_id(), tok.eos_id(), tok.add_bos()),
        (Some(1), Some(2), false)
    );
    assert_eq!(tok.eos_ids(), &[0, 2]);
    let ids = tok.encode("Hello 🦙 world", false).unwrap();
    assert_eq!(tok.decode(&ids).unwrap(), "Hello 🦙 world");
    assert!(tok.chat_template().is_some());
}

#[test]
fn from_vocab_unknown_model_or_pre_is_unsupported_value() {
    let mut spec = vocab_spec("smollm2_vocab.json");
    spec.pre = Some("no-such-pre".into());
    assert!(
        matches!(Tokenizer::from_vocab(&spec), Err(Error::UnsupportedValue { key, .. }) if key == "tokenizer.ggml.pre")
    );
    spec.model = "rwkv".into();
    assert!(
        matches!(Tokenizer::from_vocab(&spec), Err(Error::UnsupportedValue { key, .. }) if key == "tokenizer.ggml.model")
    );
}

#[test]
fn from_vocab_inconsistent_lengths_are_invalid_config() {
    let mut spec = vocab_spec("llama_spm_vocab.json");
    spec.scores.as_mut().unwrap().pop();
    assert!(matches!(
        Tokenizer::from_vocab(&spec),
        Err(Error::InvalidConfig { .. })
    ));
    let mut spec = vocab_spec("smollm2_vocab.json");
    spec.bos_id = Some(1 << 20);
    assert!(matches!(
        Tokenizer::from_vocab(&spec),
        Err(Error::InvalidConfig { .. })
    ));
}

#[test]
fn decode_out_of_vocab_id_is_error() {
    let tok = smollm2();
    assert!(matches!(
        tok.decode(&[5, 49152]),
        Err(Error::TokenOutOfVocab { id: 49152, .. })
    ));
}

#[test]
fn gguf_spm_without_space_prefix_matches_llamacpp_ids() {
    // Gemma's GGUF files set tokenizer.ggml.add_space_prefix = false.
    let mut spec = vocab_spec("llama_spm_vocab.json");
    spec.add_space_prefix = Some(false);
    let tok = Tokenizer::from_vocab(&spec).unwrap();
    let cases = cases("llama_spm_no_prefix_token_refs.json");
    assert_encodes(&tok, &cases);
    for c in cases {
        assert_eq!(
            tok.decode(&c.ids).unwrap(),
            c.decoded.unwrap(),
            "ids {:?}",
            c.ids
        );
    }
}

#[test]
fn tokenizer_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Tokenizer>();
}

#[test]
fn gguf_bpe_llama3_and_qwen2_prompts_match_llamacpp_ids() {
    for (vocab, refs) in [
        ("llama_bpe_sparse_vocab.json", "llama_bpe_token_refs.json"),
        ("qwen2_sparse_vocab.json", "qwen2_token_refs.json"),
    ] {
        let tok = Tokenizer::from_vocab(&sparse_vocab_spec(vocab)).unwrap();
        let cases = cases(refs);
        assert_encodes(&tok, &cases);
        for c in cases {
            assert_eq!(
                tok.decode(&c.ids).unwrap(),
                c.decoded.unwrap(),
                "{vocab}: ids {:?}",
                c.ids
            );
        }
    }
}

#[test]
fn gguf_bpe_wrong_pre_variant_changes_ids() {
    // Guards the references above: the pre-tokenizer regex must matter for these prompts.
    let mut spec = sparse_vocab_spec("llama_bpe_sparse_vocab.json");
    spec.pre = Some("gpt-2".into());
    let tok = Tokenizer::from_vocab(&spec).unwrap();
    let differing = cases("llama_bpe_token_refs.json")
        .iter()
        .filter(|c| tok.encode(&c.text, false).unwrap() != c.ids)
        .count();
    assert!(differing >= 5, "only {differing} cases differ");
}

/// Found by the GGUF fuzz seeds (llama.cpp's converter output for the tiny fixtures):
/// a merge whose result is no token made the `tokenizers` crate panic when that result
/// was longer than every token. Such merges are not applied, as llama.cpp spells the
/// symbol out in bytes; the text still round-trips.
#[test]
fn gguf_bpe_merge_making_an_unknown_token_is_not_applied() {
    let tokens: Vec<String> = ["Ġ", "h", "i", "Ġh", "ĠĠ"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let spec = VocabSpec {
        model: "gpt2".into(),
        tokens,
        merges: vec!["Ġ h".into(), "Ġh i".into(), "ĠĠ ĠĠ".into()],
        ..VocabSpec::default()
    };
    let tok = Tokenizer::from_vocab(&spec).unwrap();
    let ids = tok.encode(" hi", false).unwrap();
    assert_eq!(
        ids,
        [3, 2],
        "`Ġ h` applies, `Ġh i` (no token `Ġhi`) does not"
    );
    assert_eq!(tok.decode(&ids).unwrap(), " hi");
}
