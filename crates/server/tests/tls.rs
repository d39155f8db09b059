//! TLS on the listener, end to end: the real `whippet-server` with `--tls-cert`/`--tls-key`,
//! certificates made here with rcgen (a CA and a `localhost` server certificate it signs), and
//! the official Apache Iggy SDK 0.11.0 connecting with `tls=true`. Clients that do not speak TLS,
//! or do not trust the server's CA, fail within a bound and leave the server serving; a client
//! that opens TCP and says nothing is dropped after the handshake bound; a missing certificate
//! stops the start with the file's name.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Server, ServerOptions, bounded, bounded_for, close};
use iggy::prelude::{
    Client, Consumer, Identifier, IggyClient, IggyMessage, MessageClient, Partitioning, PollingStrategy, StreamClient,
    TopicClient, TopicCreateOptions,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// Give up quickly instead of reconnecting forever (as the shared harness does).
const CLIENT_OPTIONS: &str = "reconnection_retries=1&reconnection_interval=200ms&reestablish_after=100ms&nodelay=true";
/// A client that fails must fail within this; well above the server's handshake bound.
const FAILURE_BOUND: Duration = Duration::from_secs(20);

/// PEM files written to a temporary directory: a CA, a server certificate for `localhost`
/// signed by it, its key, and a second CA that signed nothing of ours.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn generate() -> Pki {
        let dir = tempfile::Builder::new().prefix("whippet-tls-").tempdir().expect("tempdir");
        let (ca_params, ca_key) = ca("Whippet test CA");
        let ca_pem = ca_params.self_signed(&ca_key).expect("self-sign the CA").pem();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().expect("server key");
        let mut server_params = CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
        server_params.distinguished_name.push(DnType::CommonName, "localhost");
        let server_pem = server_params.signed_by(&server_key, &issuer).expect("sign the server certificate").pem();
        let (other_params, other_key) = ca("Some other CA");
        let other_pem = other_params.self_signed(&other_key).expect("self-sign the other CA").pem();
        let pki = Pki { dir };
        std::fs::write(pki.ca(), ca_pem).unwrap();
        std::fs::write(pki.other_ca(), other_pem).unwrap();
        std::fs::write(pki.certificate(), server_pem).unwrap();
        std::fs::write(pki.key(), server_key.serialize_pem()).unwrap();
        pki
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn other_ca(&self) -> PathBuf {
        self.dir.path().join("other-ca.pem")
    }

    fn certificate(&self) -> PathBuf {
        self.dir.path().join("server-cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("server-key.pem")
    }

    /// The server flags that turn TLS on with these files.
    fn server_flags(&self) -> Vec<String> {
        vec![
            "--tls-cert".to_owned(),
            self.certificate().display().to_string(),
            "--tls-key".to_owned(),
            self.key().display().to_string(),
        ]
    }
}

fn ca(name: &str) -> (CertificateParams, KeyPair) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    (params, key)
}

fn start_tls_server(pki: &Pki, extra: &[&str]) -> Server {
    Server::start(ServerOptions::new(2).durability("never").args(&pki.server_flags()).args(extra))
}

/// An SDK 0.11 client that logs in as root during `connect()`; `tls` holds the TLS options of
/// the connection string (empty for plain TCP).
fn sdk_client(address: SocketAddr, tls: &str) -> IggyClient {
    let connection_string = format!("iggy://iggy:iggy@{address}?{CLIENT_OPTIONS}{tls}");
    IggyClient::from_connection_string(&connection_string)
        .unwrap_or_else(|error| panic!("connection string {connection_string}: {error}"))
}

fn tls_options(ca: &Path) -> String {
    format!("&tls=true&tls_domain=localhost&tls_ca_file={}", ca.display())
}

fn named(name: &str) -> Identifier {
    Identifier::named(name).unwrap()
}

/// Connects over TLS trusting `pki`'s CA, creates a stream and topic, sends `count` messages (the
/// last one large) and polls them back.
async fn round_trip(address: SocketAddr, pki: &Pki, stream: &str, count: u32) {
    let client = sdk_client(address, &tls_options(&pki.ca()));
    bounded("TLS connect + login", client.connect()).await.expect("TLS connect + login");
    bounded("create_stream", client.create_stream(stream)).await.expect("create_stream");
    let options = TopicCreateOptions { partitions_count: Some(1), ..TopicCreateOptions::default() };
    bounded("create_topic", client.create_topic(&named(stream), "events", &options)).await.expect("create_topic");
    // The last one is large: stored records of 16 KiB or more are written without a copy, and
    // over TLS in several records.
    let mut payloads: Vec<Bytes> = (1..count).map(|i| Bytes::from(format!("{stream} message {i}"))).collect();
    payloads.push(Bytes::from(vec![b'w'; 300_000]));
    let mut messages: Vec<IggyMessage> =
        payloads.iter().map(|payload| IggyMessage::builder().payload(payload.clone()).build().unwrap()).collect();
    let partitioning = Partitioning::partition_id(0);
    bounded("send_messages", client.send_messages(&named(stream), &named("events"), &partitioning, &mut messages))
        .await
        .expect("send_messages");
    let consumer = Consumer::new(Identifier::numeric(1).unwrap());
    let polled = bounded(
        "poll_messages",
        client.poll_messages(
            &named(stream),
            &named("events"),
            Some(0),
            &consumer,
            &PollingStrategy::offset(0),
            count,
            false,
        ),
    )
    .await
    .expect("poll_messages");
    let offsets: Vec<u64> = polled.messages.iter().map(|m| m.header.offset).collect();
    assert_eq!(offsets, (0..u64::from(count)).collect::<Vec<_>>());
    let received: Vec<Bytes> = polled.messages.iter().map(|m| m.payload.clone()).collect();
    assert_eq!(received, payloads);
    close(client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_0_11_sends_and_polls_over_tls() {
    let pki = Pki::generate();
    let server = start_tls_server(&pki, &[]);
    assert!(
        server.log_lines().iter().any(|line| line.contains("TLS on")),
        "the start does not say TLS is on\n{}",
        server.log_tail()
    );
    round_trip(server.address(), &pki, "tls-stream", 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_tls_or_trust_fail_and_the_server_keeps_serving() {
    let pki = Pki::generate();
    let server = start_tls_server(&pki, &[]);
    let address = server.address();

    // The SDK over plain TCP: its first frame is no ClientHello, the handshake fails, the
    // connection closes and the SDK reports an error rather than hanging.
    let plain = sdk_client(address, "");
    let outcome = bounded_for(FAILURE_BOUND, "plain-TCP connect to a TLS port", plain.connect()).await;
    assert!(outcome.is_err(), "a plain-TCP client logged in on a TLS port");
    close(plain).await;

    // TLS trusting a CA that did not sign the server's certificate.
    let untrusting = sdk_client(address, &tls_options(&pki.other_ca()));
    let outcome = bounded_for(FAILURE_BOUND, "TLS connect with the wrong CA", untrusting.connect()).await;
    assert!(outcome.is_err(), "a client that does not trust the server's CA logged in");
    close(untrusting).await;

    // TLS for a name the certificate does not cover.
    let wrong_name =
        sdk_client(address, &format!("&tls=true&tls_domain=elsewhere.test&tls_ca_file={}", pki.ca().display()));
    let outcome = bounded_for(FAILURE_BOUND, "TLS connect for another name", wrong_name.connect()).await;
    assert!(outcome.is_err(), "a client expecting another server name logged in");
    close(wrong_name).await;

    // Raw legacy bytes (a ping frame): the server closes, it does not wait for more.
    let mut raw = TcpStream::connect(address).expect("connect");
    raw.set_read_timeout(Some(FAILURE_BOUND)).unwrap();
    raw.write_all(&[4, 0, 0, 0, 1, 0, 0, 0]).expect("write a legacy ping");
    let started = Instant::now();
    // An alert, then the close (or a reset, the alert unread): either way it ends.
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    assert!(started.elapsed() < FAILURE_BOUND, "the server held a non-TLS connection open");

    round_trip(address, &pki, "after-failures", 10).await;
    assert!(!server.log_lines().iter().any(|line| line.contains("panicked")), "{}", server.log_tail());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_dropped_before_and_after_the_handshake() {
    let pki = Pki::generate();
    // Heartbeat window 1.2 s, which bounds the handshake too.
    let server = start_tls_server(&pki, &["--heartbeat-interval", "1s"]);
    let mut silent = TcpStream::connect(server.address()).expect("connect");
    silent.set_read_timeout(Some(FAILURE_BOUND)).unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 16];
    let outcome = silent.read(&mut buffer);
    let waited = started.elapsed();
    assert!(matches!(outcome, Ok(0)) || outcome.is_err(), "the server sent bytes to a silent client: {outcome:?}");
    assert!(waited < Duration::from_secs(10), "a silent client was held {waited:?}");

    // After the handshake: a logged-in TLS client that stops talking is evicted when the
    // heartbeat window passes (the eviction notice is written on a stream whose read was
    // cancelled), and the server goes on serving.
    let quiet = sdk_client(server.address(), &format!("{}&heartbeat_interval=1h", tls_options(&pki.ca())));
    bounded("TLS connect + login", quiet.connect()).await.expect("TLS connect + login");
    let evicted = "client silent past the heartbeat window";
    let deadline = Instant::now() + FAILURE_BOUND;
    while !server.log_lines().iter().any(|line| line.contains(evicted)) {
        assert!(Instant::now() < deadline, "a silent TLS client was not evicted\n{}", server.log_tail());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    close(quiet).await;
    round_trip(server.address(), &pki, "after-eviction", 5).await;
    assert!(!server.log_lines().iter().any(|line| line.contains("panicked")), "{}", server.log_tail());
}

#[test]
fn a_missing_certificate_stops_the_start_naming_the_file() {
    let pki = Pki::generate();
    let missing = pki.dir.path().join("no-such-cert.pem");
    let data_dir = tempfile::Builder::new().prefix("whippet-tls-data-").tempdir().expect("tempdir");
    let mut child = Command::new(common::server_binary())
        .arg("--data-dir")
        .arg(data_dir.path())
        .arg("--tcp-address")
        .arg(format!("127.0.0.1:{}", common::free_port()))
        .arg("--no-pin")
        .arg("--tls-cert")
        .arg(&missing)
        .arg("--tls-key")
        .arg(pki.key())
        .env_remove("WHIPPET_SERVER_BIN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn whippet-server");
    let deadline = Instant::now() + common::STARTUP_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("whippet-server started with a missing certificate");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).unwrap();
    assert!(!status.success(), "whippet-server exited 0 with a missing certificate");
    assert!(stderr.contains(&missing.display().to_string()), "the error does not name the file: {stderr}");
}
