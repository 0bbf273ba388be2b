//! Files that claim absurd sizes are refused before anything is allocated for them,
//! and metadata costs about its bytes in memory. One test in this binary, so the
//! process's peak RSS (VmHWM) measures these cases alone.

use std::path::{Path, PathBuf};

use lineage::kernels::quant::GgmlType;
use lineage::weights::gguf::{GgufFile, GgufWriter, MetaArray, MetaType, MetaValue};
use lineage::weights::safetensors::Checkpoint;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kb / 1024.0
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lineage-crafted-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A small valid GGUF: one key, one F32 tensor `t` of dims [32, 1].
fn small_gguf() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", MetaValue::String("llama".into()));
    w.add_tensor("t", &[32, 1], GgmlType::F32, vec![0; 128]);
    w.to_bytes()
}

/// Byte offset just after the GGUF string `s` (u64 length + bytes).
fn after_string(bytes: &[u8], s: &str) -> usize {
    let mut pat = (s.len() as u64).to_le_bytes().to_vec();
    pat.extend_from_slice(s.as_bytes());
    let at = bytes.windows(pat.len()).position(|w| w == pat).unwrap();
    at + pat.len()
}

/// Sets the dims of tensor `t` in `small_gguf()` (two dims: ne0, ne1).
fn with_dims(ne0: u64, ne1: u64) -> Vec<u8> {
    let mut b = small_gguf();
    let at = after_string(&b, "t") + 4; // past n_dims
    b[at..at + 8].copy_from_slice(&ne0.to_le_bytes());
    b[at + 8..at + 16].copy_from_slice(&ne1.to_le_bytes());
    b
}

fn gguf_refused(name: &str, bytes: Vec<u8>, needle: &str) {
    let path = scratch(name);
    std::fs::write(&path, bytes).unwrap();
    let e = GgufFile::open(&path).expect_err(name).to_string();
    assert!(e.contains(needle), "{name}: {e}");
}

fn gguf_cases() {
    let mut b = small_gguf();
    b[8..16].copy_from_slice(&1_000_000u64.to_le_bytes());
    gguf_refused("1e6-tensors.gguf", b, "more than the");
    let mut b = small_gguf();
    b[16..24].copy_from_slice(&1_000_000u64.to_le_bytes());
    gguf_refused("1e6-pairs.gguf", b, "more than the");
    gguf_refused(
        "2e40-elements.gguf",
        with_dims(1 << 20, 1 << 20),
        "elements",
    );
    // 2^38 f32 elements: a 1 TiB tensor.
    gguf_refused("1tb-tensor.gguf", with_dims(1 << 18, 1 << 20), "elements");
    // Within the element bound, 4 GiB of data a 200-byte file does not hold.
    gguf_refused(
        "4gb-tensor.gguf",
        with_dims(1 << 15, 1 << 15),
        "outside the file",
    );
    let mut w = GgufWriter::new();
    w.add_kv(
        "a",
        MetaValue::Array(MetaArray::new(MetaType::U8, &[MetaValue::U8(1)]).unwrap()),
    );
    let mut b = w.to_bytes();
    let at = after_string(&b, "a") + 4 + 4; // past value type and element type
    b[at..at + 8].copy_from_slice(&1_000_000_000u64.to_le_bytes());
    gguf_refused("1e9-array.gguf", b, "cannot fit");
}

/// A 32 MiB u8 array really in the file (written by hand: building it as `MetaValue`s
/// would itself take 1 GiB). Returns the peak-RSS growth of opening it.
fn gguf_big_array_growth_mib() -> f64 {
    const N: u64 = 32 << 20;
    let path = scratch("32mib-array.gguf");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        f.write_all(b"GGUF").unwrap();
        for v in [
            3u32.to_le_bytes().to_vec(),
            0u64.to_le_bytes().to_vec(),
            1u64.to_le_bytes().to_vec(),
        ] {
            f.write_all(&v).unwrap(); // version, tensor count, pair count
        }
        f.write_all(&3u64.to_le_bytes()).unwrap();
        f.write_all(b"big").unwrap();
        f.write_all(&9u32.to_le_bytes()).unwrap(); // array
        f.write_all(&0u32.to_le_bytes()).unwrap(); // of u8
        f.write_all(&N.to_le_bytes()).unwrap();
        let chunk: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
        (0..N >> 20).for_each(|_| f.write_all(&chunk).unwrap());
    }
    let before = peak_rss_mib();
    let f = GgufFile::open(&path).unwrap();
    let MetaValue::Array(a) = f.metadata().get("big").unwrap() else {
        panic!("not an array")
    };
    assert_eq!(a.len() as u64, N);
    assert_eq!(a.iter().nth(1000), Some(MetaValue::U8((1000 % 256) as u8)));
    peak_rss_mib() - before
}

fn safetensors_refused(name: &str, header: &str, needle: &str) {
    let path = scratch(name);
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    std::fs::write(&path, b).unwrap();
    let e = Checkpoint::open_files(&[path])
        .err()
        .expect(name)
        .to_string();
    assert!(e.contains(needle), "{name}: {e}");
}

fn safetensors_cases() {
    let entry = |name: &str, shape: &str| {
        format!("\"{name}\":{{\"dtype\":\"F32\",\"shape\":{shape},\"data_offsets\":[0,0]}}")
    };
    let header = format!("{{{}}}", entry("t", "[1048576,1048576]"));
    safetensors_refused("2e40.safetensors", &header, "elements");
    let many: Vec<String> = (0..300_000)
        .map(|i| entry(&format!("t{i}"), "[0]"))
        .collect();
    safetensors_refused(
        "3e5.safetensors",
        &format!("{{{}}}", many.join(",")),
        "more than",
    );
    let path = scratch("huge-header.safetensors");
    std::fs::write(&path, (1u64 << 40).to_le_bytes()).unwrap();
    let e = Checkpoint::open_files(&[path]).err().unwrap().to_string();
    assert!(e.contains("header bytes"), "{e}");
}

/// A config.json of 300 MB (sparse: no disk used) is refused by its size, unread.
fn json_side_file_refused(dir: &Path) {
    let cfg = dir.join("config.json");
    std::fs::File::create(&cfg)
        .unwrap()
        .set_len(300 << 20)
        .unwrap();
    let e = lineage::families::read_config_file(&cfg)
        .unwrap_err()
        .to_string();
    assert!(e.contains("file size"), "{e}");
}

#[test]
fn crafted_files_are_refused_before_allocation_and_metadata_costs_its_bytes() {
    let base = peak_rss_mib();
    gguf_cases();
    json_side_file_refused(scratch("x").parent().unwrap());
    let refusals = peak_rss_mib() - base;
    assert!(
        refusals < 16.0,
        "refusing crafted GGUF files raised peak RSS by {refusals:.0} MiB"
    );
    let grew = gguf_big_array_growth_mib();
    // The mapped file (32 MiB) plus its one copy; decoded into enums it was 1 GiB.
    assert!(
        grew < 80.0,
        "a 32 MiB array raised peak RSS by {grew:.0} MiB"
    );
    // 300k entries of header text (~25 MiB) are mapped and parsed up to the limit.
    safetensors_cases();
    let total = peak_rss_mib() - base;
    eprintln!("peak RSS growth: refusals {refusals:.1} MiB, 32 MiB array {grew:.1} MiB, all {total:.1} MiB");
    assert!(
        total < 160.0,
        "crafted files raised peak RSS by {total:.0} MiB in all"
    );
    let _ = std::fs::remove_dir_all(scratch("x").parent().unwrap());
}
