//! A panic on one shard thread stops the whole server with exit status 4 and a clear line,
//! instead of leaving the other shards serving while that shard's partitions and connections
//! go unanswered. The panic comes from the debug-build hook `WHIPPET_DEBUG_PANIC_SHARD`.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{free_port, server_binary};

#[test]
fn a_panicking_shard_stops_the_whole_server() {
    if !cfg!(debug_assertions) {
        println!("SKIPPED: the panic hook exists in debug builds only");
        return;
    }
    let data = tempfile::Builder::new().prefix("whippet-panic-").tempdir().expect("tempdir");
    let mut child = Command::new(server_binary())
        .arg("--data-dir")
        .arg(data.path())
        .args(["--tcp-address", &format!("127.0.0.1:{}", free_port()), "--shards", "2", "--no-pin"])
        .env("WHIPPET_DEBUG_PANIC_SHARD", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn whippet-server");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("whippet-server still runs 20 s after shard 1 panicked: half-alive");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read stderr");
    assert_eq!(status.code(), Some(4), "exit status after a shard panic: {status}\n{stderr}");
    assert!(stderr.contains("panic requested by WHIPPET_DEBUG_PANIC_SHARD"), "{stderr}");
    assert!(stderr.contains("thread whippet-shard-1 panicked, stopping the whole server (exit 4)"), "{stderr}");
}
