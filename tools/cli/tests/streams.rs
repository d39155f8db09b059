//! `whippet stream`, `topic`, `partition` and `segment` against a real server.

mod common;

use common::{Cli, TestServer};

#[test]
fn stream_lifecycle_in_json() {
    let server = TestServer::start();
    let cli = Cli::new(&server);

    let created = cli.json(&["stream", "create", "orders"]);
    assert_eq!(created["name"], "orders");
    let id = created["id"].as_u64().expect("numeric id");

    let streams = cli.json(&["stream", "list"]);
    let listed = streams.as_array().expect("a list").iter().find(|s| s["name"] == "orders").expect("listed");
    assert_eq!(listed["id"].as_u64(), Some(id));
    assert_eq!(listed["topics_count"], 0);
    assert!(listed["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{listed}");

    // By id (digits) and by name.
    let by_id = cli.json(&["stream", "get", &id.to_string()]);
    assert_eq!(by_id["name"], "orders");
    assert_eq!(by_id["topics"], serde_json::json!([]));

    cli.ok(&["stream", "update", "orders", "sales"]);
    assert_eq!(cli.json(&["stream", "get", &id.to_string()])["name"], "sales");
    cli.ok(&["stream", "purge", "sales"]);

    let table = cli.ok(&["stream", "list"]);
    assert!(table.lines().next().is_some_and(|header| header.contains("NAME")), "{table}");
    assert!(table.contains("sales"), "{table}");

    cli.ok(&["stream", "delete", "sales"]);
    assert_eq!(cli.json(&["stream", "list"]), serde_json::json!([]));
    assert_eq!(cli.ok(&["stream", "list"]).trim(), "no streams");
}

#[test]
fn topics_partitions_and_segments() {
    let server = TestServer::start();
    let cli = Cli::new(&server);
    cli.ok(&["stream", "create", "orders"]);

    let args = [
        "topic",
        "create",
        "orders",
        "created",
        "--partitions",
        "3",
        "--message-expiry",
        "1h",
        "--max-size",
        "1GiB",
        "--compression",
        "gzip",
        "--option",
        "durability=never",
    ];
    let created = cli.json(&args);
    assert_eq!(created["partitions_count"], 3);

    let topic = cli.json(&["topic", "get", "orders", "created"]);
    assert_eq!(topic["name"], "created");
    assert_eq!(topic["partitions"].as_array().map(Vec::len), Some(3));
    let partition_ids: Vec<u64> =
        topic["partitions"].as_array().unwrap().iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(partition_ids, [0, 1, 2]);
    assert_eq!(topic["message_expiry_us"], 3_600_000_000u64);
    assert_eq!(topic["max_topic_size_bytes"], 1u64 << 30);
    assert_eq!(topic["compression"], "gzip");
    assert_eq!(topic["options"]["durability"], "never");

    let human = cli.ok(&["topic", "get", "orders", "created"]);
    assert!(human.contains("Message expiry: 1h") && human.contains("1.0 GiB"), "{human}");

    cli.ok(&["topic", "update", "orders", "created", "--name", "placed", "--message-expiry", "never"]);
    let updated = cli.json(&["topic", "get", "orders", "placed"]);
    assert_eq!(updated["message_expiry_us"], serde_json::Value::Null, "never expires: {updated}");
    assert_eq!(updated["compression"], "gzip", "settings not named keep their value");

    cli.ok(&["partition", "create", "orders", "placed", "2"]);
    assert_eq!(cli.json(&["topic", "get", "orders", "placed"])["partitions_count"], 5);
    cli.ok(&["partition", "delete", "orders", "placed", "1"]);
    assert_eq!(cli.json(&["topic", "get", "orders", "placed"])["partitions_count"], 4);

    // A segment delete on an existing partition is accepted or refused by the server; on a
    // missing partition it is "not found".
    let outcome = cli.run(&["segment", "delete", "orders", "placed", "0", "1"]);
    assert!(matches!(outcome.code, Some(0 | 1)), "{outcome:#?}");
    let missing = cli.fails(&["segment", "delete", "orders", "placed", "9", "1"], 3);
    assert!(missing.stderr.contains("partition 9"), "{missing:#?}");

    let topics = cli.json(&["topic", "list", "orders"]);
    assert_eq!(topics.as_array().map(Vec::len), Some(1));
    cli.ok(&["topic", "purge", "orders", "placed"]);
    cli.ok(&["topic", "delete", "orders", "placed"]);
    assert_eq!(cli.json(&["topic", "list", "orders"]), serde_json::json!([]));
}

#[test]
fn missing_things_exit_3_and_name_what_is_missing() {
    let server = TestServer::start();
    let cli = Cli::new(&server);
    cli.ok(&["stream", "create", "orders"]);

    let outcome = cli.fails(&["stream", "get", "nope"], 3);
    assert!(outcome.stderr.contains(r#"stream "nope" not found"#), "{outcome:#?}");
    assert!(outcome.stderr.contains("whippet stream list"), "the hint says what to do: {outcome:#?}");

    let outcome = cli.fails(&["topic", "get", "orders", "nope"], 3);
    assert!(outcome.stderr.contains(r#"topic "nope" in stream "orders" not found"#), "{outcome:#?}");
    let outcome = cli.fails(&["topic", "get", "nope", "t"], 3);
    assert!(outcome.stderr.contains(r#"stream "nope" not found"#), "{outcome:#?}");

    cli.fails(&["stream", "delete", "nope"], 3);
    cli.fails(&["topic", "list", "nope"], 3);
    cli.fails(&["stream", "delete", "12345"], 3);

    let duplicate = cli.fails(&["stream", "create", "orders"], 1);
    assert!(duplicate.stderr.contains("StreamNameAlreadyExists (status 1012)"), "{duplicate:#?}");
}
