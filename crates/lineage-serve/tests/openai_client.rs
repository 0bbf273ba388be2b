//! The official `openai` Python client, unchanged, against the server
//! (tools/serve_check/openai_client.py). The client comes from PyPI into a venv that
//! scripts/test.sh makes (`LINEAGE_SERVE_PYTHON`); without it the test records a skip,
//! and under LINEAGE_REQUIRE_MODELS=1 (CI) it fails.

mod common;

use std::path::Path;

fn python() -> Option<String> {
    let py = std::env::var("LINEAGE_SERVE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = std::process::Command::new(&py)
        .args(["-c", "import openai"])
        .output()
        .is_ok_and(|o| o.status.success());
    let why =
        format!("openai_client: `{py}` cannot import openai; scripts/test.sh makes a venv with it");
    common::peer_present(ok, &why).then_some(py)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_client_works_unchanged() {
    let Some(py) = python() else { return };
    let Some(addr) = common::start(
        common::config(),
        "the_official_openai_client_works_unchanged",
    )
    .await
    else {
        return;
    };
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/serve_check/openai_client.py");
    let base = format!("http://{addr}/v1");
    let out = tokio::process::Command::new(py)
        .arg(script)
        .arg(base)
        .output()
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openai client checks failed:\n{text}");
    assert!(text.contains("all checks passed"), "{text}");
}
