//! `lineage serve` as a process: it binds to loopback, and on SIGTERM stops accepting
//! while the stream in flight runs to its end (`data: [DONE]`) before it exits 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn sigterm_lets_the_stream_in_flight_finish() {
    let test = "sigterm_lets_the_stream_in_flight_finish";
    let Some(model) = lineage::cache::test_model(lineage::cache::SMOLLM2_Q4_1, test) else {
        return;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lineage"))
        .args([
            "serve",
            "--model",
            model.to_str().unwrap(),
            "--port",
            &port.to_string(),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on http://127.0.0.1:") {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "the server exited before listening"
        );
    }
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = r#"{"prompt": "Count to a hundred: 1, 2, 3,", "max_tokens": 400, "temperature": 0, "stop": ["@@"], "stream": true}"#;
    write!(s, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut first = [0u8; 512];
    let n = s.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).contains("200 OK"));
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    std::thread::sleep(Duration::from_millis(300));
    let late = TcpStream::connect(("127.0.0.1", port));
    assert!(late.is_err(), "still accepting connections after SIGTERM");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut rest = String::new();
    s.read_to_string(&mut rest).unwrap();
    assert!(
        rest.contains("data: [DONE]"),
        "the stream was cut at shutdown:\n{rest}"
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "lineage serve exited with {status}");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still accepting after SIGTERM"
    );
}
