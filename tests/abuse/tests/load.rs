//! 1,000 concurrent connections (loopback) doing small sends and polls against the real
//! `whippet-server` (2 shards, durability `never`): no call may fail. Prints the report
//! (requests/s, p50–max per kind, time to connect all, the server's RSS and VmHWM).
//!
//! The issue's figure is 60 s; a test run takes `WHIPPET_LOAD_SECONDS` (default 10). For the
//! real figure, on a release build:
//!
//! ```sh
//! WHIPPET_LOAD_SECONDS=60 cargo test --release -p whippet-abuse --test load -- --nocapture
//! ```
//!
//! or run the `whippet-abuse load` binary against a server of your own (see the README).

use std::time::Duration;

use whippet_abuse::load::{self, LoadConfig};
use whippet_testkit::TestServer;

#[test]
fn a_thousand_connections_send_and_poll_without_errors() {
    let seconds = std::env::var("WHIPPET_LOAD_SECONDS").ok().and_then(|value| value.parse().ok()).unwrap_or(10);
    let connections =
        std::env::var("WHIPPET_LOAD_CONNECTIONS").ok().and_then(|value| value.parse().ok()).unwrap_or(1000);
    let mut server = TestServer::start_with(&["--shards", "2", "--durability", "never"]);
    let config = LoadConfig {
        connections,
        duration: Duration::from_secs(seconds),
        server_pid: server.pid(),
        ..LoadConfig::new(server.address())
    };
    let report = load::run(&config).unwrap_or_else(|error| panic!("load run failed: {error}\n{}", server.log_tail()));
    println!("{}", report.summary());

    assert_eq!(report.connected, connections, "every connection logs in: {:?}", report.error_samples);
    assert_eq!(report.errors, 0, "no call fails: {:?}", report.error_samples);
    assert!(report.send.count > 0 && report.poll.count > 0, "both kinds ran: {report:?}");
    assert!(report.messages_polled > 0, "polls return messages");
    let memory = report.server_memory.expect("the server's memory was sampled");
    println!(
        "load: p99 send {:.3} ms, poll {:.3} ms; server peak RSS {:.1} MiB",
        report.send.p99_us as f64 / 1000.0,
        report.poll.p99_us as f64 / 1000.0,
        whippet_abuse::memory::mib(memory.during.peak_rss_bytes)
    );
    assert!(server.is_running() && !server.panicked(), "{}", server.log_tail());
    let status = server.stop();
    assert!(status.success(), "whippet-server exited with {status}\n{}", server.log_tail());
}
