//! `whippet --tls` against a server with TLS on: certificates made here with rcgen (a CA and a
//! `localhost` certificate it signs), commands in both dialects over TLS, and the exit codes of
//! a plain connection, an untrusted CA and a missing CA file.

mod common;

use std::path::Path;

use common::{Cli, TestServer};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// The CLI's exit code for connection failures (`exit::CONNECTION`) and usage errors.
const CONNECTION: i32 = 4;
const USAGE: i32 = 2;

fn ca() -> (CertificateParams, KeyPair) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    (params, key)
}

/// Writes `ca.pem`, `other-ca.pem`, `server-cert.pem` (for `localhost`) and `server-key.pem`.
fn write_certificates(dir: &Path) {
    let (ca_params, ca_key) = ca();
    std::fs::write(dir.join("ca.pem"), ca_params.self_signed(&ca_key).expect("self-sign").pem()).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().expect("server key");
    let server = CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
    let server_pem = server.signed_by(&server_key, &issuer).expect("sign").pem();
    std::fs::write(dir.join("server-cert.pem"), server_pem).unwrap();
    std::fs::write(dir.join("server-key.pem"), server_key.serialize_pem()).unwrap();
    let (other_params, other_key) = ca();
    std::fs::write(dir.join("other-ca.pem"), other_params.self_signed(&other_key).expect("self-sign").pem()).unwrap();
}

#[test]
fn commands_run_over_tls_and_untrusted_connections_fail() {
    let pki = tempfile::Builder::new().prefix("whippet-cli-tls-").tempdir().expect("tempdir");
    write_certificates(pki.path());
    let path = |name: &str| pki.path().join(name).display().to_string();
    let (certificate, key) = (path("server-cert.pem"), path("server-key.pem"));
    let server = TestServer::start_with(&[
        "--shards",
        "2",
        "--durability",
        "never",
        "--tls-cert",
        &certificate,
        "--tls-key",
        &key,
    ]);
    let cli = Cli::new(&server);
    let ca = path("ca.pem");
    let tls = ["--tls-ca-file", ca.as_str(), "--tls-domain", "localhost"];
    let with_tls = |args: &[&'static str]| -> Vec<&str> { tls.iter().chain(args).copied().collect() };

    cli.ok(&with_tls(&["stream", "create", "secure"]));
    cli.ok(&with_tls(&["topic", "create", "secure", "events", "--partitions", "1"]));
    let sent = cli.json(&with_tls(&["send", "secure", "events", "--partition", "0", "one", "two"]));
    assert_eq!(sent["messages_sent"], 2);
    let sent = cli.json(&with_tls(&["--dialect", "legacy", "send", "secure", "events", "--partition", "0", "three"]));
    assert_eq!(sent["messages_sent"], 1);
    let polled = cli.json(&with_tls(&["poll", "secure", "events", "--partition", "0", "--first", "--count", "10"]));
    let payloads: Vec<&str> =
        polled["messages"].as_array().expect("messages").iter().map(|m| m["payload"].as_str().unwrap()).collect();
    assert_eq!(payloads, ["one", "two", "three"]);
    let config = cli.ok(&with_tls(&["config"]));
    assert!(config.contains("on, server name localhost"), "{config}");

    let plain = cli.fails(&["stream", "list"], CONNECTION);
    assert!(!plain.stderr.is_empty(), "{plain:#?}");
    let other_ca = path("other-ca.pem");
    let untrusted = cli.fails(&["--tls-ca-file", &other_ca, "--tls-domain", "localhost", "stream", "list"], CONNECTION);
    assert!(untrusted.stderr.contains("TLS"), "{untrusted:#?}");
    let missing = cli.fails(&["--tls-ca-file", "/nonexistent/ca.pem", "stream", "list"], USAGE);
    assert!(missing.stderr.contains("/nonexistent/ca.pem"), "{missing:#?}");

    // The server served every one of them and is still up.
    assert_eq!(cli.json(&with_tls(&["stream", "list"])).as_array().map(Vec::len), Some(1));
}
