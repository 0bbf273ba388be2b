//! The chat page in a real browser: Debian's headless Chromium, driven by playwright-core
//! (tools/serve_check/chat_page.mjs), loads `/`, sends a message, sees the reply stream
//! in, and takes a screenshot, which this test checks. scripts/test.sh installs the
//! browser and playwright-core; without them the test records a skip (CI: fails).

mod common;

use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_page_streams_a_reply_in_chromium() {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/serve_check");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let present =
        Path::new(&chromium).is_file() && tools.join("node_modules/playwright-core").is_dir();
    let why = format!("chat_page: {chromium} or tools/serve_check/node_modules missing (scripts/test.sh installs them)");
    if !common::peer_present(present, &why) {
        return;
    }
    let Some(addr) = common::start(
        common::config(),
        "the_chat_page_streams_a_reply_in_chromium",
    )
    .await
    else {
        return;
    };
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chat_page.png");
    let _ = std::fs::remove_file(&shot);
    let out = tokio::process::Command::new("node")
        .arg(tools.join("chat_page.mjs"))
        .arg(format!("http://{addr}/"))
        .arg(&shot)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert!(
        !v["reply"].as_str().unwrap().trim().is_empty(),
        "no reply: {v}"
    );
    assert_eq!(v["model"], "smollm2", "{v}");
    assert!(v["speed"].as_str().unwrap().ends_with("tok/s"), "{v}");
    assert_eq!(
        v["external"],
        serde_json::json!([]),
        "the page fetched outside the server"
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "screenshot of {} bytes",
        png.len()
    );
    eprintln!(
        "chat page reply: {} (screenshot {})",
        v["reply"],
        shot.display()
    );
}
