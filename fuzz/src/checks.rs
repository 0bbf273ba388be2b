//! The body of every fuzz target: what must hold for any input. The fuzz targets
//! (fuzz_targets/) call these; the normal test suite replays the seeds and every input a
//! fuzzer ever crashed on through them too (crates/lineage/tests/fuzz_regressions.rs),
//! so this file uses nothing but `lineage`, `serde_json` and `support.rs`.

use std::path::Path;
use std::sync::OnceLock;

use lineage::analysis::{flops, kv_cache, memory, params};
use lineage::families::{gguf_key_report_of, gguf_vocab_spec, load_gguf_file, GgufPrecision};
use lineage::kernels::quant::{ActPrecision, GgmlType, QMatrix};
use lineage::runtime::sampler::{argmax, Sampler, SamplerConfig};
use lineage::text::{
    parse_completion, parse_conversation, ChatMessage, ChatTemplate, HarmonyRenderer,
    HfTokenizerConfig, Tokenizer, VocabSpec,
};
use lineage::weights::gguf::{GgufFile, MetaValue};
use lineage::weights::safetensors::{read_header, shard_files};

use super::support::{byte_token, padded, vocab_spec_json, Bytes};

// --- gguf_parse ---
fn visit(v: &MetaValue) {
    if let MetaValue::Array(a) = v {
        assert!(a.iter().count() == a.len(), "array decodes to its length");
        a.iter().for_each(|e| visit(&e));
        let _ = a.strs().count();
    }
}
// --- gguf_vocab ---
fn real() -> &'static [(Tokenizer, bool)] {
    static T: OnceLock<Vec<(Tokenizer, bool)>> = OnceLock::new();
    T.get_or_init(|| {
        let bpe = include_str!("../../crates/lineage/tests/fixtures/text/smollm2_vocab.json");
        let spm = include_str!("../../crates/lineage/tests/fixtures/text/llama_spm_vocab.json");
        vec![
            (Tokenizer::from_vocab(&vocab_spec_json(bpe)).unwrap(), true),
            (Tokenizer::from_vocab(&vocab_spec_json(spm)).unwrap(), false),
        ]
    })
}

fn crafted(b: &mut Bytes) {
    let model = if b.u8() % 2 == 0 { "gpt2" } else { "llama" };
    let tokens = b.until(0xff);
    let spec = VocabSpec {
        model: model.into(),
        tokens: tokens
            .split(|&c| c == 0)
            .map(|t| String::from_utf8_lossy(t).into())
            .collect(),
        merges: b
            .until(0xff)
            .split(|&c| c == 1)
            .map(|t| String::from_utf8_lossy(t).into())
            .collect(),
        bos_id: Some(b.u32() % 300),
        eos_id: Some(b.u32()),
        ..VocabSpec::default()
    };
    if let Ok(tok) = Tokenizer::from_vocab(&spec) {
        let text = String::from_utf8_lossy(b.rest());
        if let Ok(ids) = tok.encode(&text, true) {
            let _ = tok.decode(&ids);
        }
    }
}
// --- quant_kernels ---
struct Case {
    m: QMatrix,
    x: Vec<f32>,
    n: usize,
}

fn case(b: &mut Bytes) -> Option<Case> {
    let ty = GgmlType::from_id(b.u8() as u32 % 40)?;
    let rows = 1 + b.u8() as usize % 8;
    let cols = (1 + b.u8() as usize % 4) * ty.block_size();
    let n = 1 + b.u8() as usize % 5;
    let x: Vec<f32> = (0..n * cols)
        .map(|_| (b.u8() as i8) as f32 / 16.0)
        .collect();
    let row_bytes = ty.bytes_for(cols as u64)? as usize;
    let raw = b.rest();
    let w: Vec<u8> = (0..rows * row_bytes)
        .map(|i| {
            if raw.is_empty() {
                0
            } else {
                raw[i % raw.len()]
            }
        })
        .collect();
    let m = QMatrix::from_vec("fuzz", ty, rows, cols, w).ok()?;
    Some(Case { m, x, n })
}

/// out[j][r] = Σ_c w[r][c] x[j][c] in f64, and Σ |w x| for the rounding bound.
fn reference(c: &Case, w: &[f32]) -> Vec<(f64, f64)> {
    let (rows, cols) = (c.m.rows(), c.m.cols());
    let mut out = Vec::with_capacity(c.n * rows);
    for j in 0..c.n {
        let x = &c.x[j * cols..(j + 1) * cols];
        for r in 0..rows {
            let wr = &w[r * cols..(r + 1) * cols];
            let terms = wr.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64);
            let (s, abs) = terms.fold((0.0, 0.0), |(s, a), t| (s + t, a + t.abs()));
            out.push((s, abs));
        }
    }
    out
}

fn run(c: &Case, act: ActPrecision, simd: bool) -> Vec<f32> {
    let mut out = vec![0f32; c.n * c.m.rows()];
    c.m.matmul_opts(&c.x, &mut out, act, simd)
        .expect("shapes agree");
    out
}

/// The GGUF header, metadata and tensor-info parser on arbitrary bytes: it parses or
/// refuses, and whatever it accepts can be read in full without a panic.
pub fn gguf_parse(data: &[u8]) {
    let Ok(f) = GgufFile::from_vec("fuzz.gguf", padded(data)) else {
        return;
    };
    for (_, v) in f.metadata().iter() {
        visit(v);
    }
    for t in f.tensors() {
        let bytes = f.tensor_bytes(&t.name).expect("listed tensor");
        assert_eq!(bytes.len() as u64, t.size);
        let _ = f.qmatrix(&t.name);
    }
}

/// GGUF metadata to `ModelConfig` (every architecture adapter), then the vocabulary and
/// the weights kept quantized: refused with an error or built, never a panic.
pub fn gguf_config(data: &[u8]) {
    let Ok(f) = GgufFile::from_vec("fuzz.gguf", padded(data)) else {
        return;
    };
    if let Ok(spec) = gguf_vocab_spec(&f) {
        let _ = lineage::text::Tokenizer::from_vocab(&spec);
    }
    if let Ok((cfg, _)) = gguf_key_report_of(&f) {
        let _ = lineage::analysis::params::count(&cfg);
        let _ = load_gguf_file(&f, GgufPrecision::Quantized);
    }
}

/// The safetensors header (first byte even) and the sharded index (odd) on arbitrary
/// bytes: parsed and range-checked, or refused.
pub fn safetensors_header(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let buf = padded(rest);
        if let Ok(tensors) = read_header(Path::new("fuzz.safetensors"), &buf) {
            for (_, t) in tensors {
                assert!(t.shape.iter().product::<usize>() * t.dtype.size_in_bytes() <= buf.len());
            }
        }
    } else if let Ok(text) = std::str::from_utf8(rest) {
        let index = Path::new("/ckpt/model.safetensors.index.json");
        if let Ok(files) = shard_files(index, text) {
            assert!(
                files.iter().all(|f| f.starts_with("/ckpt/")),
                "a shard left the folder"
            );
        }
    }
}

/// config.json to `ModelConfig` through every family adapter, then the analyses that
/// `inspect` runs on it (parameter counts, FLOPs, KV cache, memory): arbitrary sizes
/// give errors, not overflows.
pub fn config_json(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(cfg) = lineage::families::config_from_json(v) else {
        return;
    };
    if let Ok(p) = params::count(&cfg) {
        let _ = memory::weight_bytes(&p);
        let _ = flops::per_token(&cfg, &p, cfg.context_len.min(1 << 20));
    }
    let _ = kv_cache::size(&cfg, kv_cache::KvDtype::F16, cfg.context_len.min(1 << 20));
}

/// tokenizer.json loading (HF `tokenizers`), then encoding and decoding a fixed text.
pub fn tokenizer_json(data: &[u8]) {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz/tokenizer.json");
    let Ok(tok) = Tokenizer::from_json(path, json, HfTokenizerConfig::default()) else {
        return;
    };
    if let Ok(ids) = tok.encode("Hello, world! 12345 ünïcödé 🦀", true) {
        let _ = tok.decode(&ids);
    }
}

/// The GGUF vocabulary to the tokenizer. First byte even: a vocabulary built from the
/// fuzz bytes (tokens split at NUL, merges at 0x01). Odd: arbitrary text through real
/// vocabularies (SmolLM2's byte-level BPE, a Llama SentencePiece): encode, decode, and
/// for byte-level BPE the text comes back exactly.
pub fn gguf_vocab(data: &[u8]) {
    let mut b = Bytes(data);
    let mode = b.u8();
    if mode % 2 == 0 {
        return crafted(&mut b);
    }
    let (tok, exact) = &real()[(mode as usize / 2) % 2];
    let text = String::from_utf8_lossy(b.rest());
    let ids = tok.encode(&text, false).expect("any text encodes");
    let back = tok.decode(&ids).expect("its own ids decode");
    // Byte-level BPE gives every byte back that has a byte token (SmolLM2 has none for
    // some control bytes, and drops them, as HF's tokenizer and llama.cpp do).
    if *exact
        && text
            .bytes()
            .all(|b| tok.token_to_id(&byte_token(b)).is_some())
    {
        assert_eq!(back, text, "byte-level BPE round trip");
    }
}

/// Chat templates as untrusted code: an arbitrary template (up to the first NUL) renders
/// arbitrary messages (role 0x1f content, separated by 0x1e) within its limits, or gives
/// an error; the harmony renderer takes the same messages.
pub fn chat_template(data: &[u8]) {
    let mut b = Bytes(data);
    let src = String::from_utf8_lossy(b.until(0));
    let messages: Vec<ChatMessage> = b
        .rest()
        .split(|&c| c == 0x1e)
        .map(|m| {
            let mut parts = m.splitn(2, |&c| c == 0x1f);
            let role = String::from_utf8_lossy(parts.next().unwrap_or_default());
            let content = String::from_utf8_lossy(parts.next().unwrap_or_default());
            ChatMessage::new(role, content)
        })
        .collect();
    if let Ok(t) = ChatTemplate::new(&src, "<s>", "</s>") {
        let _ = t.render(&messages, true);
    }
    let _ = HarmonyRenderer::default().render(&messages, true);
}

/// The harmony parser on arbitrary model output: messages or an error, and no message's
/// content holds a token that should have ended it.
pub fn harmony(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for parsed in [parse_completion(&text), parse_conversation(&text)] {
        let Ok(messages) = parsed else { continue };
        for m in messages {
            for tok in ["<|start|>", "<|end|>", "<|return|>", "<|call|>"] {
                assert!(!m.content.contains(tok), "{tok} inside a message: {m:?}");
            }
        }
    }
}

/// Every dequantizer and quantized matmul kernel on arbitrary block bytes and odd shapes
/// (1-8 rows, 1-4 blocks, 1-5 activation rows): the exact f32-activation kernels, SIMD
/// and scalar, equal dequantise-then-multiply in f64 up to summation order; the 8-bit
/// activation kernels agree between SIMD and scalar. Non-finite scales only must not panic.
pub fn quant_kernels(data: &[u8]) {
    let Some(c) = case(&mut Bytes(data)) else {
        return;
    };
    let w = c.m.dequantize();
    let finite = w.iter().all(|v| v.is_finite());
    let runs: Vec<Vec<f32>> = [
        (ActPrecision::F32, true),
        (ActPrecision::F32, false),
        (ActPrecision::Int8, true),
        (ActPrecision::Int8, false),
    ]
    .iter()
    .map(|&(a, s)| run(&c, a, s))
    .collect();
    if !finite {
        return;
    }
    let want = reference(&c, &w);
    // Past f32's range the f64 reference is not what any f32 kernel can return.
    if want.iter().any(|&(_, abs)| abs > 1e30) {
        return;
    }
    for (k, got) in runs[..2].iter().enumerate() {
        for (i, (&g, &(s, abs))) in got.iter().zip(&want).enumerate() {
            let tol = 1e-5 * abs + 1e-6;
            assert!(
                (g as f64 - s).abs() <= tol,
                "{:?} f32-act run {k} out[{i}] {g} vs {s} (tol {tol:e})",
                c.m.ggml_type()
            );
        }
    }
    for (i, ((&a, &b), &(_, abs))) in runs[2].iter().zip(&runs[3]).zip(&want).enumerate() {
        let tol = 1e-4 * abs + 1e-4;
        assert!(
            ((a - b) as f64).abs() <= tol,
            "{:?} int8 SIMD {a} vs scalar {b} at {i}",
            c.m.ggml_type()
        );
    }
}

/// The sampler on arbitrary logits (NaN, ±inf, subnormals) and settings: a valid id or
/// an error naming the problem, never a panic or an id out of range.
pub fn sampler(data: &[u8]) {
    let mut b = Bytes(data);
    let cfg = SamplerConfig {
        temperature: b.f32(),
        top_k: b.u32() as usize,
        top_p: b.f32(),
        min_p: b.f32(),
        repetition_penalty: b.f32(),
        presence_penalty: b.f32(),
        frequency_penalty: b.f32(),
        penalty_last_n: (b.u8() % 2 == 0).then(|| b.u32() as usize),
        seed: b.u64(),
    };
    let history: Vec<u32> = (0..b.u8() % 16).map(|_| b.u32() % 512).collect();
    let mut logits: Vec<f32> = b
        .rest()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Ok(id) = argmax(&logits) {
        assert!((id as usize) < logits.len());
    }
    let Ok(mut s) = Sampler::new(cfg) else { return };
    let n = logits.len();
    if let Ok(id) = s.sample(&mut logits, &history) {
        assert!((id as usize) < n, "id {id} of {n} logits");
    }
}
