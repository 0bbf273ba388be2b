//! GGUF reader tests: a file written by [`GgufWriter`] round-trips, and every kind of
//! damage (any truncation, bad magic, lying counts, data past EOF) is an error.

use super::*;
use crate::kernels::quant::GgmlType;

fn sample() -> GgufWriter {
    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", MetaValue::String("llama".into()))
        .add_kv("llama.block_count", MetaValue::U32(30))
        .add_kv("a.u8", MetaValue::U8(7))
        .add_kv("a.i8", MetaValue::I8(-7))
        .add_kv("a.u16", MetaValue::U16(700))
        .add_kv("a.i16", MetaValue::I16(-700))
        .add_kv("a.i32", MetaValue::I32(-70000))
        .add_kv("a.f32", MetaValue::F32(1e-5))
        .add_kv("a.bool", MetaValue::Bool(true))
        .add_kv("a.u64", MetaValue::U64(1 << 40))
        .add_kv("a.i64", MetaValue::I64(-(1 << 40)))
        .add_kv("a.f64", MetaValue::F64(0.25))
        .add_kv(
            "tokenizer.ggml.tokens",
            MetaValue::Array(MetaArray::strings(["<s>", "hi", "é"])),
        )
        .add_kv(
            "a.nested",
            MetaValue::Array(
                MetaArray::new(MetaType::Array, &[MetaValue::Array(MetaArray::i32s([3]))]).unwrap(),
            ),
        );
    let f32s: Vec<u8> = (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect();
    w.add_tensor("t.f32", &[4, 2], GgmlType::F32, f32s);
    w.add_tensor("t.q4_1", &[32, 2], GgmlType::Q4_1, vec![0x11; 40]);
    w
}

#[test]
fn gguf_written_file_roundtrips_metadata_and_tensors() {
    let f = GgufFile::from_vec("mem.gguf", sample().to_bytes()).unwrap();
    let m = f.metadata();
    assert_eq!(f.version(), 3);
    assert_eq!(m.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(m.get_u32("llama.block_count").unwrap(), 30);
    assert_eq!(m.get_i32("a.i8").unwrap(), -7);
    assert_eq!(m.get_u32("a.u16").unwrap(), 700);
    assert_eq!(m.get_i64("a.i16").unwrap(), -700);
    assert_eq!(m.get_i64("a.i32").unwrap(), -70000);
    assert_eq!(m.get_f32("a.f32").unwrap(), 1e-5);
    assert!(m.get_bool("a.bool").unwrap());
    assert_eq!(m.get_u64("a.u64").unwrap(), 1 << 40);
    assert_eq!(m.get_i64("a.i64").unwrap(), -(1 << 40));
    assert_eq!(m.get_f64("a.f64").unwrap(), 0.25);
    assert_eq!(
        m.get_string_array("tokenizer.ggml.tokens").unwrap(),
        ["<s>", "hi", "é"]
    );
    assert_eq!(
        m.get("a.nested").map(|v| v.meta_type()),
        Some(MetaType::Array)
    );
    assert_eq!(f.alignment(), 32);
    assert_eq!(f.data_start() % 32, 0);
    let t = f.tensor("t.f32").unwrap();
    assert_eq!(
        (t.dims.clone(), t.ggml_type, t.size),
        (vec![4, 2], GgmlType::F32, 32)
    );
    assert_eq!(&f.tensor_bytes("t.f32").unwrap()[4..8], &1f32.to_le_bytes());
    assert_eq!(f.tensor_bytes("t.q4_1").unwrap(), &[0x11; 40][..]);
    let q = f.qmatrix("t.q4_1").unwrap();
    assert_eq!((q.rows(), q.cols()), (2, 32));
}

#[test]
fn gguf_getter_wrong_type_error_names_key() {
    let f = GgufFile::from_vec("mem.gguf", sample().to_bytes()).unwrap();
    let e = f
        .metadata()
        .get_str("llama.block_count")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("llama.block_count") && e.contains("string"),
        "{e}"
    );
    let e = f.metadata().get_u32("a.i8").unwrap_err().to_string();
    assert!(e.contains("a.i8"), "{e}");
    let e = f.metadata().get_f32("missing.key").unwrap_err().to_string();
    assert!(e.contains("missing.key") && e.contains("missing"), "{e}");
    assert!(matches!(f.tensor("nope"), Err(Error::MissingTensor { .. })));
}

#[test]
fn gguf_truncated_at_every_byte_errors() {
    let bytes = sample().to_bytes();
    for cut in 0..bytes.len() {
        let r = GgufFile::from_vec("cut.gguf", bytes[..cut].to_vec());
        assert!(
            r.is_err(),
            "a file cut at byte {cut} of {} parsed",
            bytes.len()
        );
    }
    assert!(GgufFile::from_vec("full.gguf", bytes).is_ok());
}

#[test]
fn gguf_wrong_magic_errors() {
    let mut bytes = sample().to_bytes();
    bytes[0] = b'X';
    let e = GgufFile::from_vec("bad.gguf", bytes)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not a GGUF file") && e.contains("bad.gguf"),
        "{e}"
    );
}

#[test]
fn gguf_unsupported_versions_error() {
    for (v, needle) in [
        (1u32, "v1"),
        (7, "version 7"),
        (3u32.swap_bytes(), "big-endian"),
    ] {
        let mut bytes = sample().to_bytes();
        bytes[4..8].copy_from_slice(&v.to_le_bytes());
        let e = GgufFile::from_vec("v.gguf", bytes).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
}

/// Byte position of the first tensor info's offset field (name `t.f32`, 2 dims).
fn first_offset_pos(bytes: &[u8]) -> usize {
    let name = b"t.f32";
    let at = bytes.windows(name.len()).position(|w| w == name).unwrap();
    at + name.len() + 4 + 2 * 8 + 4
}

#[test]
fn gguf_tensor_offset_past_eof_errors() {
    let mut bytes = sample().to_bytes();
    let pos = first_offset_pos(&bytes);
    bytes[pos..pos + 8].copy_from_slice(&(1u64 << 20).to_le_bytes());
    let e = GgufFile::from_vec("eof.gguf", bytes)
        .unwrap_err()
        .to_string();
    assert!(e.contains("t.f32") && e.contains("outside the file"), "{e}");
    let mut bytes = sample().to_bytes();
    bytes[pos..pos + 8].copy_from_slice(&(u64::MAX - 31).to_le_bytes());
    assert!(GgufFile::from_vec("wrap.gguf", bytes).is_err());
}

#[test]
fn gguf_unknown_ggml_type_error_names_tensor_and_type() {
    let mut bytes = sample().to_bytes();
    let pos = first_offset_pos(&bytes) - 4;
    bytes[pos..pos + 4].copy_from_slice(&99u32.to_le_bytes());
    match GgufFile::from_vec("ty.gguf", bytes) {
        Err(Error::UnsupportedTensorType { tensor, ggml_type }) => {
            assert_eq!((tensor.as_str(), ggml_type), ("t.f32", 99))
        }
        other => panic!("expected UnsupportedTensorType, got {other:?}"),
    }
}

#[test]
fn gguf_huge_counts_error_without_allocating() {
    let mut bytes = sample().to_bytes();
    bytes[8..16].copy_from_slice(&(1u64 << 60).to_le_bytes()); // tensor count
    assert!(GgufFile::from_vec("n.gguf", bytes).is_err());
    let mut bytes = sample().to_bytes();
    bytes[16..24].copy_from_slice(&(1u64 << 60).to_le_bytes()); // kv count
    assert!(GgufFile::from_vec("kv.gguf", bytes).is_err());
    let mut w = GgufWriter::new();
    w.add_kv(
        "k",
        MetaValue::Array(MetaArray::new(MetaType::U64, &[MetaValue::U64(1)]).unwrap()),
    );
    let mut bytes = w.to_bytes();
    let count_at = 24 + 8 + 1 + 4 + 4; // header, key "k", value type, elem type
    bytes[count_at..count_at + 8].copy_from_slice(&(1u64 << 60).to_le_bytes());
    let e = GgufFile::from_vec("arr.gguf", bytes)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`k`"), "{e}");
}

#[test]
fn gguf_custom_alignment_respected() {
    let mut w = sample();
    w.add_kv("general.alignment", MetaValue::U32(64));
    let f = GgufFile::from_vec("al.gguf", w.to_bytes()).unwrap();
    assert_eq!((f.alignment(), f.data_start() % 64), (64, 0));
    assert_eq!(f.tensor("t.q4_1").unwrap().offset, 64);
    let mut w = sample();
    w.add_kv("general.alignment", MetaValue::U32(48));
    assert!(GgufFile::from_vec("al.gguf", w.to_bytes()).is_err());
}

#[test]
fn gguf_smollm2_file_checks_metadata_and_ranges() {
    let test = "gguf_smollm2_file_checks_metadata_and_ranges";
    let Some(path) = crate::cache::test_model(crate::cache::SMOLLM2_Q4_1, test) else {
        return;
    };
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(
        f.metadata().get_str("general.architecture").unwrap(),
        "llama"
    );
    assert_eq!(f.metadata().get_u32("llama.block_count").unwrap(), 30);
    let len = std::fs::metadata(&path).unwrap().len();
    for t in f.tensors() {
        assert!(
            f.data_start() + t.offset + t.size <= len,
            "{} out of range",
            t.name
        );
        assert_eq!(f.tensor_bytes(&t.name).unwrap().len() as u64, t.size);
    }
    assert!(f.tensors().len() > 30 * 9);
    // A real Q4_1 weight: quantized matmul against dequantize-then-f32.
    let m = f.qmatrix("blk.0.ffn_down.weight").unwrap();
    assert_eq!(
        (m.ggml_type(), m.rows(), m.cols()),
        (GgmlType::Q4_1, 576, 1536)
    );
    let x: Vec<f32> = (0..m.cols())
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let w = m.dequantize();
    let mut out = vec![0f32; m.rows()];
    m.matmul(&x, &mut out).unwrap();
    let want: Vec<f32> = w
        .chunks_exact(m.cols())
        .map(|r| r.iter().zip(&x).map(|(a, b)| a * b).sum())
        .collect();
    let rms = (want.iter().map(|v| v * v).sum::<f32>() / want.len() as f32).sqrt();
    let err = out
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(err / rms < 2.5e-2, "max err / rms = {}", err / rms);
}
