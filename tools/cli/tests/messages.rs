//! `whippet send`, `poll` (with `--follow`), `offset` and `flush`, in both dialects.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::{Cli, Spawned, TestServer, wait_bounded};

const LINE_TIMEOUT: Duration = Duration::from_secs(10);

fn topic(cli: &Cli, dialect: &str, partitions: &str) {
    cli.ok(&["--dialect", dialect, "stream", "create", "orders"]);
    cli.ok(&["--dialect", dialect, "topic", "create", "orders", "created", "--partitions", partitions]);
}

fn payloads(polled: &serde_json::Value) -> Vec<String> {
    let messages = polled["messages"].as_array().expect("messages");
    messages.iter().map(|m| m["payload"].as_str().expect("text payload").to_owned()).collect()
}

fn offsets(polled: &serde_json::Value) -> Vec<u64> {
    polled["messages"].as_array().expect("messages").iter().map(|m| m["offset"].as_u64().expect("offset")).collect()
}

#[test]
fn send_then_poll_returns_the_messages_with_their_offsets() {
    let server = TestServer::start();
    let cli = Cli::new(&server);
    topic(&cli, "0.11", "2");

    let sent = cli.json(&["send", "orders", "created", "--partition", "1", "one", "two", "three"]);
    assert_eq!(sent["messages_sent"], 3);
    let polled = cli.json(&["poll", "orders", "created", "--partition", "1", "--first"]);
    assert_eq!(offsets(&polled), [0, 1, 2]);
    assert_eq!(payloads(&polled), ["one", "two", "three"]);
    assert_eq!(polled["partition_id"], 1);
    assert_eq!(polled["messages"][0]["encoding"], "utf8");

    // One message per stdin line, empty lines skipped.
    let sent = cli.ok_with_input(&["send", "orders", "created", "--partition", "1", "--json"], "four\n\nfive\n");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&sent).unwrap()["messages_sent"], 2);
    let polled = cli.json(&["poll", "orders", "created", "--partition", "1", "--offset", "3", "--count", "5"]);
    assert_eq!(payloads(&polled), ["four", "five"]);
    let last = cli.json(&["poll", "orders", "created", "--partition", "1", "--last", "--count", "1"]);
    assert_eq!(offsets(&last), [4]);

    // The same key always lands on the same partition.
    cli.ok(&["send", "orders", "created", "--key", "customer-7", "k1"]);
    cli.ok(&["send", "orders", "created", "--key", "customer-7", "k2"]);
    let mut keyed: Vec<Vec<String>> = ["0", "1"]
        .iter()
        .map(|partition| payloads(&cli.json(&["poll", "orders", "created", "--partition", partition, "--first"])))
        .map(|payloads| payloads.into_iter().filter(|payload| payload.starts_with('k')).collect())
        .collect();
    keyed.sort();
    assert_eq!(keyed, [vec![], vec!["k1".to_owned(), "k2".to_owned()]]);

    let table = cli.ok(&["poll", "orders", "created", "--partition", "1", "--count", "1"]);
    assert!(table.contains("OFFSET") && table.contains("one"), "{table}");
    cli.ok(&["flush", "orders", "created", "1", "--fsync"]);
    cli.fails(&["send", "orders", "nope", "x"], 3);
}

#[test]
fn consumer_offsets_store_get_delete_and_auto_commit() {
    let server = TestServer::start();
    let cli = Cli::new(&server);
    topic(&cli, "0.11", "1");
    cli.ok(&["send", "orders", "created", "a", "b", "c"]);

    let get = ["offset", "get", "--consumer", "reader", "orders", "created", "--partition", "0"];
    let store = ["offset", "store", "--consumer", "reader", "orders", "created", "--partition", "0", "1"];
    let delete = ["offset", "delete", "--consumer", "reader", "orders", "created", "--partition", "0"];

    let outcome = cli.fails(&get, 3);
    assert!(outcome.stderr.contains("stored offset"), "{outcome:#?}");
    cli.ok(&store);
    let stored = cli.json(&get);
    assert_eq!(stored["stored_offset"], 1);
    assert_eq!(stored["current_offset"], 2);

    // --next goes on after the stored offset, and --auto-commit moves it.
    let next = cli.json(&["poll", "orders", "created", "--consumer", "reader", "--next", "--auto-commit"]);
    assert_eq!(payloads(&next), ["c"]);
    assert_eq!(cli.json(&get)["stored_offset"], 2);

    cli.ok(&delete);
    cli.fails(&get, 3);
}

#[test]
fn poll_follow_prints_new_messages_and_stops_cleanly() {
    let server = TestServer::start();
    let cli = Cli::new(&server);
    topic(&cli, "0.11", "1");
    cli.ok(&["send", "orders", "created", "before"]);

    let mut command = cli.command();
    command.args(["poll", "orders", "created", "--follow", "--json", "--interval", "50ms"]);
    let follower = Spawned::start(command);
    let first: serde_json::Value = serde_json::from_str(&follower.line(LINE_TIMEOUT)).expect("a JSON line");
    assert_eq!((first["offset"].as_u64(), first["payload"].as_str()), (Some(0), Some("before")));

    cli.ok(&["send", "orders", "created", "after-1", "after-2"]);
    for (offset, payload) in [(1, "after-1"), (2, "after-2")] {
        let line: serde_json::Value = serde_json::from_str(&follower.line(LINE_TIMEOUT)).expect("a JSON line");
        assert_eq!((line["offset"].as_u64(), line["payload"].as_str()), (Some(offset), Some(payload)));
    }

    // Ctrl-C ends it with exit 0.
    follower.signal("INT");
    let mut follower = follower;
    assert_eq!(wait_bounded(&mut follower.child, LINE_TIMEOUT), Some(Some(0)), "SIGINT: clean exit 0");
}

#[test]
fn poll_follow_stops_when_its_reader_goes_away() {
    let server = TestServer::start();
    let cli = Cli::new(&server);
    topic(&cli, "0.11", "1");
    cli.ok(&["send", "orders", "created", "only"]);

    let mut command = cli.command();
    command.args(["poll", "orders", "created", "--follow", "--interval", "50ms"]);
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = command.spawn().expect("spawn whippet");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("a line");
    assert!(line.contains("only"), "{line}");
    // Closing the pipe (like `| head -1`) ends the follower without a new message to write.
    drop(stdout);
    let code = wait_bounded(&mut child, LINE_TIMEOUT);
    assert_eq!(code, Some(Some(0)), "a closed stdout ends the follower quietly");
}

#[test]
fn legacy_dialect_round_trip() {
    let server = TestServer::start();
    let cli = Cli::new(&server);
    topic(&cli, "legacy", "1");

    let legacy = |args: &[&str]| {
        let mut all = vec!["--dialect", "legacy"];
        all.extend_from_slice(args);
        cli.json(&all)
    };
    assert_eq!(legacy(&["stream", "list"])[0]["name"], "orders");
    assert_eq!(legacy(&["topic", "get", "orders", "created"])["partitions_count"], 1);
    legacy(&["send", "orders", "created", "--partition", "0", "x", "y", "z"]);
    let polled = legacy(&["poll", "orders", "created", "--partition", "0", "--offset", "0"]);
    assert_eq!(offsets(&polled), [0, 1, 2]);
    assert_eq!(payloads(&polled), ["x", "y", "z"]);
    // The other dialect reads the same messages.
    let polled = cli.json(&["poll", "orders", "created", "--first"]);
    assert_eq!(payloads(&polled), ["x", "y", "z"]);
}
