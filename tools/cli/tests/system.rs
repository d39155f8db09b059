//! `whippet ping`, `me`, `stats`, `client`, `cluster`, `snapshot`, `config` and
//! `completions`; connection settings from flags, environment and profiles; the exit codes of
//! failed connections and usage errors.

mod common;

use common::{Cli, TestServer, run_bounded, wait_bounded};

#[test]
fn server_state_commands() {
    let server = TestServer::start();
    let cli = Cli::new(&server);
    cli.ok(&["stream", "create", "orders"]);

    let ping = cli.json(&["ping", "--count", "2", "--interval", "10ms"]);
    assert_eq!(ping["count"], 2);
    assert_eq!(ping["round_trips_us"].as_array().map(Vec::len), Some(2));
    let text = cli.ok(&["ping"]);
    assert!(text.contains("pong from") && text.contains(" ms"), "{text}");

    let me = cli.json(&["me"]);
    assert_eq!(me["user_id"], 0);
    assert_eq!(me["transport"], "tcp");
    assert!(me["client_id"].is_u64(), "{me}");

    let stats = cli.json(&["stats"]);
    assert_eq!(stats["streams_count"], 1);
    assert!(stats["server_version"].is_string(), "{stats}");
    assert!(cli.ok(&["stats"]).contains("Streams:"));

    let clients = cli.json(&["client", "list"]);
    assert!(!clients.as_array().expect("a list").is_empty());
    assert!(cli.ok(&["client", "list"]).contains("TRANSPORT"));
    let gone = cli.fails(&["client", "get", "4000000000"], 3);
    assert!(gone.stderr.contains("client 4000000000 not found"), "{gone:#?}");

    let cluster = cli.json(&["cluster"]);
    assert_eq!(cluster["nodes"][0]["role"], "leader");

    let zip = cli.directory.path().join("snapshot.zip");
    cli.ok(&["snapshot", zip.to_str().unwrap()]);
    let bytes = std::fs::read(&zip).expect("the snapshot file");
    assert!(bytes.starts_with(b"PK"), "a ZIP file");
}

#[test]
fn closed_port_exits_4_with_advice() {
    let port = whippet_testkit::free_port();
    let cli = Cli::at(&format!("127.0.0.1:{port}"));
    let outcome = cli.fails(&["stream", "list"], 4);
    assert!(outcome.stderr.contains("is whippet-server running"), "{outcome:#?}");
    assert!(outcome.stderr.contains("--address"), "{outcome:#?}");
    cli.fails(&["ping"], 4);
}

#[test]
fn flags_beat_environment_which_beats_the_profile() {
    let server = TestServer::start();
    let port = whippet_testkit::free_port();
    let cli = Cli::at(&server.address().to_string());
    let profiles = format!(
        "[profiles.default]\naddress = \"{}\"\nusername = \"iggy\"\npassword = \"iggy\"\n\n\
         [profiles.broken]\naddress = \"127.0.0.1:{port}\"\npassword = \"wrong\"\ndialect = \"legacy\"\n",
        server.address()
    );
    std::fs::write(cli.config_path(), profiles).unwrap();

    // The default profile alone reaches the server.
    let mut command = cli.bare();
    command.args(["stream", "list", "--json"]);
    assert_eq!(run_bounded(command, None).code, Some(0));

    let config = |extra: &[(&str, &str)], args: &[&str]| {
        let mut command = cli.bare();
        command.envs(extra.iter().copied()).args(["config", "--json"]).args(args);
        let outcome = run_bounded(command, None);
        assert_eq!(outcome.code, Some(0), "{outcome:#?}");
        serde_json::from_str::<serde_json::Value>(&outcome.stdout).expect("JSON")
    };
    let from_profile = config(&[], &["--profile", "broken"]);
    assert_eq!(from_profile["address"]["source"], "profile");
    assert_eq!(from_profile["dialect"]["value"], "legacy");
    let from_env = config(&[("WHIPPET_ADDRESS", "10.0.0.9:1"), ("WHIPPET_DIALECT", "0.11")], &["--profile", "broken"]);
    assert_eq!(from_env["address"]["value"], "10.0.0.9:1");
    assert_eq!(from_env["address"]["source"], "env");
    assert_eq!(from_env["dialect"]["source"], "env");
    let from_flag = config(&[("WHIPPET_ADDRESS", "10.0.0.9:1")], &["--address", "10.0.0.8:2"]);
    assert_eq!(from_flag["address"]["value"], "10.0.0.8:2");
    assert_eq!(from_flag["address"]["source"], "flag");
    let token = config(&[("WHIPPET_TOKEN", "some-token")], &[]);
    assert_eq!(token["credentials"]["kind"], "token", "an env token beats a profile password");

    // The broken profile points at a closed port; the environment and then a flag fix it.
    let run = |extra: &[(&str, &str)], args: &[&str]| {
        let mut command = cli.bare();
        command.envs(extra.iter().copied()).args(["--profile", "broken", "me"]).args(args);
        run_bounded(command, None).code
    };
    assert_eq!(run(&[], &[]), Some(4), "profile address: closed port");
    let address = server.address().to_string();
    assert_eq!(run(&[("WHIPPET_ADDRESS", &address)], &[]), Some(5), "env address, profile password");
    assert_eq!(run(&[("WHIPPET_ADDRESS", &address), ("WHIPPET_PASSWORD", "iggy")], &[]), Some(0));
    let flags = ["--address", address.as_str(), "--password", "iggy"];
    assert_eq!(run(&[("WHIPPET_ADDRESS", "127.0.0.1:1"), ("WHIPPET_PASSWORD", "wrong")], &flags), Some(0));

    let mut command = cli.bare();
    command.args(["--profile", "nope", "me"]);
    let outcome = run_bounded(command, None);
    assert_eq!(outcome.code, Some(2), "{outcome:#?}");
    assert!(outcome.stderr.contains("broken, default"), "lists the profiles: {outcome:#?}");
}

#[test]
fn usage_help_and_completions() {
    let cli = Cli::at("127.0.0.1:1");
    cli.fails(&["stream"], 2);
    cli.fails(&["stream", "create"], 2);
    cli.fails(&["topic", "create", "s", "t", "--max-size", "12 parsecs"], 2);
    cli.fails(&["poll", "s", "t", "--first", "--last"], 2);

    let help = cli.ok(&["--help"]);
    for code in ["0  ok", "2  usage error", "3  not found", "4  connection failed", "5  authentication failed"] {
        assert!(help.contains(code), "--help documents exit code `{code}`");
    }
    assert!(help.contains("WHIPPET_ADDRESS") && help.contains("[profiles.default]"), "{help}");

    for shell in ["bash", "zsh", "fish"] {
        let script = cli.ok(&["completions", shell]);
        assert!(script.contains("whippet") && script.contains("stream"), "{shell} completions");
    }
}

#[test]
fn ping_continues_until_its_count() {
    let server = TestServer::start();
    let cli = Cli::new(&server);
    let mut command = cli.command();
    command.args(["ping", "--count", "3", "--interval", "20ms"]);
    command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null());
    let mut child = command.spawn().expect("spawn");
    assert_eq!(wait_bounded(&mut child, common::RUN_TIMEOUT), Some(Some(0)));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut text).unwrap();
    assert_eq!(text.lines().filter(|line| line.starts_with("pong")).count(), 3, "{text}");
    assert!(text.contains("3 pings: min"), "{text}");
}
