//! Model files are never written: they load from 0444 copies in a 0555 folder, every
//! mapping of them is read-only, and their bytes are unchanged after a forward pass.
//! (Root may write a 0444 file, so the mappings are checked too, not only the modes.)

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use lineage::model::Model;
use lineage::weights::gguf::GgufFile;
use lineage::weights::safetensors::Checkpoint;

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Copies `files` into a fresh folder, then makes them 0444 and the folder 0555.
fn read_only_copy(tag: &str, files: &[PathBuf]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lineage-ro-{}-{tag}", std::process::id()));
    if dir.exists() {
        set_mode(&dir, 0o755);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    for f in files {
        let to = dir.join(f.file_name().unwrap());
        std::fs::copy(f, &to).unwrap();
        set_mode(&to, 0o444);
    }
    set_mode(&dir, 0o555);
    dir
}

fn remove(dir: &Path) {
    set_mode(dir, 0o755);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The permission fields (`r--s`, ...) of this process's mappings of `file`.
fn mapping_perms(file: &Path) -> Vec<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let name = file.to_str().unwrap();
    maps.lines()
        .filter(|l| l.ends_with(name))
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect()
}

fn assert_mapped_read_only(file: &Path) {
    let perms = mapping_perms(file);
    assert!(!perms.is_empty(), "{} is not mapped", file.display());
    assert!(
        perms.iter().all(|p| !p.contains('w')),
        "{} is mapped writable: {perms:?}",
        file.display()
    );
}

#[test]
fn a_read_only_gguf_is_mapped_read_only_loads_and_is_not_changed() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gguf_llama_cpp/llama.q8_0.gguf");
    let dir = read_only_copy("gguf", std::slice::from_ref(&src));
    let file = dir.join("llama.q8_0.gguf");
    let before = std::fs::read(&file).unwrap();
    {
        let g = GgufFile::open(&file).unwrap();
        assert!(!g.tensors().is_empty());
        assert_mapped_read_only(&file);
        let (cfg, w) = lineage::load(&file).unwrap();
        let ids = candle_core::Tensor::new(&[[1u32, 2, 3]], &candle_core::Device::Cpu).unwrap();
        Model::new(&cfg, &w).unwrap().forward(&ids, None).unwrap();
    }
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the GGUF file changed"
    );
    remove(&dir);
}

#[test]
fn a_read_only_checkpoint_folder_is_mapped_read_only_and_loads() {
    let fx = common::fixture_dir("llama");
    let dir = read_only_copy(
        "hf",
        &[fx.join("config.json"), fx.join("model.safetensors")],
    );
    let st = dir.join("model.safetensors");
    let before = std::fs::read(&st).unwrap();
    {
        let ck = Checkpoint::open_dir(&dir).unwrap();
        assert!(ck.names().count() > 0);
        assert_mapped_read_only(&st);
        let (cfg, w) = lineage::families::load_hf_dir(&dir).unwrap();
        let ids = candle_core::Tensor::new(&[[1u32, 2, 3]], &candle_core::Device::Cpu).unwrap();
        Model::new(&cfg, &w).unwrap().forward(&ids, None).unwrap();
    }
    assert_eq!(
        std::fs::read(&st).unwrap(),
        before,
        "the safetensors file changed"
    );
    remove(&dir);
}
