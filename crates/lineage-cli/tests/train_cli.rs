//! `lineage train` through the binary: metrics, checkpoint and plot files, bit-exact
//! resume after SIGKILL at a random step, and the bad-input cases (tiny corpus, seq_len
//! beyond the context, divergence, missing or mismatched checkpoints).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn lineage() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lineage"));
    c.env("RAYON_NUM_THREADS", "2");
    c
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lineage-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn ok(out: Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "lineage failed: {err}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).to_string() + &err
}

fn fails(out: Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// A copy-task data folder (vocab 64, sequences of 33 tokens).
fn data(name: &str, train_tokens: &str) -> PathBuf {
    let d = tmp(name);
    ok(lineage()
        .args([
            "data",
            "synthetic",
            "--task",
            "copy",
            "--vocab",
            "64",
            "--seq-len",
            "32",
        ])
        .args(["--train-tokens", train_tokens, "--seed", "3", "--out"])
        .arg(&d)
        .output()
        .unwrap());
    d
}

/// A ~70k-parameter Llama: fast enough for 40 steps in a test.
const SMALL: &[&str] = &[
    "--model",
    "llama-tiny",
    "--set",
    "n_layers=2",
    "--set",
    "d_model=64",
    "--set",
    "n_heads=4",
    "--set",
    "n_kv_heads=2",
    "--set",
    "head_dim=16",
    "--set",
    "d_ff=128",
];

fn train_args(data: &Path, steps: u64, out: &Path) -> Command {
    let mut c = lineage();
    c.arg("train").args(SMALL).arg("--data").arg(data);
    c.args([
        "--steps",
        &steps.to_string(),
        "--batch",
        "4",
        "--seq-len",
        "32",
        "--seed",
        "7",
    ]);
    c.args(["--eval-every", "10", "--eval-windows", "8", "--warmup", "4"]);
    if steps < 20 {
        c.args(["--checkpoint-every", "1"]);
    } else {
        c.args(["--checkpoint-every", "3"]);
    }
    c.args(["--dropout", "0.1", "--quiet", "--out"]).arg(out);
    c
}

/// Every metrics line without its timing fields.
fn curve(run: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("elapsed_s");
            o.remove("tok_s");
            v
        })
        .collect()
}

fn steps_logged(run: &Path) -> usize {
    std::fs::read_to_string(run.join("metrics.jsonl")).map_or(0, |t| t.lines().count())
}

#[test]
fn train_writes_metrics_checkpoint_plot_and_loss_falls() {
    let d = data("basic", "40000");
    let run = tmp("basic-run");
    let out = ok(train_args(&d, 40, &run).output().unwrap());
    assert!(out.contains("final validation loss"), "{out}");
    let m = curve(&run);
    assert_eq!(m.len(), 40);
    for key in ["step", "tokens", "train_loss", "lr"] {
        assert!(
            m.iter().all(|l| l.get(key).is_some()),
            "every line has {key}"
        );
    }
    let vals: Vec<f64> = m.iter().filter_map(|l| l["val_loss"].as_f64()).collect();
    assert_eq!(vals.len(), 4, "val_loss on steps 10, 20, 30, 40");
    assert!(
        vals[3] < vals[0] - 0.05,
        "validation loss should fall: {vals:?}"
    );
    for f in [
        "checkpoint/model.safetensors",
        "checkpoint/optimizer.safetensors",
        "checkpoint/state.json",
        "loss.png",
    ] {
        assert!(run.join(f).is_file(), "missing {f}");
    }
}

#[test]
fn train_resume_after_sigkill_is_bit_exact() {
    let d = data("resume", "40000");
    let (full, killed) = (tmp("full"), tmp("killed"));
    ok(train_args(&d, 40, &full).output().unwrap());
    // Kill at a step drawn from the clock, after at least one checkpoint (step 3).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let kill_at = 4 + (nanos as usize % 30);
    let mut child = train_args(&d, 40, &killed).spawn().unwrap();
    let start = Instant::now();
    while steps_logged(&killed) < kill_at && start.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let logged = steps_logged(&killed);
    assert!(
        logged < 40,
        "the run finished before it could be killed (at {logged})"
    );
    ok(lineage()
        .arg("train")
        .arg("--resume")
        .arg(&killed)
        .args(["--steps", "40", "--quiet"])
        .output()
        .unwrap());
    assert_eq!(
        curve(&full),
        curve(&killed),
        "resumed curve differs (killed near step {kill_at})"
    );
    let w = |r: &Path| std::fs::read(r.join("checkpoint/model.safetensors")).unwrap();
    assert!(w(&full) == w(&killed), "final weights differ after resume");
}

#[test]
fn train_corpus_smaller_than_one_window_is_a_clear_error() {
    let d = data("tiny", "33");
    std::fs::write(d.join("val.bin"), [0u8; 8]).unwrap();
    let err = fails(train_args(&d, 5, &tmp("tiny-run")).output().unwrap());
    assert!(
        err.contains("fewer than one window") || err.contains("tokens but"),
        "{err}"
    );
}

#[test]
fn train_seq_len_beyond_context_names_both_numbers() {
    let d = data("ctx", "4000");
    let mut c = train_args(&d, 5, &tmp("ctx-run"));
    c.args(["--set", "context_len=16"]);
    let err = fails(c.output().unwrap());
    assert!(
        err.contains("32") && err.contains("16") && err.contains("context"),
        "{err}"
    );
}

#[test]
fn train_divergence_stops_names_the_step_and_keeps_the_last_checkpoint() {
    let d = data("nan", "4000");
    let run = tmp("nan-run");
    let mut c = train_args(&d, 10, &run);
    c.args(["--lr", "1e30", "--grad-clip", "0"]);
    let err = fails(c.output().unwrap());
    assert!(err.contains("at step"), "{err}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("checkpoint/state.json")).unwrap())
            .unwrap();
    let step = state["step"].as_u64().unwrap();
    assert!(
        step >= 1 && err.contains(&format!("at step {}", step + 1)),
        "checkpoint at {step}; {err}"
    );
}

#[test]
fn train_resume_without_or_with_a_mismatched_checkpoint_is_refused() {
    let err = fails(
        lineage()
            .arg("train")
            .arg("--resume")
            .arg(tmp("nothing"))
            .output()
            .unwrap(),
    );
    assert!(err.contains("not a training run"), "{err}");
    let d = data("mismatch", "4000");
    let (a, b) = (tmp("mm-a"), tmp("mm-b"));
    ok(train_args(&d, 3, &a).output().unwrap());
    let mut other = train_args(&d, 3, &b);
    other.args(["--set", "d_ff=64"]);
    ok(other.output().unwrap());
    std::fs::remove_dir_all(a.join("checkpoint")).unwrap();
    copy_dir(&b.join("checkpoint"), &a.join("checkpoint"));
    let err = fails(
        lineage()
            .arg("train")
            .arg("--resume")
            .arg(&a)
            .args(["--steps", "6"])
            .output()
            .unwrap(),
    );
    assert!(err.contains("mismatched checkpoint"), "{err}");
}

#[test]
fn train_settings_file_unknown_key_and_bad_values_are_all_reported() {
    let dir = tmp("toml");
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("t.toml");
    std::fs::write(&f, "lr = 1e-3\nlearning_rate = 3\n").unwrap();
    let err = fails(
        lineage()
            .arg("train")
            .arg("--config")
            .arg(&f)
            .args(["--out", "x"])
            .output()
            .unwrap(),
    );
    assert!(err.contains("learning_rate"), "{err}");
    std::fs::write(&f, "lr = -1\nbeta1 = 1.5\nsteps = 10\n").unwrap();
    let err = fails(
        lineage()
            .arg("train")
            .arg("--config")
            .arg(&f)
            .args(["--out", "x"])
            .output()
            .unwrap(),
    );
    assert!(err.contains("lr must be") && err.contains("beta1"), "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn train_write_failure_is_a_clear_error_and_keeps_the_previous_checkpoint() {
    // A per-file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes the next checkpoint's
    // optimizer file fail with EFBIG, as a full disk fails with ENOSPC.
    let d = data("disk", "4000");
    let run = tmp("disk-run");
    ok(train_args(&d, 3, &run).output().unwrap());
    let before = std::fs::read(run.join("checkpoint/model.safetensors")).unwrap();
    let script = format!(
        "ulimit -f 400; trap '' XFSZ; exec {} train --resume {} --steps 6 --quiet",
        env!("CARGO_BIN_EXE_lineage"),
        run.display()
    );
    let err = fails(Command::new("bash").args(["-c", &script]).output().unwrap());
    assert!(
        err.contains("File too large") && err.contains("optimizer"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(run.join("checkpoint/model.safetensors")).unwrap(),
        before
    );
    let state = std::fs::read_to_string(run.join("checkpoint/state.json")).unwrap();
    assert!(state.contains("\"step\": 3"), "{state}");
    ok(lineage()
        .arg("train")
        .arg("--resume")
        .arg(&run)
        .args(["--steps", "6", "--quiet"])
        .output()
        .unwrap());
}
