//! `whippet group` and polling as a consumer group.

mod common;

use std::time::Duration;

use common::{Cli, Spawned, TestServer, wait_bounded};

const LINE_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn consumer_group_lifecycle_and_group_polls() {
    let server = TestServer::start();
    let cli = Cli::new(&server);
    cli.ok(&["stream", "create", "orders"]);
    cli.ok(&["topic", "create", "orders", "created", "--partitions", "2"]);

    let created = cli.json(&["group", "create", "orders", "created", "billing"]);
    assert_eq!(created["name"], "billing");
    let id = created["id"].as_u64().expect("numeric id");

    let group = cli.json(&["group", "get", "orders", "created", "billing"]);
    assert_eq!(group["id"].as_u64(), Some(id));
    assert_eq!(group["partitions_count"], 2);
    assert_eq!(group["members"], serde_json::json!([]));
    let groups = cli.json(&["group", "list", "orders", "created"]);
    assert_eq!(groups[0]["name"], "billing");

    // The joining connection is the member, with every partition.
    let joined = cli.json(&["group", "join", "orders", "created", &id.to_string()]);
    assert_eq!(joined["members_count"], 1);
    assert_eq!(joined["members"][0]["partitions"], serde_json::json!([0, 1]));
    cli.fails(&["group", "leave", "orders", "created", "billing"], 3);

    // `--hold` stays a member (its client shows the membership) until Ctrl-C, then leaves.
    let mut command = cli.command();
    command.args(["group", "join", "orders", "created", "billing", "--hold", "--json"]);
    let holder = Spawned::start(command);
    let mut document = String::new();
    loop {
        let line = holder.line(LINE_TIMEOUT);
        document.push_str(&line);
        if line == "}" {
            break;
        }
    }
    let joined: serde_json::Value = serde_json::from_str(&document).expect("the group as JSON");
    let member = joined["members"][0]["id"].as_u64().expect("the holder's client id").to_string();
    let client = cli.json(&["client", "get", &member]);
    assert_eq!(client["consumer_groups"][0]["group_id"].as_u64(), Some(id), "{client}");
    holder.signal("INT");
    let mut holder = holder;
    assert_eq!(wait_bounded(&mut holder.child, LINE_TIMEOUT), Some(Some(0)));
    assert_eq!(cli.json(&["group", "get", "orders", "created", "billing"])["members_count"], 0);

    // A group poll joins, reads from the group's partitions, commits and leaves.
    cli.ok(&["send", "orders", "created", "--partition", "0", "a"]);
    cli.ok(&["send", "orders", "created", "--partition", "1", "b"]);
    let mut seen = Vec::new();
    for _ in 0..2 {
        let polled = cli.json(&["poll", "orders", "created", "--group", "billing", "--auto-commit"]);
        seen.extend(polled["messages"].as_array().unwrap().iter().map(|m| m["payload"].as_str().unwrap().to_owned()));
    }
    seen.sort();
    assert_eq!(seen, ["a", "b"]);
    let stored = cli.json(&["offset", "get", "--group", "billing", "orders", "created", "--partition", "0"]);
    assert_eq!(stored["stored_offset"], 0);
    assert_eq!(cli.json(&["group", "get", "orders", "created", "billing"])["members_count"], 0);

    let follow_needs_commit = cli.fails(&["poll", "orders", "created", "--group", "billing", "--follow"], 2);
    assert!(follow_needs_commit.stderr.contains("--auto-commit"), "{follow_needs_commit:#?}");

    cli.ok(&["group", "delete", "orders", "created", "billing"]);
    let missing = cli.fails(&["group", "get", "orders", "created", "billing"], 3);
    assert!(missing.stderr.contains(r#"consumer group "billing""#), "{missing:#?}");
    cli.fails(&["group", "get", "orders", "nope", "billing"], 3);
}
