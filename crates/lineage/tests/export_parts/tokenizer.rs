//! The tokenizer in exports: llama.cpp's converter output for SmolLM2 (tokens, types,
//! merges, pre-tokenizer, special ids) is the oracle for what we write from its
//! tokenizer.json; a byte-level BPE trained with the `tokenizers` crate (as the trainer
//! does) must encode the same through the exported GGUF and HF folder as through
//! `tokenizers` itself.

use std::path::{Path, PathBuf};

use lineage::train::export::{gguf_vocab_kvs, tokenizer_json, write_gguf, write_hf, GgufDtype};
use lineage::weights::gguf::MetaValue;
use serde_json::Value;

use crate::support::{run_of, scratch};

fn text_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/text")
        .join(name)
}

#[test]
fn export_tokenizer_smollm2_equals_llama_cpp_vocab() {
    let dir = scratch("tok_smollm2");
    std::fs::copy(
        text_fixture("smollm2_tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
    std::fs::copy(
        text_fixture("smollm2_tokenizer_config.json"),
        dir.join("tokenizer_config.json"),
    )
    .unwrap();
    let want: Value =
        serde_json::from_str(&std::fs::read_to_string(text_fixture("smollm2_vocab.json")).unwrap())
            .unwrap();
    let n = want["ggml.tokens"].as_array().unwrap().len();
    let tok = tokenizer_json::read(&dir.join("tokenizer.json"), n).unwrap();
    let kvs = gguf_vocab_kvs(Some(&tok), n).unwrap();
    let get = |k: &str| {
        kvs.iter()
            .find(|(key, _)| key == &format!("tokenizer.{k}"))
            .map(|(_, v)| v.clone())
    };
    // Not compared: `unknown_token_id` and `padding_token_id`, which the converter took from
    // files of the original repo that the fixture does not carry.
    for key in [
        "ggml.tokens",
        "ggml.merges",
        "ggml.token_type",
        "ggml.model",
        "ggml.pre",
        "ggml.bos_token_id",
        "ggml.eos_token_id",
        "ggml.add_bos_token",
        "chat_template",
    ] {
        let ours = get(key).unwrap_or_else(|| panic!("`tokenizer.{key}` not written"));
        assert_eq!(to_json(&ours), want[key], "tokenizer.{key}");
    }
}

fn to_json(v: &MetaValue) -> Value {
    match v {
        MetaValue::String(s) => Value::from(s.clone()),
        MetaValue::Bool(b) => Value::from(*b),
        MetaValue::Array(a) => Value::Array(a.iter().map(|v| to_json(&v)).collect()),
        other => Value::from(other.as_i128().expect("integer") as i64),
    }
}

const CORPUS: &str = "The quick brown fox jumps over the lazy dog. It was 1984 and 2024 at once; \
    the dog didn't mind, the fox wasn't sure. Ünïcödé text, tabs\tand\nnewlines too. ";

/// A byte-level BPE trained by the `tokenizers` crate with `<|endoftext|>` as its only
/// special token (the setup of a trainer's tokenizer), saved as `dir/tokenizer.json`.
fn trained_tokenizer(dir: &Path, vocab: usize) -> PathBuf {
    use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
    use tokenizers::models::TrainerWrapper;
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    use tokenizers::{AddedToken, Tokenizer};
    let mut tok = Tokenizer::new(BPE::default());
    tok.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tok.with_decoder(Some(ByteLevel::default()));
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab)
        .min_frequency(0)
        .show_progress(false)
        .special_tokens(vec![AddedToken::from("<|endoftext|>", true)])
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    let corpus = vec![CORPUS.repeat(20)];
    tok.train(&mut trainer, corpus.into_iter()).unwrap();
    let path = dir.join("trained_tokenizer.json");
    tok.save(&path, false).unwrap();
    path
}

const PROBES: &[&str] = &[
    "The quick brown fox",
    "didn't 1984 jumps<|endoftext|>over",
    "  two spaces, Ünïcödé and\ttabs\n\nnewlines",
    "zebra xylophone — unseen words",
];

fn reference_ids(json: &Path, text: &str) -> Vec<u32> {
    let t = tokenizers::Tokenizer::from_file(json).unwrap();
    t.encode(text, false).unwrap().get_ids().to_vec()
}

#[test]
fn export_tokenizer_trained_bpe_encodes_as_tokenizers_crate() {
    let dir = scratch("tok_trained");
    let json = trained_tokenizer(&dir, 300);
    let run = run_of("llama", &dir, Some(&json)); // vocab 320 > 300: [PAD] rows
    let tok_path = run.tokenizer.clone().expect("run has a tokenizer");
    let gguf = dir.join("m.gguf");
    write_gguf(
        &run.cfg,
        &run.weights,
        Some(&tok_path),
        GgufDtype::F32,
        &gguf,
    )
    .unwrap();
    let hf = dir.join("hf");
    write_hf(&run.cfg, &run.weights, Some(&tok_path), &hf).unwrap();
    for (what, path) in [("GGUF", &gguf), ("HF", &hf)] {
        let t = lineage::load_tokenizer(path).unwrap_or_else(|e| panic!("{what}: {e}"));
        for p in PROBES {
            assert_eq!(
                t.encode(p, false).unwrap(),
                reference_ids(&json, p),
                "{what}: ids of {p:?}"
            );
        }
        let eos = t.eos_id().unwrap_or_else(|| panic!("{what}: no EOS"));
        assert_eq!(
            t.id_to_token(eos).as_deref(),
            Some("<|endoftext|>"),
            "{what}: EOS"
        );
    }
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(hf.join("config.json")).unwrap()).unwrap();
    let eos = reference_ids(&json, "<|endoftext|>")[0];
    assert_eq!(cfg["eos_token_id"], eos);
    assert_eq!(
        cfg["bos_token_id"], eos,
        "GPT-2 convention: <|endoftext|> is BOS too"
    );
    let f = lineage::weights::gguf::GgufFile::open(&gguf).unwrap();
    let types = f
        .metadata()
        .get_i32_array("tokenizer.ggml.token_type")
        .unwrap();
    assert_eq!(types.len(), 320);
    assert_eq!(types[eos as usize], tokenizer_json::CONTROL);
    assert!(
        types[300..].iter().all(|&t| t == tokenizer_json::UNUSED),
        "padding rows"
    );
    assert_eq!(f.metadata().get_str("tokenizer.ggml.pre").unwrap(), "gpt-2");
}

/// The tokenizer `lineage train` makes (`train::data::bpe`: `<|endoftext|>` id 0, added
/// as BOS by the post-processor): the GGUF says add_bos with BOS = EOS = 0, and encoding
/// with specials through the exported GGUF gives the `tokenizers` ids, BOS included.
#[test]
fn export_tokenizer_lineage_trained_bpe_keeps_its_bos() {
    use lineage::train::data::bpe::{save_tokenizer, train_bpe_on, BpeConfig};
    let dir = scratch("tok_lineage_bpe");
    let cfg = BpeConfig {
        vocab_size: 300,
        min_frequency: 1,
        ..Default::default()
    };
    let tok = train_bpe_on(vec![CORPUS.repeat(20)], &cfg).unwrap();
    let json = dir.join("trained_tokenizer.json");
    save_tokenizer(&tok, &json).unwrap();
    let run = run_of("llama", &dir, Some(&json));
    let gguf = dir.join("m.gguf");
    write_gguf(
        &run.cfg,
        &run.weights,
        run.tokenizer.as_deref(),
        GgufDtype::F32,
        &gguf,
    )
    .unwrap();
    let f = lineage::weights::gguf::GgufFile::open(&gguf).unwrap();
    let m = f.metadata();
    assert!(m.get_bool("tokenizer.ggml.add_bos_token").unwrap());
    assert_eq!(m.get_u32("tokenizer.ggml.bos_token_id").unwrap(), 0);
    assert_eq!(m.get_u32("tokenizer.ggml.eos_token_id").unwrap(), 0);
    let t = lineage::load_tokenizer(&gguf).unwrap();
    let reference = tokenizers::Tokenizer::from_file(&json).unwrap();
    for p in PROBES {
        let want = reference.encode(*p, true).unwrap().get_ids().to_vec();
        assert_eq!(want[0], 0, "the trainer's tokenizer adds BOS");
        assert_eq!(
            t.encode(p, true).unwrap(),
            want,
            "ids of {p:?} with specials"
        );
    }
}
