//! `config::tensors` lists exactly the tensors of every HF fixture checkpoint (names and
//! shapes, as transformers wrote them and the family adapters mapped them), so training
//! from scratch initialises the same model the checkpoints describe.

mod common;

use std::collections::BTreeMap;

use lineage::config::tensors::tensors;

#[test]
fn tensor_specs_every_fixture_equal_its_checkpoint_tensors() {
    let root = common::fixture_dir("");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let case = entry.unwrap().file_name().into_string().unwrap();
        if !root.join(&case).join("config.json").is_file() {
            continue;
        }
        let (cfg, w) = common::load(&case, "config.json");
        let ours: BTreeMap<String, Vec<usize>> = tensors(&cfg)
            .into_iter()
            .map(|s| (s.name, s.shape))
            .collect();
        let theirs: BTreeMap<String, Vec<usize>> =
            w.iter().map(|(n, t)| (n.to_string(), t.shape())).collect();
        assert_eq!(
            ours, theirs,
            "{case}: canonical tensor list differs from the checkpoint"
        );
        checked += 1;
    }
    assert!(
        checked >= 20,
        "only {checked} fixture cases found under {}",
        root.display()
    );
}
