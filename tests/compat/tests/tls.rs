//! TLS with the legacy SDK: Apache Iggy Rust SDK 0.10.0 (length/code dialect) connects with
//! `tls=true` to a `whippet-server` whose `[tls]` section names a certificate for `localhost`
//! signed by a CA made here with rcgen, then sends and polls. The 0.11 SDK and the failure
//! cases are covered in crates/server/tests/tls.rs.

mod support;

use std::path::Path;

use bytes::Bytes;
use iggy_010::prelude::{
    Client, CompressionAlgorithm, Consumer, Identifier, IggyClient, IggyExpiry, IggyMessage, MaxTopicSize,
    MessageClient, Partitioning, PollingStrategy, StreamClient, TopicClient,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use support::{ROOT_PASSWORD, ROOT_USERNAME, Server, ServerOptions, bounded, connection_string};

/// Writes `ca.pem`, `server-cert.pem` (for `localhost`, signed by the CA) and `server-key.pem`.
fn write_certificates(dir: &Path) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "Whippet compat CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_pem = ca_params.self_signed(&ca_key).expect("self-sign the CA").pem();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().expect("server key");
    let server_params = CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
    let server_pem = server_params.signed_by(&server_key, &issuer).expect("sign the server certificate").pem();
    std::fs::write(dir.join("ca.pem"), ca_pem).unwrap();
    std::fs::write(dir.join("server-cert.pem"), server_pem).unwrap();
    std::fs::write(dir.join("server-key.pem"), server_key.serialize_pem()).unwrap();
}

fn named(name: &str) -> Identifier {
    Identifier::named(name).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_0_10_sends_and_polls_over_tls() {
    let pki = tempfile::Builder::new().prefix("whippet-compat-tls-").tempdir().expect("tempdir");
    write_certificates(pki.path());
    let config = format!(
        "[tls]\nenabled = true\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        pki.path().join("server-cert.pem").display(),
        pki.path().join("server-key.pem").display()
    );
    let server = Server::start_with(ServerOptions::default().config_toml(&config));
    let tls = format!("&tls=true&tls_domain=localhost&tls_ca_file={}", pki.path().join("ca.pem").display());
    let connection_string = connection_string(server.address(), ROOT_USERNAME, ROOT_PASSWORD, &tls);
    let client = IggyClient::from_connection_string(&connection_string)
        .unwrap_or_else(|error| panic!("connection string {connection_string}: {error}"));
    bounded("TLS connect + login", client.connect()).await.expect("TLS connect + login");

    let (stream, topic) = (named("legacy-tls"), named("events"));
    bounded("create_stream", client.create_stream("legacy-tls")).await.expect("create_stream");
    let create = client.create_topic(
        &stream,
        "events",
        1,
        CompressionAlgorithm::None,
        None,
        IggyExpiry::NeverExpire,
        MaxTopicSize::Unlimited,
    );
    bounded("create_topic", create).await.expect("create_topic");
    let payloads: Vec<Bytes> = (0..20).map(|i| Bytes::from(format!("legacy over TLS {i}"))).collect();
    let mut messages: Vec<IggyMessage> =
        payloads.iter().map(|payload| IggyMessage::builder().payload(payload.clone()).build().unwrap()).collect();
    let partitioning = Partitioning::partition_id(0);
    let send = client.send_messages(&stream, &topic, &partitioning, &mut messages);
    bounded("send_messages", send).await.expect("send_messages");
    let consumer = Consumer::new(Identifier::numeric(1).unwrap());
    let strategy = PollingStrategy::offset(0);
    let poll = client.poll_messages(&stream, &topic, Some(0), &consumer, &strategy, 20, false);
    let polled = bounded("poll_messages", poll).await.expect("poll_messages");
    let received: Vec<Bytes> = polled.messages.iter().map(|m| m.payload.clone()).collect();
    assert_eq!(received, payloads);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), client.shutdown()).await;
    server.stop();
}
