//! `lineage ablate evolution --quick` through the binary, on the corpus set-up fetches:
//! the files the checking interface names, and the report's numbers traced back to the
//! runs' own files. Per run, the final validation loss and tok/s in `report.json` are
//! those of `runs/*/metrics.jsonl` and `summary.json`; per variant, the mean and 95%
//! interval are recomputed here (t quantiles from the NIST/SEMATECH e-Handbook table
//! 1.3.6.7.2); the KV bytes per token are computed by hand; and every variant's row in
//! `report.md` shows those means. Rerunning the same command resumes from the cache.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lineage-ablate-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn ablate_quick(out: &Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_lineage"))
        .args(["ablate", "evolution", "--quick", "--out"])
        .arg(out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "lineage ablate evolution --quick failed:\n{text}"
    );
    text
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// The last `val_loss` a run logged, from its metrics.jsonl.
fn last_val_loss(run: &Path) -> f64 {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let evals: Vec<f64> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| v.get("val_loss").and_then(Value::as_f64))
        .collect();
    *evals
        .last()
        .unwrap_or_else(|| panic!("{}: no val_loss logged", run.display()))
}

/// Two-sided 95% Student-t quantiles for 1..=5 degrees of freedom (NIST table).
const T975: [f64; 5] = [12.706, 4.303, 3.182, 2.776, 2.571];

fn mean_ci(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let sd = (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    (m, T975[xs.len() - 2] * sd / n.sqrt())
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-3 * b.abs().max(1e-9),
        "{what}: {a} vs {b}"
    );
}

#[test]
fn quick_study_writes_a_report_whose_numbers_come_from_the_runs() {
    let out = tmp("quick");
    ablate_quick(&out);
    let report = json(&out.join("report.json"));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("ablate evolution --quick --out"),
        "report.md opens with the command"
    );
    let pngs = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.path().extension().is_some_and(|x| x == "png") && e.metadata().unwrap().len() > 1000
        })
        .count();
    assert!(pngs >= 5, "{pngs} plots");

    let variants = report["variants"].as_array().unwrap();
    assert!(variants.len() >= 20, "{} variants", variants.len());
    let mut kv = BTreeMap::new();
    for v in variants {
        let name = v["name"].as_str().unwrap();
        let mut losses = Vec::new();
        for r in v["runs"].as_array().unwrap() {
            let dir = out.join(r["dir"].as_str().unwrap());
            let summary = json(&dir.join("summary.json"));
            let logged = last_val_loss(&dir);
            close(
                f(&r["val_loss"]),
                logged,
                &format!("{name} seed {} val_loss vs metrics.jsonl", r["seed"]),
            );
            close(
                f(&summary["final_val_loss"]),
                logged,
                &format!("{name} summary.json"),
            );
            close(
                f(&r["tok_s"]),
                f(&summary["tok_s"]),
                &format!("{name} tok/s"),
            );
            losses.push(logged);
        }
        assert_eq!(losses.len(), 2, "{name}: --quick trains 2 seeds");
        let (m, ci) = mean_ci(&losses);
        close(f(&v["val_loss"]["mean"]), m, &format!("{name} mean"));
        close(f(&v["val_loss"]["ci95"]), ci, &format!("{name} ci95"));
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("report.md has no row for {name}"));
        assert!(
            row.contains(&format!("{m:.4} ± ")),
            "{name}: row {row} lacks the mean {m:.4}"
        );
        kv.insert(name.to_string(), v["kv_bytes_per_token"].as_u64().unwrap());
    }
    // f32 K and V of 4 layers: 2 x 4 x (KV heads x 16) x 4 bytes.
    assert_eq!(kv["gpt2"], 2 * 4 * 8 * 16 * 4);
    assert_eq!(kv["gqa"], 2 * 4 * 2 * 16 * 4);
    assert_eq!(kv["mqa"], 2 * 4 * 16 * 4);

    let claims = report["claims"].as_array().unwrap();
    let ids: Vec<&str> = claims.iter().map(|c| c["id"].as_str().unwrap()).collect();
    for id in [
        "norm_placement",
        "rmsnorm",
        "positions",
        "swiglu",
        "gqa_mqa",
        "moe_per_flop",
        "moe_balance",
        "dropout",
        "mxfp4",
        "modern",
    ] {
        assert!(ids.contains(&id), "claim {id} missing from {ids:?}");
    }
    for c in claims {
        let verdict = c["verdict"].as_str().unwrap();
        assert!(
            ["holds at this scale", "does not hold", "inconclusive"]
                .iter()
                .any(|v| verdict.starts_with(v)),
            "claim {}: verdict {verdict}",
            c["id"]
        );
        assert!(
            !c["evidence"].as_array().unwrap().is_empty(),
            "claim {} has no numbers",
            c["id"]
        );
        assert!(
            md.contains(c["quote"].as_str().unwrap()),
            "report.md lacks the quote of {}",
            c["id"]
        );
    }
    let formats: Vec<&str> = report["quantization"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["f32", "q8_0", "q4_0", "q4_k", "mxfp4"]);
    assert!(!report["extrapolation"].as_array().unwrap().is_empty());
    assert!(!report["decode"].as_array().unwrap().is_empty());

    // A second run trains nothing: every run comes from the cache.
    let again = ablate_quick(&out);
    assert!(
        !again.contains(": ok ("),
        "the rerun trained again:\n{again}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
