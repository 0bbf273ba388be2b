//! The training data pipeline on small data made here: BPE training, token files and
//! their errors, deterministic batches and the synthetic tasks. The oracle for token
//! counts is the tokenizer itself, encoding each document directly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lineage::train::data::bpe::{load_tokenizer, save_tokenizer};
use lineage::train::data::token_file::write_token_file;
use lineage::train::data::{
    prepare, train_bpe, write_synthetic, Batcher, BpeConfig, Corpus, Dataset, DocSplit,
    PrepareConfig, SyntheticConfig, SyntheticTask, TokenDtype, TokenFile, ENDOFTEXT_ID,
};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lineage-data-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// About 12 KB of English paragraphs with some non-ASCII, blank-line separated.
fn corpus_text() -> String {
    let subjects = [
        "The tokenizer",
        "A small model",
        "The trainer",
        "Every batch",
        "Café owners",
    ];
    let verbs = ["reads", "writes", "counts", "splits", "learns from"];
    let objects = [
        "the documents in order.",
        "naïve text with accents like déjà vu.",
        "files of tokens on disk.",
        "the validation split at the end.",
        "numbers such as 42 and 3.14159.",
    ];
    let mut paras = Vec::new();
    for p in 0..60 {
        let mut s = String::new();
        for k in 0..4 {
            let i = p * 7 + k * 3;
            s.push_str(&format!(
                "{} {} {} ",
                subjects[i % 5],
                verbs[(i / 5) % 5],
                objects[(i / 25 + k) % 5]
            ));
        }
        paras.push(s.trim_end().to_string());
    }
    paras.join("\n\n") + "\n"
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn small_cfg(vocab_size: usize) -> BpeConfig {
    BpeConfig {
        vocab_size,
        min_frequency: 2,
        docs: DocSplit::BlankLines,
    }
}

#[test]
fn bpe_train_ascii_accents_emoji_round_trip_exactly() {
    let tok =
        lineage::train::data::bpe::train_bpe_on(vec![corpus_text()], &small_cfg(400)).unwrap();
    for s in [
        "The trainer reads the documents in order.",
        "  leading spaces,\ttabs and\nnewlines\n\n",
        "naïve café, déjà vu, Ελληνικά, 日本語のテキスト",
        "emoji: 🦀🚀 👩‍👩‍👧 and ZWJ; unseen bytes \u{1F600}",
    ] {
        let ids = tok.encode(s, false).unwrap().get_ids().to_vec();
        let back = tok.decode(&ids, true).unwrap();
        assert_eq!(back, s, "round trip of {s:?} via {} ids", ids.len());
    }
}

#[test]
fn bpe_train_endoftext_is_id_zero_and_added_as_bos() {
    let tok =
        lineage::train::data::bpe::train_bpe_on(vec![corpus_text()], &small_cfg(400)).unwrap();
    assert_eq!(tok.token_to_id("<|endoftext|>"), Some(ENDOFTEXT_ID));
    let with = tok.encode("hello", true).unwrap().get_ids().to_vec();
    let without = tok.encode("hello", false).unwrap().get_ids().to_vec();
    assert_eq!(with[0], ENDOFTEXT_ID);
    assert_eq!(&with[1..], &without[..]);
    assert_eq!(tok.get_vocab_size(true), 400);
}

#[test]
fn bpe_train_same_input_twice_gives_identical_tokenizer_json() {
    let dir = temp_dir("bpe-det");
    let input = write(&dir, "c.txt", &corpus_text());
    let corpus = Corpus::read(&[input]).unwrap();
    let a = train_bpe(&corpus, &small_cfg(500)).unwrap();
    let b = train_bpe(&corpus, &small_cfg(500)).unwrap();
    assert_eq!(a.to_string(false).unwrap(), b.to_string(false).unwrap());
    save_tokenizer(&a, &dir.join("t.json")).unwrap();
    let c = load_tokenizer(&dir.join("t.json")).unwrap();
    assert_eq!(a.to_string(false).unwrap(), c.to_string(false).unwrap());
}

#[test]
fn bpe_train_vocab_below_byte_alphabet_is_error_naming_minimum() {
    let err = lineage::train::data::bpe::train_bpe_on(vec!["abc"], &small_cfg(100))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("257"), "{err}");
}

/// Trains a tokenizer and prepares `text` into `dir/data`.
fn prepared(
    dir: &Path,
    text: &str,
    val_fraction: f64,
) -> (PrepareConfig, lineage::train::data::DataMeta) {
    let input = write(dir, "corpus.txt", text);
    let corpus = Corpus::read(std::slice::from_ref(&input)).unwrap();
    let tok = train_bpe(&corpus, &small_cfg(600)).unwrap();
    let tok_path = dir.join("tokenizer.json");
    save_tokenizer(&tok, &tok_path).unwrap();
    let cfg = PrepareConfig {
        inputs: vec![input],
        tokenizer: tok_path,
        out: dir.join("data"),
        val_fraction,
        docs: DocSplit::BlankLines,
    };
    let meta = prepare(&cfg).unwrap();
    (cfg, meta)
}

#[test]
fn prepare_small_corpus_tokens_and_bytes_match_direct_count() {
    let dir = temp_dir("prepare");
    let text = corpus_text();
    let (cfg, meta) = prepared(&dir, &text, 0.1);
    let tok = load_tokenizer(&cfg.out.join("tokenizer.json")).unwrap();
    let docs: Vec<&str> = text
        .split("\n\n")
        .map(|d| d.trim_end_matches('\n'))
        .collect();
    assert_eq!(meta.train_documents + meta.val_documents, docs.len() as u64);
    // Direct count: <|endoftext|> + ids per document, one more <|endoftext|> per split.
    let mut streams = [vec![], vec![]];
    let mut bytes = [0u64, 0];
    for (i, d) in docs.iter().enumerate() {
        let s = (i as u64 >= meta.train_documents) as usize;
        streams[s].push(ENDOFTEXT_ID);
        streams[s].extend(tok.encode(*d, false).unwrap().get_ids());
        bytes[s] += d.len() as u64;
    }
    streams.iter_mut().for_each(|s| s.push(ENDOFTEXT_ID));
    let ds = Dataset::open(&cfg.out).unwrap();
    assert_eq!(ds.train.to_vec(), streams[0]);
    assert_eq!(ds.val.to_vec(), streams[1]);
    assert_eq!(meta.train_tokens, streams[0].len() as u64);
    assert_eq!(meta.val_tokens, streams[1].len() as u64);
    assert_eq!(
        (meta.train_bytes, meta.val_bytes),
        (Some(bytes[0]), Some(bytes[1]))
    );
    assert_eq!(meta.dtype, TokenDtype::U16);
    // Tail split: the fewest trailing documents reaching 10% of the tokens.
    let total = (streams[0].len() + streams[1].len() - 2) as f64;
    let val = (streams[1].len() - 1) as f64;
    assert!(val >= 0.1 * total, "val {val} of {total}");
    let train_bytes = std::fs::metadata(cfg.out.join("train.bin")).unwrap().len();
    assert_eq!(train_bytes, 2 * meta.train_tokens);
    assert!(ds.tokenizer_path().is_some());
    // TokenFile::open takes dtype and vocabulary from the meta.json beside the file.
    let val = TokenFile::open(&cfg.out.join("val.bin")).unwrap();
    assert_eq!(
        (val.len(), val.vocab_size()),
        (meta.val_tokens, meta.vocab_size)
    );
}

#[test]
fn prepare_single_document_is_error_asking_for_two() {
    let dir = temp_dir("prepare-one");
    let input = write(&dir, "one.txt", "just one paragraph\nof two lines\n");
    let tok = train_bpe(
        &Corpus::read(std::slice::from_ref(&input)).unwrap(),
        &small_cfg(300),
    )
    .unwrap();
    save_tokenizer(&tok, &dir.join("t.json")).unwrap();
    let cfg = PrepareConfig {
        inputs: vec![input],
        tokenizer: dir.join("t.json"),
        out: dir.join("data"),
        val_fraction: 0.05,
        docs: DocSplit::BlankLines,
    };
    let err = prepare(&cfg).err().unwrap().to_string();
    assert!(
        err.contains("1 document") && err.contains("at least 2"),
        "{err}"
    );
    let err = prepare(&PrepareConfig {
        val_fraction: 1.0,
        ..cfg
    })
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("val_fraction"), "{err}");
}

#[test]
fn prepare_non_utf8_input_is_error_naming_file() {
    let dir = temp_dir("prepare-bin");
    let p = dir.join("bad.txt");
    std::fs::write(&p, [b'a', 0xff, b'b']).unwrap();
    let err = Corpus::read(&[p]).err().unwrap().to_string();
    assert!(err.contains("bad.txt") && err.contains("UTF-8"), "{err}");
}

#[test]
fn token_file_bad_lengths_and_ids_are_errors_naming_the_problem() {
    let dir = temp_dir("tokfile");
    let empty = write(&dir, "empty.bin", "");
    let err = TokenFile::open_with(&empty, TokenDtype::U16, 10)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("empty.bin") && err.contains("empty token file"),
        "{err}"
    );
    let odd = dir.join("odd.bin");
    std::fs::write(&odd, [1u8, 0, 2]).unwrap();
    let err = TokenFile::open_with(&odd, TokenDtype::U16, 10)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("3 bytes") && err.contains("whole number of u16"),
        "{err}"
    );
    let err = TokenFile::open_with(&odd, TokenDtype::U32, 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("whole number of u32"), "{err}");
    let big = dir.join("big.bin");
    write_token_file(&big, TokenDtype::U16, &[1, 2, 10, 3]).unwrap();
    let err = TokenFile::open_with(&big, TokenDtype::U16, 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("token 2 has id 10 >= vocab_size 10"), "{err}");
    let err = TokenFile::open(&big).unwrap_err().to_string();
    assert!(
        err.contains("meta.json") && err.contains("not a data folder"),
        "{err}"
    );
}

#[test]
fn token_file_u32_ids_round_trip() {
    let dir = temp_dir("tokfile32");
    let p = dir.join("t.bin");
    let ids = vec![0, 70_000, 65_536, 5];
    write_token_file(&p, TokenDtype::U32, &ids).unwrap();
    assert_eq!(TokenDtype::for_vocab(70_001), TokenDtype::U32);
    assert_eq!(TokenDtype::for_vocab(65_536), TokenDtype::U16);
    let f = TokenFile::open_with(&p, TokenDtype::U32, 70_001).unwrap();
    assert_eq!(f.to_vec(), ids);
    let err = write_token_file(&p, TokenDtype::U16, &ids)
        .unwrap_err()
        .to_string();
    assert!(err.contains("70000"), "{err}");
}

#[test]
fn dataset_truncated_train_file_is_error() {
    let dir = temp_dir("truncated");
    let (cfg, meta) = prepared(&dir, &corpus_text(), 0.1);
    let train = cfg.out.join("train.bin");
    let bytes = std::fs::read(&train).unwrap();
    std::fs::write(&train, &bytes[..bytes.len() - 2]).unwrap();
    let err = Dataset::open(&cfg.out).unwrap_err().to_string();
    let want = format!(
        "{} tokens but meta.json says {}",
        meta.train_tokens - 1,
        meta.train_tokens
    );
    assert!(err.contains("train.bin") && err.contains(&want), "{err}");
    std::fs::write(&train, &bytes[..bytes.len() - 1]).unwrap();
    let err = Dataset::open(&cfg.out).unwrap_err().to_string();
    assert!(err.contains("whole number of u16"), "{err}");
    let err = Dataset::open(&dir.join("nowhere")).unwrap_err().to_string();
    assert!(err.contains("no such data folder"), "{err}");
}

/// A token file whose token at index i is `i % vocab`, so a window's content shows its start.
fn counting_file(dir: &Path, n: u32, vocab: u32) -> TokenFile {
    let p = dir.join("count.bin");
    let ids: Vec<u32> = (0..n).map(|i| i % vocab).collect();
    write_token_file(&p, TokenDtype::U16, &ids).unwrap();
    TokenFile::open_with(&p, TokenDtype::U16, vocab as usize).unwrap()
}

#[test]
fn batcher_same_seed_and_step_give_identical_batches() {
    let dir = temp_dir("batch-det");
    let f = counting_file(&dir, 10_000, 60_000);
    let a = Batcher::new(&f, 16, 4, 7).unwrap();
    let b = Batcher::new(&f, 16, 4, 7).unwrap();
    for step in [0, 1, 5, 1_000] {
        assert_eq!(a.batch(step, 0), b.batch(step, 0), "step {step}");
    }
    assert_eq!(a.batch(3, 0).len(), 4 * 17);
    assert_ne!(a.batch(0, 0), a.batch(1, 0));
    let other_seed = Batcher::new(&f, 16, 4, 8).unwrap();
    assert_ne!(a.batch(0, 0), other_seed.batch(0, 0));
    let accum = Batcher::new(&f, 16, 4, 7).unwrap().with_micro_steps(2);
    assert_ne!(accum.batch(0, 0), accum.batch(0, 1));
}

#[test]
fn batcher_one_epoch_covers_every_window_exactly_once() {
    let dir = temp_dir("batch-epoch");
    let (seq_len, batch, micro) = (8usize, 3usize, 2u32);
    let f = counting_file(&dir, 8 * 50 + 1, 60_000); // exactly 50 windows
    let b = Batcher::new(&f, seq_len, batch, 11)
        .unwrap()
        .with_micro_steps(micro);
    assert_eq!(b.windows_per_epoch(), 50);
    for epoch in 0..2u64 {
        let mut seen = vec![0u32; 50];
        // Draws epoch*50 .. epoch*50+50, walked through (step, micro, row).
        for d in epoch * 50..epoch * 50 + 50 {
            let per_micro = batch as u64;
            let (sm, row) = (d / per_micro, (d % per_micro) as usize);
            let (step, m) = (sm / micro as u64, (sm % micro as u64) as u32);
            let w = b.window_index(step, m, row);
            let tokens = &b.batch(step, m)[row * (seq_len + 1)..(row + 1) * (seq_len + 1)];
            let expect: Vec<u32> = (0..=seq_len as u32).map(|i| w as u32 * 8 + i).collect();
            assert_eq!(tokens, &expect[..], "draw {d} window {w}");
            seen[w as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c == 1), "epoch {epoch}: {seen:?}");
    }
    // A new epoch has a new order.
    let e0: Vec<u64> = (0..50)
        .map(|r| Batcher::new(&f, 8, 50, 11).unwrap().window_index(0, 0, r))
        .collect();
    let e1: Vec<u64> = (0..50)
        .map(|r| Batcher::new(&f, 8, 50, 11).unwrap().window_index(1, 0, r))
        .collect();
    assert_ne!(e0, e1);
}

#[test]
fn batcher_file_smaller_than_one_window_is_error_with_counts() {
    let dir = temp_dir("batch-small");
    let f = counting_file(&dir, 16, 100);
    let err = Batcher::new(&f, 16, 2, 0).unwrap_err().to_string();
    assert!(
        err.contains("count.bin") && err.contains("has 16 tokens") && err.contains("17"),
        "{err}"
    );
    assert_eq!(Batcher::new(&f, 15, 2, 0).unwrap().windows_per_epoch(), 1);
}

#[test]
fn eval_windows_walk_the_file_in_order_every_time() {
    let dir = temp_dir("eval");
    let f = counting_file(&dir, 100, 1000);
    let b = Batcher::new(&f, 10, 2, 5).unwrap();
    let all: Vec<Vec<u32>> = b.eval_windows(usize::MAX).collect();
    assert_eq!(all.len(), 9); // (100 - 1) / 10
    for (k, w) in all.iter().enumerate() {
        assert_eq!(w, &(k as u32 * 10..k as u32 * 10 + 11).collect::<Vec<_>>());
    }
    assert_eq!(b.eval_windows(3).collect::<Vec<_>>(), all[..3].to_vec());
}

fn synthetic(dir: &Path, task: SyntheticTask, seed: u64) -> Dataset {
    let cfg = SyntheticConfig {
        task,
        vocab_size: 64,
        seq_len: 32,
        train_tokens: 32 * 200,
        val_tokens: None,
        seed,
        out: dir.join(format!("{task:?}-{seed}")),
    };
    write_synthetic(&cfg).unwrap();
    Dataset::open(&cfg.out).unwrap()
}

#[test]
fn synthetic_recall_answer_is_the_value_of_the_queried_key() {
    let dir = temp_dir("recall");
    let ds = synthetic(&dir, SyntheticTask::Recall, 3);
    let lay = ds.meta.synthetic.clone().unwrap();
    assert_eq!(ds.meta.train_tokens, 200 * 32 + 1);
    let b = Batcher::new(&ds.train, 32, 1, 0).unwrap();
    assert_eq!(b.windows_per_epoch(), 200);
    let mut answers = 0;
    for seq in b.eval_windows(usize::MAX) {
        assert_eq!((seq[0], seq[32]), (0, 0), "window = sequence + next BOS");
        let n = lay.items;
        let pairs: HashMap<u32, u32> = (0..n).map(|i| (seq[1 + 2 * i], seq[2 + 2 * i])).collect();
        assert_eq!(pairs.len(), n, "keys distinct");
        assert_eq!(seq[2 * n + 1], lay.sep_id);
        for &p in &lay.answer_positions {
            let key = seq[p - 1];
            assert!((lay.key_range[0]..lay.key_range[1]).contains(&key));
            assert_eq!(seq[p], pairs[&key], "answer at {p} for key {key}");
            answers += 1;
        }
    }
    assert!(answers >= 200 * 7, "{answers}");
}

#[test]
fn synthetic_copy_second_segment_repeats_the_first() {
    let dir = temp_dir("copy");
    let ds = synthetic(&dir, SyntheticTask::Copy, 1);
    let lay = ds.meta.synthetic.clone().unwrap();
    let l = lay.items;
    assert_eq!(lay.answer_positions, (l + 2..2 * l + 2).collect::<Vec<_>>());
    let b = Batcher::new(&ds.val, 32, 1, 0).unwrap();
    for seq in b.eval_windows(usize::MAX) {
        assert_eq!(seq[l + 1], lay.sep_id);
        for &p in &lay.answer_positions {
            assert_eq!(seq[p], seq[p - l - 1], "copy at {p}");
        }
    }
}

#[test]
fn synthetic_same_seed_same_files_other_seed_differs() {
    let dir = temp_dir("synth-det");
    let a = synthetic(&dir.join("a"), SyntheticTask::Recall, 9);
    let b = synthetic(&dir.join("b"), SyntheticTask::Recall, 9);
    let c = synthetic(&dir.join("c"), SyntheticTask::Recall, 10);
    assert_eq!(a.train.to_vec(), b.train.to_vec());
    assert_eq!(a.val.to_vec(), b.val.to_vec());
    assert_ne!(a.train.to_vec(), c.train.to_vec());
    assert_ne!(a.train.to_vec()[..32 * 10], a.val.to_vec()[..32 * 10]);
}

#[test]
fn synthetic_vocab_too_small_for_keys_is_error_naming_fix() {
    let cfg = SyntheticConfig {
        task: SyntheticTask::Recall,
        vocab_size: 10,
        seq_len: 64,
        train_tokens: 1000,
        val_tokens: None,
        seed: 0,
        out: temp_dir("synth-small"),
    };
    let err = write_synthetic(&cfg).unwrap_err().to_string();
    assert!(err.contains("--vocab >= 32"), "{err}");
}
