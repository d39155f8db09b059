//! Each scenario, run briefly against a real `whippet-server` on loopback (one server per
//! test, so the `bench-N` streams never collide). Counts must match what was asked, and what
//! the server holds must match what the bench reports. No timing thresholds.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::Value;
use whippet_bench::{Args, Report};
use whippet_client::protocol::types::{Consumer, ConsumerKind, Identifier};
use whippet_client::{Client, Credentials, Dialect};
use whippet_testkit::{ROOT_PASSWORD, ROOT_USERNAME, TestServer};

/// Small loads: 10 batches of 10 messages of 100 B per actor.
const SMALL: [&str; 6] = ["--batches", "10", "--messages-per-batch", "10", "--message-size", "100"];
const PER_ACTOR: u64 = 10 * 10;

/// Runs the bench in-process: `global` before the scenario, `scenario` and [`SMALL`] after.
fn run_bench(server: &TestServer, global: &[&str], scenario: &[&str]) -> Report {
    let address = server.address().to_string();
    let argv = ["whippet-bench", "--address", address.as_str()]
        .into_iter()
        .chain(global.iter().copied())
        .chain(scenario.iter().copied())
        .chain(SMALL);
    let args = Args::try_parse_from(argv).expect("valid arguments");
    whippet_bench::run(&args).unwrap_or_else(|error| panic!("bench run failed: {error}\n{}", server.log_tail()))
}

fn run_binary(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_whippet-bench")).args(arguments).output().expect("run whippet-bench")
}

/// Runs `query` on a fresh 0.11 connection to `address`.
fn with_client<T>(address: SocketAddr, query: impl AsyncFnOnce(&mut Client) -> T) -> T {
    let mut runtime =
        monoio::RuntimeBuilder::<monoio::FusionDriver>::new().enable_timer().build().expect("monoio runtime");
    runtime.block_on(async {
        let credentials = Credentials::Password { username: ROOT_USERNAME.into(), password: ROOT_PASSWORD.into() };
        let mut client = Client::connect_and_login(address, Dialect::V011, &credentials).await.expect("login");
        query(&mut client).await
    })
}

fn named(name: &str) -> Identifier {
    Identifier::Name(name.to_owned())
}

/// Messages per partition of `bench-{stream}`'s topic, as the server counts them.
fn partition_counts(server: &TestServer, stream: u32) -> Vec<u64> {
    with_client(server.address(), async |client| {
        let topic = client.topic(&named(&format!("bench-{stream}")), &named("bench")).await.expect("get topic");
        topic.expect("the bench created its topic").partitions.iter().map(|p| p.messages_count).collect()
    })
}

fn server_messages_total(server: &TestServer) -> u64 {
    with_client(server.address(), async |client| client.stats().await.expect("stats").messages_count)
}

fn assert_counts(report: &Report, messages: u64) {
    assert_eq!(report.figures.messages_total, messages);
    assert_eq!(report.figures.bytes_total, messages * 100);
    assert_eq!(report.figures.latency_ms.samples, report.figures.batches_total);
    let actors: u64 = report
        .actors
        .iter()
        .filter(|actor| actor.role == report.headline_role)
        .map(|actor| actor.figures.messages_total)
        .sum();
    assert_eq!(actors, messages, "per-actor counts add up to the total");
}

#[test]
fn pinned_producer_binary_writes_json_and_html_report() {
    let server = TestServer::start();
    let directory = tempfile::tempdir().expect("tempdir");
    let json = directory.path().join("run.json");
    let html = directory.path().join("run.html");
    let address = server.address().to_string();
    let mut arguments = vec!["--address", address.as_str(), "--json", json.to_str().unwrap()];
    arguments.extend(["pinned-producer", "--producers", "2", "--durability", "always", "--report"]);
    arguments.push(html.to_str().unwrap());
    arguments.extend(SMALL);
    let output = run_binary(&arguments);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}\n{}", String::from_utf8_lossy(&output.stderr), server.log_tail());
    assert!(stdout.contains("MB/s") && stdout.contains("p99.99"), "summary: {stdout}");

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("json written")).unwrap();
    for field in ["throughput_mb_s", "messages_per_s", "elapsed_s", "bytes_total", "batches_total"] {
        assert!(report[field].is_number(), "{field} in {report}");
    }
    for percentile in ["p50", "p90", "p99", "p999", "p9999", "max"] {
        assert!(report["latency_ms"][percentile].is_number(), "latency_ms.{percentile}");
    }
    assert_eq!(report["messages_total"], 2 * PER_ACTOR);
    assert_eq!(report["batches_total"], 2 * 10);
    assert_eq!(report["actors"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["config"]["durability"], "always");
    assert_eq!(report["config"]["dialect"], "0.11");
    assert!(report["machine"]["cores"].as_u64().is_some_and(|cores| cores >= 1));
    assert!(report["machine"]["hostname"].is_string() && report["machine"]["kernel"].is_string());
    assert!(std::fs::read_to_string(&html).expect("report written").contains("<svg"));

    assert_eq!(partition_counts(&server, 1), vec![PER_ACTOR]);
    assert_eq!(partition_counts(&server, 2), vec![PER_ACTOR]);
    assert_eq!(server_messages_total(&server), 2 * PER_ACTOR);
}

#[test]
fn pinned_consumer_seeds_then_reads_exactly_the_seed() {
    let server = TestServer::start();
    let report = run_bench(&server, &[], &["pinned-consumer", "--consumers", "2"]);
    assert_eq!(report.headline_role, "consumer");
    assert_counts(&report, 2 * PER_ACTOR);
    assert_eq!(partition_counts(&server, 1), vec![PER_ACTOR]);
    assert_eq!(partition_counts(&server, 2), vec![PER_ACTOR]);
}

#[test]
fn pinned_producer_and_consumer_receive_what_was_produced_with_svg_report() {
    let server = TestServer::start();
    let directory = tempfile::tempdir().expect("tempdir");
    let svg = directory.path().join("run.svg");
    let report = run_bench(
        &server,
        &["--report", svg.to_str().unwrap()],
        &["pinned-producer-and-consumer", "--producers", "2", "--rate-limit", "1"],
    );
    assert_counts(&report, 2 * PER_ACTOR);
    assert_eq!(report.roles["producer"].messages_total, 2 * PER_ACTOR);
    assert_eq!(report.roles["consumer"].messages_total, report.roles["producer"].messages_total);
    assert_eq!(server_messages_total(&server), 2 * PER_ACTOR);
    let contents = std::fs::read_to_string(&svg).expect("svg written");
    assert!(contents.starts_with("<svg"), "{}", &contents[..contents.len().min(200)]);
}

#[test]
fn balanced_producer_spreads_over_the_partitions() {
    let server = TestServer::start();
    let report = run_bench(&server, &[], &["balanced-producer", "--producers", "2", "--partitions", "3"]);
    assert_counts(&report, 2 * PER_ACTOR);
    let counts = partition_counts(&server, 1);
    assert_eq!(counts.len(), 3);
    assert_eq!(counts.iter().sum::<u64>(), 2 * PER_ACTOR);
    assert!(counts.iter().all(|count| *count > 0), "balanced sends reach every partition: {counts:?}");
}

#[test]
fn balanced_consumer_group_takes_every_message_once() {
    let server = TestServer::start();
    let report = run_bench(&server, &[], &["balanced-consumer-group", "--consumers", "3", "--partitions", "2"]);
    assert_eq!(report.headline_role, "group-consumer");
    assert_counts(&report, 3 * PER_ACTOR);
    let counts = partition_counts(&server, 1);
    assert_eq!(counts.iter().sum::<u64>(), 3 * PER_ACTOR);
    let group = Consumer { kind: ConsumerKind::Group, id: named("bench-group") };
    for (partition, count) in (0u32..).zip(counts) {
        let stored = with_client(server.address(), async |client| {
            let offset = client.consumer_offset(&group, &named("bench-1"), &named("bench"), Some(partition)).await;
            offset.expect("get group offset").expect("the group committed an offset").stored_offset
        });
        assert_eq!(stored, count - 1, "the group's offset on partition {partition} is its last message");
    }
}

#[test]
fn end_to_end_round_trips_rate_limited() {
    let server = TestServer::start();
    let report = run_bench(&server, &[], &["end-to-end", "--producers", "2", "--rate-limit", "2"]);
    assert_eq!(report.headline_role, "producing-consumer");
    assert_counts(&report, 2 * PER_ACTOR);
    assert_eq!(report.figures.batches_total, 2 * 10);
    assert_eq!(server_messages_total(&server), 2 * PER_ACTOR);
}

#[test]
fn legacy_dialect_producer_and_consumer() {
    let server = TestServer::start();
    let report = run_bench(&server, &["--dialect", "legacy"], &["pinned-producer-and-consumer", "--producers", "2"]);
    assert_eq!(report.config["dialect"], "legacy");
    assert_counts(&report, 2 * PER_ACTOR);
    assert_eq!(report.roles["producer"].messages_total, 2 * PER_ACTOR);
    assert_eq!(server_messages_total(&server), 2 * PER_ACTOR);
}

#[test]
fn legacy_group_consumers_let_the_server_pick() {
    let server = TestServer::start();
    let report = run_bench(&server, &["--dialect", "legacy"], &["balanced-consumer-group", "--consumers", "2"]);
    assert_counts(&report, 2 * PER_ACTOR);
}

#[test]
fn duration_and_warmup_with_rate_limit() {
    let server = TestServer::start();
    let address = server.address().to_string();
    let argv = ["whippet-bench", "--address", address.as_str(), "pinned-producer", "--producers", "1"];
    let load = ["--duration", "600ms", "--warmup", "200ms", "--rate-limit", "0.1", "--messages-per-batch", "10"];
    let args = Args::try_parse_from(argv.into_iter().chain(load).chain(["--message-size", "100"])).unwrap();
    let report = whippet_bench::run(&args).unwrap_or_else(|error| panic!("{error}"));
    assert!(report.figures.batches_total > 0);
    assert_eq!(report.figures.messages_total, report.figures.batches_total * 10);
    // Warmup batches reached the server but not the figures.
    assert!(server_messages_total(&server) >= report.figures.messages_total);
}

#[test]
fn refusals_and_failures_exit_non_zero_with_a_reason() {
    let durability = run_binary(&["--dialect", "legacy", "pinned-producer", "--durability", "always"]);
    assert!(!durability.status.success());
    let stderr = String::from_utf8_lossy(&durability.stderr);
    assert!(stderr.contains("legacy dialect cannot carry topic options"), "{stderr}");

    // Nothing listens on a port just freed.
    let port = whippet_testkit::free_port().to_string();
    let address = format!("127.0.0.1:{port}");
    let unreachable = run_binary(&["--address", address.as_str(), "pinned-producer", "--producers", "1"]);
    assert!(!unreachable.status.success());
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert!(stderr.contains("connect to") && stderr.contains(&address), "{stderr}");
}

#[test]
fn wrong_password_names_the_failed_step() {
    let server = TestServer::start();
    let address = server.address().to_string();
    let output = run_binary(&["--address", &address, "--password", "wrong", "end-to-end", "--producers", "1"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("log in"), "{stderr}");
}

#[test]
fn server_gone_mid_run_names_the_actor() {
    let mut server = TestServer::start();
    let address = server.address().to_string();
    let mut bench = Command::new(env!("CARGO_BIN_EXE_whippet-bench"))
        .args(["--address", &address, "pinned-producer", "--producers", "1", "--duration", "60s"])
        .args(["--messages-per-batch", "10", "--message-size", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn whippet-bench");
    // Wait for the first progress line (the measured loop is running), then take the server away.
    let (lines_sender, lines) = mpsc::channel();
    let stderr = bench.stderr.take().expect("stderr piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_sender.send(line);
        }
    });
    let mut seen = Vec::new();
    let started = Instant::now() + Duration::from_secs(20);
    while !seen.iter().any(|line: &String| line.starts_with('[') && line.contains("MB/s")) {
        match lines.recv_timeout(started.saturating_duration_since(Instant::now())) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = bench.kill();
                let _ = bench.wait();
                panic!("no progress line within 20 s: {seen:?}\n{}", server.log_tail());
            }
        }
    }
    server.stop();
    let deadline = Instant::now() + Duration::from_secs(25);
    while bench.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= deadline {
            let _ = bench.kill();
            let _ = bench.wait();
            panic!("whippet-bench kept running after the server stopped");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = bench.wait().expect("exit status");
    assert!(!status.success());
    // The reader thread ends at EOF, now that the process has exited.
    seen.extend(lines.iter());
    let stderr = seen.join("\n");
    assert!(stderr.contains("producer 0 (bench-1, partition 0): send failed"), "{stderr}");
}

#[test]
fn actors_that_cannot_connect_fail_the_run() {
    // Straight to the coordinator (no setup), at a port nothing listens on.
    let address = format!("127.0.0.1:{}", whippet_testkit::free_port());
    let args = Args::try_parse_from(["whippet-bench", "--address", &address, "pinned-producer", "--producers", "2"]);
    let config = std::sync::Arc::new(whippet_bench::Config::from_args(&args.unwrap()).unwrap());
    let plan = whippet_bench::scenario::plan(&config);
    let Err(error) = whippet_bench::coordinator::run(&config, plan) else { panic!("the run succeeded") };
    let text = error.to_string();
    assert!(text.starts_with("producer ") && text.contains("connect and log in failed"), "{text}");
}
