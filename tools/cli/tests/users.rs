//! `whippet user` and `whippet pat`, and the exit codes of refused logins and permissions.

mod common;

use common::{Cli, TestServer};

#[test]
fn users_and_their_permissions() {
    let server = TestServer::start();
    let cli = Cli::new(&server);
    cli.ok(&["stream", "create", "orders"]);

    let created = cli.json(&["user", "create", "alice", "Secret-1", "--global", "read_streams,poll_messages"]);
    assert_eq!(created["username"], "alice");
    assert_eq!(created["status"], "active");

    let alice = cli.json(&["user", "get", "alice"]);
    assert_eq!(alice["permissions"]["global"]["read_streams"], true);
    assert_eq!(alice["permissions"]["global"]["manage_streams"], false);
    let users = cli.json(&["user", "list"]);
    let names: Vec<&str> = users.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["iggy", "alice"]);

    // Alice may read streams but not create them.
    let as_alice = ["--username", "alice", "--password", "Secret-1"];
    let mut args = as_alice.to_vec();
    args.extend(["stream", "list"]);
    cli.ok(&args);
    let mut args = as_alice.to_vec();
    args.extend(["stream", "create", "hers"]);
    let denied = cli.fails(&args, 6);
    assert!(denied.stderr.contains("permission denied"), "{denied:#?}");

    // Permissions from a file, in the shape `user get --json` prints.
    let file = cli.directory.path().join("permissions.json");
    std::fs::write(&file, r#"{"global": {"manage_streams": true}, "streams": {"0": {"send_messages": true}}}"#)
        .unwrap();
    cli.ok(&["user", "permissions", "alice", "--permissions", file.to_str().unwrap()]);
    let alice = cli.json(&["user", "get", "alice"]);
    assert_eq!(alice["permissions"]["global"]["manage_streams"], true);
    assert_eq!(alice["permissions"]["global"]["read_streams"], false);
    assert_eq!(alice["permissions"]["streams"]["0"]["send_messages"], true);
    cli.ok(&args);

    cli.ok(&["user", "permissions", "alice", "--none"]);
    assert_eq!(cli.json(&["user", "get", "alice"])["permissions"], serde_json::Value::Null);
    cli.fails(&["user", "permissions", "alice", "--global", "fly"], 2);

    // Password change, deactivation, rename, delete.
    cli.ok(&["user", "password", "alice", "Secret-1", "Secret-2"]);
    cli.fails(&["--username", "alice", "--password", "Secret-1", "me"], 5);
    cli.ok(&["--username", "alice", "--password", "Secret-2", "me"]);
    cli.ok(&["user", "update", "alice", "--inactive"]);
    let inactive = cli.fails(&["--username", "alice", "--password", "Secret-2", "me"], 5);
    assert!(inactive.stderr.contains("inactive"), "{inactive:#?}");
    cli.ok(&["user", "update", "alice", "--name", "alicia", "--active"]);
    assert_eq!(cli.json(&["user", "get", "alicia"])["status"], "active");
    cli.ok(&["user", "delete", "alicia"]);
    let missing = cli.fails(&["user", "get", "alicia"], 3);
    assert!(missing.stderr.contains(r#"user "alicia" not found"#), "{missing:#?}");
}

#[test]
fn personal_access_tokens_log_in_until_deleted() {
    let server = TestServer::start();
    let cli = Cli::new(&server);

    let created = cli.json(&["pat", "create", "deploy-token", "--expiry", "30d"]);
    assert_eq!(created["name"], "deploy-token");
    let token = created["token"].as_str().expect("the token").to_owned();
    let tokens = cli.json(&["pat", "list"]);
    assert_eq!(tokens[0]["name"], "deploy-token");
    assert!(tokens[0]["expiry_at"].is_string(), "{tokens}");

    let me = cli.json(&["--token", &token, "me"]);
    assert_eq!(me["user_id"], 0);

    cli.ok(&["pat", "delete", "deploy-token"]);
    let refused = cli.fails(&["--token", &token, "me"], 5);
    assert!(refused.stderr.contains("--token"), "the hint names the flag: {refused:#?}");
    cli.fails(&["pat", "delete", "deploy-token"], 3);
}

#[test]
fn wrong_credentials_exit_5_with_advice() {
    let server = TestServer::start();
    let cli = Cli::new(&server);
    for dialect in ["0.11", "legacy"] {
        let outcome = cli.fails(&["--dialect", dialect, "--password", "wrong", "stream", "list"], 5);
        assert!(outcome.stderr.contains("--username/--password"), "{outcome:#?}");
    }
}
