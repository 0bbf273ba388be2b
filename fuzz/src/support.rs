//! Shared pieces of the fuzz checks: a reader that turns fuzz bytes into typed values,
//! padding that lets a header-only seed stand for a whole file, and the committed
//! vocabularies the tokenizer targets encode with.

use lineage::text::VocabSpec;
use serde_json::Value;

/// Zero bytes appended to a GGUF or safetensors input: seeds are headers only (small to
/// commit), and the tiny models' data fits in this, so tensors lie inside the "file".
pub const DATA_PAD: usize = 512 << 10;

pub fn padded(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + DATA_PAD);
    v.extend_from_slice(data);
    v.resize(data.len() + DATA_PAD, 0);
    v
}

/// Reads typed values off the front of the fuzz input; past the end it yields zeros.
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    pub fn u8(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub fn f32(&mut self) -> f32 {
        f32::from_bits(self.u32())
    }
    pub fn u64(&mut self) -> u64 {
        (self.u32() as u64) | ((self.u32() as u64) << 32)
    }
    /// The bytes up to (not including) the next `sep`, or all that is left.
    pub fn until(&mut self, sep: u8) -> &'a [u8] {
        let i = self
            .0
            .iter()
            .position(|&b| b == sep)
            .unwrap_or(self.0.len());
        let (head, rest) = self.0.split_at(i);
        self.0 = rest.get(1..).unwrap_or(&[]);
        head
    }
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

/// A vocabulary extracted from a real GGUF (`tests/fixtures/text/*_vocab.json`: the
/// `tokenizer.*` metadata as JSON), mapped as the GGUF loader maps it.
pub fn vocab_spec_json(json: &str) -> VocabSpec {
    let m: Value = serde_json::from_str(json).expect("committed vocabulary fixture");
    let strings = |k: &str| -> Option<Vec<String>> {
        m[k].as_array().map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
    };
    let id = |k: &str| m[k].as_u64().map(|v| v as u32);
    VocabSpec {
        model: m["ggml.model"].as_str().unwrap_or("gpt2").into(),
        pre: m["ggml.pre"].as_str().map(Into::into),
        tokens: strings("ggml.tokens").unwrap_or_default(),
        scores: m["ggml.scores"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_f64().unwrap_or(0.0) as f32).collect()),
        token_types: m["ggml.token_type"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_i64().unwrap_or(1) as i32).collect()),
        merges: strings("ggml.merges").unwrap_or_default(),
        bos_id: id("ggml.bos_token_id"),
        eos_id: id("ggml.eos_token_id"),
        eot_id: id("ggml.eot_token_id"),
        unknown_id: id("ggml.unknown_token_id"),
        add_bos: m["ggml.add_bos_token"].as_bool(),
        add_eos: m["ggml.add_eos_token"].as_bool(),
        add_space_prefix: m["ggml.add_space_prefix"].as_bool(),
        chat_template: None,
    }
}

/// GPT-2's byte-level alphabet: the token text of byte `b` (printable bytes stand for
/// themselves, the others for U+0100 + their rank).
pub fn byte_token(b: u8) -> String {
    let printable = |c: u8| (b'!'..=b'~').contains(&c) || (0xA1..=0xAC).contains(&c) || c >= 0xAE;
    if printable(b) {
        return char::from(b).to_string();
    }
    let rank = (0..b).filter(|&c| !printable(c)).count() as u32;
    char::from_u32(0x100 + rank)
        .map(String::from)
        .unwrap_or_default()
}
