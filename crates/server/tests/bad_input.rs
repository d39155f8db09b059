//! Malformed input against the real `whippet-server` binary, over raw loopback sockets: every bad
//! frame or body gets the status code the protocol prescribes (protocol.md §3.1, §3.2, §8) or a
//! clean close, never a panic, and the connection stays usable wherever the protocol allows.
//!
//! Each test starts one server (with `server.max_frame_size` set through `--config`) and runs
//! many checks against it; a failed check does not stop the others, and the test fails at the
//! end listing every failed check (see `raw::Checks`). The server must still be running, must
//! never have logged a panic, and must answer a PING on a fresh connection at the end.

mod common;
mod raw;

use std::net::TcpStream;
use std::time::Instant;

use bytes::BytesMut;
use raw::{Checks, Frame, Legacy, RawServer, Vsr, attempt, expect_eq};
use whippet_protocol::batch::{self, BATCH_HEADER_SIZE, FRAME_HEADER_SIZE, RecordBuilder};
use whippet_protocol::codes;
use whippet_protocol::requests::{CreateStream, CreateTopic, PollMessages, SendMessagesHeader, StreamRef};
use whippet_protocol::status::ErrorCode;
use whippet_protocol::types::{Consumer, ConsumerKind, Identifier, Options, Partitioning, PollingStrategy};
use whippet_protocol::vsr::{self, EvictionReason, HEADER_SIZE, Operation, RequestHeader};
use whippet_protocol::wire::DecodeError;

/// Small enough to test both sides of the limit cheaply, and far below the 64 MiB default, so a
/// server that ignored the configured value would fail the over-limit checks.
const MAX_FRAME: u32 = 64 * 1024;

const INVALID_COMMAND: u32 = ErrorCode::InvalidCommand as u32;
const UNAUTHENTICATED: u32 = ErrorCode::Unauthenticated as u32;

/// The status a server owes a body the codec refuses (`DecodeError::code`). Panics when the
/// codec accepts it: then the test's input is wrong, not the server.
fn refused<T: std::fmt::Debug>(result: Result<T, DecodeError>) -> u32 {
    match result {
        Ok(value) => panic!("test input decodes fine ({value:?}); it cannot test a refusal"),
        Err(error) => error.code().as_u32(),
    }
}

fn encoded(write: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut buffer = BytesMut::new();
    write(&mut buffer);
    buffer.to_vec()
}

/// Sends `frame` as the first bytes of a fresh connection and expects the server to close it
/// (FIN or reset, whatever it sent first is only logged); then a new connection must still PING.
fn closes_connection(server: &RawServer, frame: &[u8]) -> Result<(), String> {
    let mut client = Vsr::connect(server.address())?;
    client.write(frame)?;
    let received = client.expect_closed()?;
    if !received.is_empty() {
        eprintln!("    (server sent {} byte(s) before closing)", received.len());
    }
    Vsr::connect(server.address())?.ping().map_err(|e| format!("a new connection cannot PING afterwards: {e}"))
}

/// A PING header with `size` and the command byte bent.
fn header_bytes(size: u32, command: u8) -> [u8; HEADER_SIZE] {
    let header = RequestHeader {
        size,
        client: 0x5eed,
        operation: Operation::NonReplicated as u8,
        non_replicated_code: codes::PING,
        ..RequestHeader::default()
    };
    let mut bytes = header.encode();
    bytes[60] = command;
    bytes
}

/// One request on `client` that must be refused with `expected`, then a PING on the same
/// connection.
fn refusal(
    checks: &mut Checks,
    client: &mut Vsr,
    name: &str,
    operation: Operation,
    code: u32,
    body: &[u8],
    expected: u32,
) {
    let result = client.status_of(operation, code, body).and_then(|status| {
        expect_eq("status", status, expected)?;
        client.usable()
    });
    checks.check(&format!("{name}: status {expected}, connection usable"), result);
}

/// VSR framing faults close the connection (size outside 256..=max, a command other than
/// Request), an over-limit frame is refused from its header alone, and refused logins end with
/// an eviction frame and a close.
#[test]
fn vsr_framing_faults_and_refused_logins_close_the_connection() {
    let mut server = RawServer::start(MAX_FRAME);
    let mut checks = Checks::new("vsr_framing");
    let address = server.address();

    checks.run("frame of exactly max_frame_size is served (PING with padding body)", || {
        let mut client = Vsr::connect(address)?;
        let body = vec![0u8; MAX_FRAME as usize - HEADER_SIZE];
        let (status, _) = client.call(Operation::NonReplicated, codes::PING, &body)?;
        expect_eq("status", status, 0)?;
        client.usable()
    });

    checks.run("size = max_frame_size + 1, header only: closed without reading the body", || {
        let mut client = Vsr::connect(address)?;
        let header = header_bytes(MAX_FRAME + 1, 5);
        client.write(&header)?;
        let started = Instant::now();
        client.expect_closed()?;
        eprintln!("    (closed after {:?})", started.elapsed());
        Vsr::connect(address)?.ping().map_err(|e| format!("a new connection cannot PING: {e}"))
    });

    checks.check("size = u32::MAX, header only: closed", closes_connection(&server, &header_bytes(u32::MAX, 5)));

    for size in [0u32, 100, 255] {
        checks.check(&format!("size = {size} (< 256): closed"), closes_connection(&server, &header_bytes(size, 5)));
    }

    for command in [0u8, 8, 13, 99] {
        let result = closes_connection(&server, &header_bytes(HEADER_SIZE as u32, command));
        checks.check(&format!("command = {command} (not Request): closed"), result);
    }

    checks.run("bad command after a good request on an authenticated connection: closed", || {
        let mut client = Vsr::logged_in(address)?;
        client.ping()?;
        let header = header_bytes(HEADER_SIZE as u32, 8);
        client.write(&header)?;
        client.expect_silent_close()
    });

    checks.run("over-limit size after a good request on an authenticated connection: closed", || {
        let mut client = Vsr::logged_in(address)?;
        client.ping()?;
        let header = header_bytes(MAX_FRAME + 1, 5);
        client.write(&header)?;
        client.expect_silent_close()
    });

    let login = |client: &mut Vsr, body: &[u8]| -> Result<Frame, String> {
        let header = client.header(Operation::Register, codes::LOGIN_REGISTER, body.len());
        client.send(&header, body)?;
        client.read_frame()
    };
    let evicted = |frame: Frame, client: u128, reason: EvictionReason| -> Result<vsr::EvictionHeader, String> {
        match frame {
            Frame::Eviction(eviction) => {
                expect_eq("eviction reason", eviction.reason, reason)?;
                expect_eq("eviction client id", eviction.client, client)?;
                Ok(eviction)
            }
            Frame::Reply(reply, _) => Err(format!("expected an eviction ({reason:?}), got a reply: {reply:?}")),
        }
    };

    for (name, body) in [
        ("garbage", b"garbage!".to_vec()),
        ("empty", Vec::new()),
        ("version prefix only", vsr::SERVER_PROTOCOL_VERSION.to_le_bytes().to_vec()),
    ] {
        checks.run(&format!("login with {name} body: eviction MalformedLogin (15), then close"), || {
            let mut client = Vsr::connect(address)?;
            let frame = login(&mut client, &body)?;
            let eviction = evicted(frame, client.client, EvictionReason::MalformedLogin)?;
            expect_eq("error the SDK reports", eviction.error_code(), ErrorCode::InvalidFormat)?;
            client.expect_silent_close()
        });
    }

    checks.run("login with protocol 0.12.0: eviction IncompatibleProtocol (14) with a valid window, close", || {
        let mut client = Vsr::connect(address)?;
        let body = Vsr::login_body(vsr::pack(0, 12, 0), common::ROOT_USERNAME, common::ROOT_PASSWORD);
        let frame = login(&mut client, &body)?;
        let eviction = evicted(frame, client.client, EvictionReason::IncompatibleProtocol)?;
        let (max, min) = (eviction.server_protocol_version, eviction.server_protocol_version_min);
        if min == 0 || max < min {
            return Err(format!("window ({max:#x}, min {min:#x}) is not valid"));
        }
        expect_eq("error the SDK reports", eviction.error_code(), ErrorCode::IncompatibleProtocolVersion)?;
        client.expect_silent_close()
    });

    checks.run("login with a wrong password: eviction InvalidCredentials (9), then close", || {
        let mut client = Vsr::connect(address)?;
        let body = Vsr::login_body(vsr::SERVER_PROTOCOL_VERSION, common::ROOT_USERNAME, "wrong-password");
        let frame = login(&mut client, &body)?;
        evicted(frame, client.client, EvictionReason::InvalidCredentials)?;
        client.expect_silent_close()
    });

    checks.run("login with a 51-byte username: status 43 InvalidUsername, connection usable", || {
        let mut client = Vsr::connect(address)?;
        let body = Vsr::login_body(vsr::SERVER_PROTOCOL_VERSION, &"u".repeat(51), common::ROOT_PASSWORD);
        let (status, _) = client.call(Operation::Register, codes::LOGIN_REGISTER, &body)?;
        expect_eq("status", status, ErrorCode::InvalidUsername as u32)?;
        client.usable()?;
        client.login()
    });

    checks.finish(&mut server);
}

/// Requests that are well framed but wrong get a status and leave the connection usable:
/// unauthenticated calls, unknown codes and operations, undecodable bodies, names out of bounds.
#[test]
fn vsr_bad_requests_get_a_status_and_keep_the_connection() {
    let mut server = RawServer::start(MAX_FRAME);
    let mut checks = Checks::new("vsr_requests");
    let address = server.address();

    let mut anonymous = Vsr::connect(address).expect("connect");
    checks.run("GET_STREAMS before login: status 40, then PING works", || {
        let status = anonymous.status_of(Operation::NonReplicated, codes::GET_STREAMS, &[])?;
        expect_eq("status", status, UNAUTHENTICATED)?;
        anonymous.usable()
    });
    checks.run("CreateStream (replicated) before login: status 40, then PING works", || {
        let body = encoded(|b| CreateStream { name: "nope".into(), options: Options::new() }.encode(b));
        let status = anonymous.status_of(Operation::CreateStream, codes::CREATE_STREAM, &body)?;
        expect_eq("status", status, UNAUTHENTICATED)?;
        anonymous.usable()
    });
    checks.run("unknown code 9999 before login: refused (40 or 3), then PING works", || {
        let status = anonymous.status_of(Operation::NonReplicated, 9999, &[])?;
        if status != UNAUTHENTICATED && status != INVALID_COMMAND {
            return Err(format!("status {status}"));
        }
        anonymous.usable()
    });

    let mut client = match Vsr::logged_in(address) {
        Ok(client) => client,
        Err(error) => panic!("login as iggy/iggy: {error}\n{}", server.log_tail()),
    };
    let nr = Operation::NonReplicated;
    refusal(&mut checks, &mut client, "unknown NonReplicated code 9999", nr, 9999, &[], INVALID_COMMAND);
    refusal(&mut checks, &mut client, "NonReplicated with code 0", nr, 0, &[], INVALID_COMMAND);

    // Unknown and server-internal operation bytes: the header itself is refused, the reply must
    // still echo the raw operation.
    for operation in [0u8, 64, 99, 200] {
        let result = attempt(|| {
            let mut header = client.header(nr, codes::PING, 0);
            header.operation = operation;
            let (status, _) = client.exchange(&header, &[])?;
            expect_eq("status", status, INVALID_COMMAND)?;
            client.usable()
        });
        checks.check(&format!("operation byte {operation}: status 3, connection usable"), result);
    }

    checks.run("replicated op with request number 0: refused with 3, connection usable", || {
        let body = encoded(|b| StreamRef { stream: Identifier::Numeric(0) }.encode(b));
        let mut header = client.header(Operation::DeleteStream, codes::DELETE_STREAM, body.len());
        header.request = 0;
        let (status, _) = client.exchange(&header, &body)?;
        expect_eq("status", status, INVALID_COMMAND)?;
        client.usable()
    });

    // Identifiers (§2.2): kind 1 or 2; numeric length 4; string length 1..=255.
    let bad_identifiers: [(&str, Vec<u8>); 5] = [
        ("identifier kind 3", vec![3, 4, 0, 0, 0, 0]),
        ("identifier kind 0", vec![0, 4, 0, 0, 0, 0]),
        ("numeric identifier of length 3", vec![1, 3, 0, 0, 0]),
        ("string identifier of length 0", vec![2, 0]),
        ("string identifier with invalid UTF-8", vec![2, 2, 0xff, 0xfe]),
    ];
    for (name, body) in &bad_identifiers {
        let expected = refused(StreamRef::decode(body));
        refusal(&mut checks, &mut client, &format!("GET_STREAM with {name}"), nr, codes::GET_STREAM, body, expected);
    }
    let (name, body) = &bad_identifiers[0];
    let expected = refused(StreamRef::decode(body));
    refusal(
        &mut checks,
        &mut client,
        &format!("DELETE_STREAM with {name}"),
        Operation::DeleteStream,
        203,
        body,
        expected,
    );

    for (name, body) in [
        ("empty body", vec![]),
        ("truncated numeric identifier", vec![1, 4, 0, 0]),
        ("trailing garbage after the identifier", vec![1, 4, 0, 0, 0, 0, 0xde, 0xad]),
    ] {
        let expected = refused(StreamRef::decode(&body));
        refusal(&mut checks, &mut client, &format!("GET_STREAM with {name}"), nr, codes::GET_STREAM, &body, expected);
    }
    let truncated_poll = vec![1u8, 1, 4, 0, 0, 0, 0, 1, 4];
    let expected = refused(PollMessages::decode(&truncated_poll));
    refusal(
        &mut checks,
        &mut client,
        "POLL_MESSAGES with a truncated body",
        nr,
        codes::POLL_MESSAGES,
        &truncated_poll,
        expected,
    );

    // A stream name whose length byte says 200 but only 10 bytes follow.
    let mut short_name = vec![200u8];
    short_name.extend_from_slice(b"0123456789");
    let expected = refused(CreateStream::decode(&short_name));
    refusal(
        &mut checks,
        &mut client,
        "CreateStream, name length 200 with 10 bytes",
        Operation::CreateStream,
        202,
        &short_name,
        expected,
    );
    let empty_name = vec![0u8];
    let expected = refused(CreateStream::decode(&empty_name));
    refusal(
        &mut checks,
        &mut client,
        "CreateStream with an empty name",
        Operation::CreateStream,
        202,
        &empty_name,
        expected,
    );
    let bad_utf8 = vec![2u8, 0xc3, 0x28];
    let expected = refused(CreateStream::decode(&bad_utf8));
    refusal(
        &mut checks,
        &mut client,
        "CreateStream with a non-UTF-8 name",
        Operation::CreateStream,
        202,
        &bad_utf8,
        expected,
    );
    let mut bad_topic = encoded(|b| Identifier::Numeric(0).encode(b));
    bad_topic.extend_from_slice(&1u32.to_le_bytes());
    bad_topic.extend_from_slice(&[50, b'x']);
    let expected = refused(CreateTopic::decode(&bad_topic));
    refusal(
        &mut checks,
        &mut client,
        "CreateTopic, name length 50 with 1 byte",
        Operation::CreateTopic,
        302,
        &bad_topic,
        expected,
    );

    checks.run("none of the refused creates made a stream (GET_STREAMS is empty)", || {
        let (status, body) = client.call(nr, codes::GET_STREAMS, &[])?;
        expect_eq("status", status, 0)?;
        expect_eq("GET_STREAMS body length", body.len(), 0)
    });

    // CREATE_USER (33), V: `Name username, [u8 len][password], [status u8], [has_perms u8], Opts`.
    let create_user = |username: &str| {
        let mut body = vec![u8::try_from(username.len()).expect("short")];
        body.extend_from_slice(username.as_bytes());
        body.push(8);
        body.extend_from_slice(b"password");
        body.extend_from_slice(&[1, 0]);
        body
    };
    let long_user = create_user(&"u".repeat(51));
    refusal(&mut checks, &mut client, "CreateUser with a 51-byte username", Operation::CreateUser, 33, &long_user, 43);
    let short_user = create_user("ab");
    refusal(&mut checks, &mut client, "CreateUser with a 2-byte username", Operation::CreateUser, 33, &short_user, 43);

    client.close();
    anonymous.close();
    checks.finish(&mut server);
}

const STREAM: &str = "bad-input";
const TOPIC: &str = "batches";

fn stream_id() -> Identifier {
    Identifier::named(STREAM).expect("name")
}

fn topic_id() -> Identifier {
    Identifier::named(TOPIC).expect("name")
}

/// A SendMessages body for partition 0 of the test topic.
fn send_body(messages_count: u32, record: &[u8]) -> Vec<u8> {
    let header = SendMessagesHeader::new(stream_id(), topic_id(), Partitioning::PartitionId(0), messages_count);
    let mut body = encoded(|b| header.encode(b));
    body.extend_from_slice(record);
    body
}

/// A well-formed record of `count` 5-byte messages, as a producer builds it.
fn record(count: u32) -> Vec<u8> {
    let mut builder = RecordBuilder::new(1_000_000);
    for index in 0..count {
        builder.push(u128::from(index) + 1, 1_000_000 + u64::from(index), b"hello", &[]);
    }
    builder.finish().to_vec()
}

/// Recomputes the first frame's checksum and the batch checksum after an edit, so only the
/// structural rule under test can catch the record.
fn reseal(record: &mut [u8]) {
    let end = BATCH_HEADER_SIZE + FRAME_HEADER_SIZE + 5;
    let checksum = batch::frame_checksum(&record[BATCH_HEADER_SIZE..end]);
    record[BATCH_HEADER_SIZE..BATCH_HEADER_SIZE + 8].copy_from_slice(&checksum.to_le_bytes());
    let checksum = batch::batch_checksum(record);
    record[40..48].copy_from_slice(&checksum.to_le_bytes());
}

fn set_u64(record: &mut [u8], at: usize, value: u64) {
    record[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// Messages in partition 0, from a poll at offset 0: `(messages_count, poll body length)`.
fn stored(client: &mut Vsr) -> Result<(u32, usize), String> {
    let poll = PollMessages {
        consumer: Consumer { kind: ConsumerKind::Consumer, id: Identifier::Numeric(1) },
        stream: stream_id(),
        topic: topic_id(),
        partition_id: Some(0),
        strategy: PollingStrategy::Offset(0),
        count: 1000,
        auto_commit: false,
    };
    let (status, body) = client.call(Operation::NonReplicated, codes::POLL_MESSAGES, &encoded(|b| poll.encode(b)))?;
    expect_eq("poll status", status, 0)?;
    let count = body.get(12..16).ok_or_else(|| format!("poll reply of {} bytes", body.len()))?;
    Ok((u32::from_le_bytes(count.try_into().expect("4 bytes")), body.len()))
}

/// Bad batches are refused with a status, leave the connection usable, and append nothing.
#[test]
fn vsr_send_messages_refuses_bad_batches_without_appending() {
    let mut server = RawServer::start(MAX_FRAME);
    let mut checks = Checks::new("vsr_send_messages");
    let address = server.address();
    let mut client = match Vsr::logged_in(address) {
        Ok(client) => client,
        Err(error) => panic!("login as iggy/iggy: {error}\n{}", server.log_tail()),
    };
    let create_stream = encoded(|b| CreateStream { name: STREAM.into(), options: Options::new() }.encode(b));
    let (status, _) =
        client.call(Operation::CreateStream, codes::CREATE_STREAM, &create_stream).expect("create stream");
    assert_eq!(status, 0, "create stream\n{}", server.log_tail());
    let create_topic = encoded(|b| {
        CreateTopic { stream: stream_id(), partitions_count: 1, name: TOPIC.into(), options: Options::new() }.encode(b)
    });
    let (status, _) = client.call(Operation::CreateTopic, codes::CREATE_TOPIC, &create_topic).expect("create topic");
    assert_eq!(status, 0, "create topic\n{}", server.log_tail());

    let good = record(1);
    let mut cases: Vec<(&str, Vec<u8>, Option<u32>)> = Vec::new();
    let messages_count_mismatch = ErrorCode::InvalidMessagesCount as u32;
    cases.push(("messages_count 2, batch message_count 1", send_body(2, &good), Some(messages_count_mismatch)));
    cases.push(("messages_count 1, batch message_count 2", send_body(1, &record(2)), Some(messages_count_mismatch)));
    cases.push(("messages_count 0, batch message_count 1", send_body(0, &good), Some(messages_count_mismatch)));
    {
        let mut longer = good.clone();
        set_u64(&mut longer, 32, good.len() as u64 + 10);
        cases.push(("batch_length 10 more than the body", send_body(1, &longer), None));
        let mut shorter = good.clone();
        set_u64(&mut shorter, 32, good.len() as u64 - 1);
        cases.push(("batch_length 1 less than the body", send_body(1, &shorter), None));
        cases.push(("body cut 3 bytes short of batch_length", send_body(1, &good[..good.len() - 3]), None));
        cases.push(("record shorter than the 256-byte batch header", send_body(1, &good[..100]), None));
        cases.push(("no record at all", send_body(1, &[]), None));
        let mut trailing = good.clone();
        trailing.extend_from_slice(&[0u8; 7]);
        let length = trailing.len() as u64;
        set_u64(&mut trailing, 32, length);
        reseal(&mut trailing);
        cases.push(("7 bytes after the last frame (batch_length covers them)", send_body(1, &trailing), None));
    }
    {
        let mut reserved = good.clone();
        reserved[100] = 1;
        cases.push(("batch header reserved byte 100 non-zero", send_body(1, &reserved), None));
        let mut reserved = good.clone();
        reserved[255] = 0x80;
        cases.push(("batch header reserved byte 255 non-zero", send_body(1, &reserved), None));
        let mut frame_reserved = good.clone();
        frame_reserved[BATCH_HEADER_SIZE + 40] = 1;
        reseal(&mut frame_reserved);
        cases.push(("frame reserved byte non-zero (checksums resealed)", send_body(1, &frame_reserved), None));
        let mut delta = good.clone();
        delta[BATCH_HEADER_SIZE + 24] = 1;
        reseal(&mut delta);
        cases.push(("frame offset_delta 1 in a one-message batch (resealed)", send_body(1, &delta), None));
        let mut payload_length = good.clone();
        payload_length[BATCH_HEADER_SIZE + 36] = 200;
        cases.push(("frame payload_length past the end of the record", send_body(1, &payload_length), None));
    }
    {
        let mut checksum = good.clone();
        let payload = BATCH_HEADER_SIZE + FRAME_HEADER_SIZE;
        checksum[payload] ^= 0xff;
        let invalid_checksum = ErrorCode::InvalidMessageChecksum as u32;
        cases.push(("frame checksum wrong (payload byte flipped)", send_body(1, &checksum), Some(invalid_checksum)));
        let mut stamp = good.clone();
        stamp[BATCH_HEADER_SIZE] ^= 0xff;
        cases.push(("frame checksum field altered", send_body(1, &stamp), None));
        let mut batch_checksum = good.clone();
        batch_checksum[40] ^= 0xff;
        cases.push(("batch checksum wrong", send_body(1, &batch_checksum), None));
        let mut empty = RecordBuilder::new(1_000_000);
        empty.push(1, 1_000_000, b"", &[]);
        cases.push(("message with an empty payload", send_body(1, &empty.finish()), None));
    }
    {
        let mut metadata_length = send_body(1, &good);
        metadata_length[0] += 1;
        let expected = refused(SendMessagesHeader::decode(&metadata_length));
        cases.push(("metadata_length one more than the metadata", metadata_length, Some(expected)));
        let mut bad_partitioning = send_body(1, &good);
        // Partitioning follows `[u32][Id stream][Id topic]`; kind 9 does not exist.
        let at = 4 + stream_id().encoded_len() + topic_id().encoded_len();
        bad_partitioning[at] = 9;
        let expected = refused(SendMessagesHeader::decode(&bad_partitioning));
        cases.push(("partitioning kind 9", bad_partitioning, Some(expected)));
    }

    for (name, body, expected) in &cases {
        let result = attempt(|| {
            let (status, _) = client.call(Operation::SendMessages, codes::SEND_MESSAGES, body)?;
            match expected {
                Some(expected) => expect_eq("status", status, *expected)?,
                None if status == 0 => return Err("accepted (status 0)".to_owned()),
                None => eprintln!("    ({name}: status {status} {:?})", ErrorCode::from_u32(status)),
            }
            client.usable()?;
            let (count, length) = stored(&mut client)?;
            expect_eq("messages stored after the refusal (poll count, body length)", (count, length), (0, 16))
        });
        let expected = expected.map_or("an error status".to_owned(), |code| format!("status {code}"));
        checks.check(&format!("SendMessages, {name}: {expected}, usable, nothing appended"), result);
    }

    checks.run("a good batch afterwards is appended at offset 0 and polled back", || {
        let (status, reply) = client.call(Operation::SendMessages, codes::SEND_MESSAGES, &send_body(1, &good))?;
        expect_eq("status", status, 0)?;
        if let Some(base) = reply.get(16..24) {
            expect_eq("base offset", u64::from_le_bytes(base.try_into().expect("8 bytes")), 0)?;
        }
        let (count, length) = stored(&mut client)?;
        expect_eq("messages stored", count, 1)?;
        expect_eq("poll body length", length, 16 + good.len())
    });

    client.close();
    checks.finish(&mut server);
}

/// The legacy dialect (first four bytes non-zero): statuses as `[code][0]`, framing faults
/// refused before the body is read.
#[test]
fn legacy_dialect_bad_input() {
    let mut server = RawServer::start(MAX_FRAME);
    let mut checks = Checks::new("legacy");
    let address = server.address();

    checks.run("PING [4][1] is answered [0][0]", || {
        let mut client = Legacy::connect(address)?;
        client.write(&[4, 0, 0, 0, 1, 0, 0, 0])?;
        let mut reply = [0u8; 8];
        std::io::Read::read_exact(&mut client.stream, &mut reply).map_err(|e| format!("reading the reply: {e}"))?;
        expect_eq("reply bytes", reply, [0u8; 8])?;
        client.usable()
    });

    checks.run("GET_STREAMS before login: [40][0], connection usable", || {
        let mut client = Legacy::connect(address)?;
        let (status, _) = client.call(codes::GET_STREAMS, &[])?;
        expect_eq("status", status, UNAUTHENTICATED)?;
        client.usable()
    });

    checks.run("LOGIN_USER with a wrong password: [42][0]", || {
        let mut client = Legacy::connect(address)?;
        let (status, _) = client.call(codes::LOGIN_USER, &Legacy::login_body("iggy", "wrong-password"))?;
        expect_eq("status", status, ErrorCode::InvalidCredentials as u32)
    });

    checks.run("after LOGIN_USER iggy/iggy, unknown code 9999: [3][0], connection usable", || {
        let mut client = Legacy::connect(address)?;
        let (status, payload) = client.call(codes::LOGIN_USER, &Legacy::login_body("iggy", "iggy"))?;
        expect_eq("login status", status, 0)?;
        expect_eq("login reply length", payload.len(), 4)?;
        let (status, _) = client.call(9999, &[])?;
        expect_eq("status", status, INVALID_COMMAND)?;
        client.usable()
    });

    checks.run("GET_STREAM with identifier kind 3 after login: refused, connection usable", || {
        let mut client = Legacy::connect(address)?;
        let (status, _) = client.call(codes::LOGIN_USER, &Legacy::login_body("iggy", "iggy"))?;
        expect_eq("login status", status, 0)?;
        let body = [3u8, 4, 0, 0, 0, 0];
        let (status, _) = client.call(codes::GET_STREAM, &body)?;
        expect_eq("status", status, refused(StreamRef::decode(&body)))?;
        client.usable()
    });

    // A refused frame is answered `[3][0]` then closed, or closed without a word; anything
    // else (another answer, or keeping the connection open) is wrong.
    let refused_then_closed = |client: &mut Legacy| -> Result<(), String> {
        let received = client.expect_closed()?;
        eprintln!("    (received {received:02x?} before the close)");
        if received.is_empty() || received == [3, 0, 0, 0, 0, 0, 0, 0] {
            Ok(())
        } else {
            Err(format!("expected [3][0] or nothing before the close, got {received:02x?}"))
        }
    };
    for length in [1u32, 3] {
        checks.run(&format!("length {length} (< 4): [3][0] then close, or a clean close"), || {
            let mut client = Legacy::connect(address)?;
            let mut frame = length.to_le_bytes().to_vec();
            frame.extend_from_slice(&codes::PING.to_le_bytes());
            client.write(&frame)?;
            refused_then_closed(&mut client)
        });
    }
    checks.run("length over max_frame_size, header only: refused before the body is read", || {
        let mut client = Legacy::connect(address)?;
        let mut frame = (MAX_FRAME + 64).to_le_bytes().to_vec();
        frame.extend_from_slice(&codes::CREATE_STREAM.to_le_bytes());
        client.write(&frame)?;
        refused_then_closed(&mut client)?;
        Legacy::connect(address)?.ping().map_err(|e| format!("a new legacy connection cannot PING: {e}"))
    });
    checks.run("SEND_MESSAGES length over max_frame_size, header only: refused before the body is read", || {
        let mut client = Legacy::connect(address)?;
        let mut frame = (MAX_FRAME + 64).to_le_bytes().to_vec();
        frame.extend_from_slice(&codes::SEND_MESSAGES.to_le_bytes());
        client.write(&frame)?;
        refused_then_closed(&mut client)
    });
    checks.run("length u32::MAX, header only: refused before the body is read", || {
        let mut client = Legacy::connect(address)?;
        let mut frame = u32::MAX.to_le_bytes().to_vec();
        frame.extend_from_slice(&codes::SEND_MESSAGES.to_le_bytes());
        client.write(&frame)?;
        refused_then_closed(&mut client)
    });

    checks.finish(&mut server);
}

/// Connections that die mid-header, and a burst of 1,000 short-lived connections, leave the
/// server serving; a stalled half-header does not block other connections.
#[test]
fn aborted_and_churning_connections_leave_the_server_serving() {
    let mut server = RawServer::start(MAX_FRAME);
    let mut checks = Checks::new("churn");
    let address = server.address();

    for (name, bytes) in [
        ("half a VSR header", vec![0u8; 128]),
        ("only the four sniffed zero bytes", vec![0u8; 4]),
        ("a VSR header and half its body", {
            let mut frame = header_bytes(HEADER_SIZE as u32 + 100, 5).to_vec();
            frame.extend_from_slice(&[0u8; 50]);
            frame
        }),
        ("two bytes of a legacy length", vec![8u8, 0]),
        ("a legacy header without its payload", Legacy::frame(codes::CREATE_STREAM, b"stream")[..8].to_vec()),
    ] {
        checks.run(&format!("{name}, then close: server keeps serving"), || {
            let mut stream = TcpStream::connect(address).map_err(|e| format!("connect: {e}"))?;
            std::io::Write::write_all(&mut stream, &bytes).map_err(|e| format!("write: {e}"))?;
            drop(stream);
            Vsr::connect(address)?.ping()
        });
    }

    checks.run("a connection stalled mid-header does not block others", || {
        let mut stalled = Vsr::connect(address)?;
        stalled.write(&[0u8; 100])?;
        let started = Instant::now();
        for _ in 0..4 {
            Vsr::connect(address)?.ping()?;
        }
        let mut logged_in = Vsr::logged_in(address)?;
        logged_in.ping()?;
        eprintln!("    (others served in {:?} while it stalled)", started.elapsed());
        stalled.close();
        Ok(())
    });

    checks.run("1,000 connections opened and closed quickly, then PING works", || {
        let started = Instant::now();
        for index in 0..1000u32 {
            let mut stream = TcpStream::connect(address).map_err(|e| format!("connect #{index}: {e}"))?;
            // Every other connection sends a few bytes of a frame before it goes.
            let bytes: &[u8] = match index % 4 {
                1 => &[0, 0, 0, 0],
                3 => &[4, 0, 0],
                _ => &[],
            };
            let _ = std::io::Write::write_all(&mut stream, bytes);
            drop(stream);
        }
        eprintln!("    (1,000 connections in {:?})", started.elapsed());
        let mut client = Vsr::logged_in(address)?;
        client.ping()?;
        client.usable()
    });

    checks.finish(&mut server);
}

#[test]
fn connections_beyond_max_connections_are_closed_and_the_slots_come_back() {
    let mut server = RawServer::start_with(1 << 20, "max_connections = 3\n");
    let mut checks = Checks::new("max_connections");
    let mut open: Vec<Vsr> = Vec::new();
    checks.run("three connections are served", || {
        for _ in 0..3 {
            let mut client = Vsr::connect(server.address())?;
            client.ping()?;
            open.push(client);
        }
        Ok(())
    });
    checks.run("the fourth is closed without a byte", || {
        let mut fourth = Vsr::connect(server.address())?;
        fourth.expect_silent_close()
    });
    checks.run("the first three still work", || open.iter_mut().try_for_each(Vsr::ping));
    checks.run("a closed connection frees its slot", || {
        open.pop().expect("three open").close();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            // The shard notices the close asynchronously; retry until the slot is free.
            match Vsr::connect(server.address()).and_then(|mut client| client.ping().map(|()| client)) {
                Ok(client) => {
                    open.push(client);
                    return Ok(());
                }
                Err(error) if std::time::Instant::now() >= deadline => return Err(error),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
    });
    drop(open);
    // `finish` pings on a fresh connection, which needs the slots back.
    std::thread::sleep(std::time::Duration::from_millis(200));
    checks.finish(&mut server);
}

/// `server.max_message_size` and `server.max_partitions_per_topic` refuse with Iggy's codes and
/// leave the connection usable.
#[test]
fn configured_limits_refuse_with_clear_codes() {
    let mut server = RawServer::start_with(MAX_FRAME, "max_message_size = 1000\nmax_partitions_per_topic = 4\n");
    let mut checks = Checks::new("limits");
    let address = server.address();
    let mut client = match Vsr::logged_in(address) {
        Ok(client) => client,
        Err(error) => panic!("login as iggy/iggy: {error}\n{}", server.log_tail()),
    };
    let create_stream = encoded(|b| CreateStream { name: STREAM.into(), options: Options::new() }.encode(b));
    let (status, _) =
        client.call(Operation::CreateStream, codes::CREATE_STREAM, &create_stream).expect("create stream");
    assert_eq!(status, 0, "create stream\n{}", server.log_tail());
    let create_topic = |partitions_count| {
        encoded(|b| {
            CreateTopic { stream: stream_id(), partitions_count, name: TOPIC.into(), options: Options::new() }.encode(b)
        })
    };
    checks.run("a topic with 5 partitions over a limit of 4: 2015", || {
        let status = client.status_of(Operation::CreateTopic, codes::CREATE_TOPIC, &create_topic(5))?;
        expect_eq("status", status, ErrorCode::TooManyPartitions as u32)?;
        client.usable()
    });
    checks.run("a topic with 4 partitions is created", || {
        let status = client.status_of(Operation::CreateTopic, codes::CREATE_TOPIC, &create_topic(4))?;
        expect_eq("status", status, 0)
    });
    checks.run("one partition more: 2015", || {
        let mut body = BytesMut::new();
        whippet_protocol::system::PartitionsChange { stream: stream_id(), topic: topic_id(), partitions_count: 1 }
            .encode(&mut body);
        let status = client.status_of(Operation::CreatePartitions, codes::CREATE_PARTITIONS, &body)?;
        expect_eq("status", status, ErrorCode::TooManyPartitions as u32)?;
        client.usable()
    });
    let message = |size: usize| {
        let mut builder = RecordBuilder::new(1_000_000);
        builder.push(1, 1_000_000, &vec![b'x'; size], &[]);
        send_body(1, &builder.finish())
    };
    checks.run("a 1001-byte payload over a limit of 1000: 4022, nothing appended", || {
        let status = client.status_of(Operation::SendMessages, codes::SEND_MESSAGES, &message(1001))?;
        expect_eq("status", status, ErrorCode::TooBigMessagePayload as u32)?;
        expect_eq("stored", stored(&mut client)?.0, 0)
    });
    checks.run("a 1000-byte payload is appended", || {
        let status = client.status_of(Operation::SendMessages, codes::SEND_MESSAGES, &message(1000))?;
        expect_eq("status", status, 0)?;
        expect_eq("stored", stored(&mut client)?.0, 1)
    });
    checks.finish(&mut server);
}

/// `auth.max_login_failures`: after that many failed logins an address's logins are refused,
/// right password or not, in both dialects, until the window ends; password checks run on the
/// `whippet-passwords` threads, not on a shard.
#[test]
fn failed_logins_are_limited_per_address() {
    let mut server = RawServer::start_with(MAX_FRAME, "[auth]\nmax_login_failures = 3\nlogin_window = \"2s\"\n");
    let mut checks = Checks::new("login_guard");
    let address = server.address();
    let wrong = Vsr::login_body(vsr::SERVER_PROTOCOL_VERSION, "iggy", "wrong-password");
    let refused_login = |body: &[u8]| -> Result<(), String> {
        let mut client = Vsr::connect(address)?;
        let header = client.header(Operation::Register, codes::LOGIN_REGISTER, body.len());
        client.send(&header, body)?;
        match client.read_frame()? {
            Frame::Eviction(eviction) => {
                expect_eq("eviction reason", eviction.reason, EvictionReason::InvalidCredentials)
            }
            Frame::Reply(reply, _) => Err(format!("expected an eviction, got a reply: {reply:?}")),
        }
    };
    let started = Instant::now();
    checks.run("three wrong passwords are refused", || (0..3).try_for_each(|_| refused_login(&wrong)));
    checks.run("then the right password is refused too (VSR)", || {
        refused_login(&Vsr::login_body(vsr::SERVER_PROTOCOL_VERSION, "iggy", "iggy"))
    });
    checks.run("and in the legacy dialect", || {
        let mut client = Legacy::connect(address)?;
        let (status, _) = client.call(codes::LOGIN_USER, &Legacy::login_body("iggy", "iggy"))?;
        expect_eq("status", status, ErrorCode::InvalidCredentials as u32)
    });
    checks.run("the refusal is logged once", || {
        let count = server.log_lines().iter().filter(|line| line.contains("refused until its window ends")).count();
        expect_eq("log lines", count, 1)
    });
    checks.run("once the window ends the right password logs in", || {
        std::thread::sleep(std::time::Duration::from_secs(2).saturating_sub(started.elapsed()));
        std::thread::sleep(std::time::Duration::from_millis(200));
        Vsr::logged_in(address).map(|_| ())
    });
    checks.run("passwords are checked on whippet-passwords threads", || {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", server.pid())).map_err(|e| e.to_string())?;
        let names: Vec<String> = tasks
            .filter_map(Result::ok)
            .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
            .map(|name| name.trim().to_owned())
            .collect();
        if names.iter().any(|name| name.starts_with("whippet-passwor")) {
            Ok(())
        } else {
            Err(format!("no whippet-passwords thread among {names:?}"))
        }
    });
    checks.finish(&mut server);
}
