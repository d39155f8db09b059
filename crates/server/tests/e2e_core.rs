//! End-to-end tests: the real `whippet-server` binary, driven over loopback TCP by the official Apache
//! Iggy Rust SDK 0.11.0 through its public API only.
//!
//! Each test starts its own server (fresh data directory, free port) and checks what a client can
//! observe: every message sent comes back exactly once, at dense offsets, in send order within its
//! partition, with its id, payload and user headers intact; consumer offsets and messages survive
//! restarts; errors arrive as the SDK's typed `IggyError` variants; shard threads are pinned and each
//! holds an io_uring.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;

use bytes::Bytes;
use common::{Server, ServerOptions, bounded, client_without_credentials, close, login, root_client};
use iggy::prelude::{
    Client, Consumer, ConsumerOffsetClient, HeaderKey, HeaderValue, Identifier, IggyClient, IggyError, IggyMessage,
    MessageClient, Partitioning, PollingStrategy, StreamClient, SystemClient, TopicClient, TopicCreateOptions,
};

/// `iggy_binary_protocol::codes::GET_STREAMS_CODE` in 0.11.0 (the crate is not re-exported by `iggy`).
const GET_STREAMS_CODE: u32 = 201;
/// Messages asked for per poll when reading a partition back.
const POLL_BATCH: u32 = 1000;
/// Bound on polls per partition, so a server that never returns an empty batch fails instead of looping.
const POLLS_PER_PARTITION_MAX: u32 = 1000;

fn named(name: &str) -> Identifier {
    Identifier::named(name).unwrap()
}

/// A consumer that reads by explicit offset and never commits (the reader of `poll_partition`).
fn reader() -> Consumer {
    Consumer::new(Identifier::numeric(1).unwrap())
}

// ---------------------------------------------------------------------------------------------------
// What was sent, and checking what came back against it.
// ---------------------------------------------------------------------------------------------------

/// One message as the test sent it.
#[derive(Debug, Clone)]
struct SentMessage {
    id: u128,
    payload: Bytes,
    /// The messages key of a keyed send; `None` for balanced sends.
    key: Option<String>,
    /// Index of the send call (batch) it went out in.
    batch: usize,
    headers: Option<BTreeMap<HeaderKey, HeaderValue>>,
    /// Set by the client; the server must hand it back unchanged.
    origin_timestamp: u64,
}

/// Every message sent to one topic, in send order.
#[derive(Debug)]
struct Ledger {
    stream: String,
    topic: String,
    messages: Vec<SentMessage>,
    batches: usize,
    /// Distinguishes ledgers in message ids and payloads, so two topics never share an id.
    tag: u64,
}

impl Ledger {
    fn new(stream: &str, topic: &str, tag: u64) -> Self {
        Self { stream: stream.to_owned(), topic: topic.to_owned(), messages: Vec::new(), batches: 0, tag }
    }

    /// Builds `count` messages for the next batch and records them. Ids are never 0 (the SDK would
    /// replace a 0 id with a random one) and payload lengths vary from 17 to about 80 bytes.
    fn next_batch(&mut self, count: usize, key: Option<&str>, with_headers: bool) -> Vec<IggyMessage> {
        let batch = self.batches;
        self.batches += 1;
        (0..count)
            .map(|_| {
                let sequence = self.messages.len() as u64 + 1;
                let id = (u128::from(self.tag) << 64) | u128::from(sequence);
                let padding = "x".repeat((sequence % 53) as usize);
                let payload = Bytes::from(format!("t{}:s{sequence}:k{}:{padding}", self.tag, key.unwrap_or("-")));
                let headers = with_headers.then(|| {
                    let mut headers = BTreeMap::new();
                    headers.insert(HeaderKey::try_from("seq").unwrap(), HeaderValue::from(sequence));
                    headers.insert(HeaderKey::try_from("origin").unwrap(), HeaderValue::try_from("e2e").unwrap());
                    headers
                });
                let message =
                    IggyMessage::builder().id(id).payload(payload.clone()).maybe_user_headers(headers.clone()).build();
                let message = message.unwrap();
                self.messages.push(SentMessage {
                    id,
                    payload,
                    key: key.map(str::to_owned),
                    batch,
                    headers,
                    origin_timestamp: message.header.origin_timestamp,
                });
                message
            })
            .collect()
    }
}

/// One message as polled back: its partition plus the fields the server stamped or kept.
#[derive(Debug, Clone)]
struct PolledMessage {
    partition: u32,
    offset: u64,
    id: u128,
    payload: Bytes,
    headers: Option<BTreeMap<HeaderKey, HeaderValue>>,
    /// Stamped by the server when it appended the message.
    timestamp: u64,
    origin_timestamp: u64,
}

/// Checks a topic's complete contents (`polled[p]` = partition `p` from offset 0) against `ledger`:
/// every sent message appears exactly once with its payload and headers, offsets are dense from 0,
/// each partition holds its messages in send order, a batch never straddles partitions, keyed
/// messages sit on `xxh32(key) % partitions` (the SDK's client-side routing), and balanced batches
/// reached every partition.
fn verify_topic(ledger: &Ledger, polled: &[Vec<PolledMessage>]) {
    let partitions = polled.len() as u32;
    let index_by_id: HashMap<u128, usize> = ledger.messages.iter().enumerate().map(|(i, m)| (m.id, i)).collect();
    let mut partition_of = vec![None::<u32>; ledger.messages.len()];
    for (partition, messages) in polled.iter().enumerate() {
        let mut previous_index = None;
        for (position, message) in messages.iter().enumerate() {
            assert_eq!(message.partition, partition as u32);
            assert_eq!(message.offset, position as u64, "partition {partition}: offsets must be dense from 0");
            let index = *index_by_id.get(&message.id).unwrap_or_else(|| {
                panic!("partition {partition} offset {}: unknown id {:#x}", message.offset, message.id)
            });
            assert!(
                partition_of[index].is_none(),
                "message id {:#x} polled twice (partitions {:?} and {partition})",
                message.id,
                partition_of[index]
            );
            partition_of[index] = Some(partition as u32);
            let sent = &ledger.messages[index];
            assert_eq!(message.payload, sent.payload, "payload of id {:#x}", sent.id);
            assert_eq!(message.headers, sent.headers, "user headers of id {:#x}", sent.id);
            assert_eq!(message.origin_timestamp, sent.origin_timestamp, "origin timestamp of id {:#x}", sent.id);
            assert_ne!(message.timestamp, 0, "id {:#x}: the server must stamp a timestamp", sent.id);
            if let Some(previous) = previous_index {
                assert!(
                    index > previous,
                    "partition {partition}: id {:#x} at offset {} is out of send order",
                    sent.id,
                    message.offset
                );
            }
            previous_index = Some(index);
        }
    }
    let missing: Vec<u128> =
        partition_of.iter().zip(&ledger.messages).filter(|(p, _)| p.is_none()).map(|(_, m)| m.id).collect();
    assert!(
        missing.is_empty(),
        "{} of {} sent messages never came back, first {:#x?}",
        missing.len(),
        ledger.messages.len(),
        &missing[..missing.len().min(5)]
    );

    let mut batch_partition: HashMap<usize, u32> = HashMap::new();
    let mut key_partition: HashMap<&str, u32> = HashMap::new();
    let mut balanced_partitions = BTreeSet::new();
    for (sent, partition) in ledger.messages.iter().zip(partition_of.iter().map(|p| p.unwrap())) {
        let batch_home = *batch_partition.entry(sent.batch).or_insert(partition);
        assert_eq!(batch_home, partition, "batch {} was split across partitions", sent.batch);
        match &sent.key {
            Some(key) => {
                let key_home = *key_partition.entry(key).or_insert(partition);
                assert_eq!(key_home, partition, "key {key} landed on two partitions");
                let expected = xxhash_rust::xxh32::xxh32(key.as_bytes(), 0) % partitions;
                assert_eq!(partition, expected, "key {key}: expected partition xxh32(key) % {partitions}");
            }
            None => {
                balanced_partitions.insert(partition);
            }
        }
    }
    let balanced_batches = ledger.messages.iter().filter(|m| m.key.is_none()).map(|m| m.batch).collect::<BTreeSet<_>>();
    if balanced_batches.len() >= partitions as usize {
        assert_eq!(balanced_partitions.len(), partitions as usize, "balanced sends must reach every partition");
    }
}

// ---------------------------------------------------------------------------------------------------
// SDK helpers.
// ---------------------------------------------------------------------------------------------------

/// Creates `stream` (if `create_stream`) and `topic` with `partitions` partitions and default options.
async fn create_topic(client: &IggyClient, stream: &str, topic: &str, partitions: u32) {
    let created = bounded("create_stream", client.create_stream(stream)).await.expect("create_stream");
    assert_eq!(created.name, stream);
    let options = TopicCreateOptions { partitions_count: Some(partitions), ..TopicCreateOptions::default() };
    let details =
        bounded("create_topic", client.create_topic(&named(stream), topic, &options)).await.expect("create_topic");
    assert_eq!(details.name, topic);
    assert_eq!(details.partitions_count, partitions);
    let fetched = bounded("get_topic", client.get_topic(&named(stream), &named(topic)))
        .await
        .expect("get_topic")
        .expect("the topic just created exists");
    assert_eq!(fetched.partitions_count, partitions);
    assert_eq!(fetched.partitions.len(), partitions as usize);
}

async fn send(
    client: &IggyClient,
    stream: &str,
    topic: &str,
    partitioning: &Partitioning,
    mut messages: Vec<IggyMessage>,
) {
    bounded("send_messages", client.send_messages(&named(stream), &named(topic), partitioning, &mut messages))
        .await
        .unwrap_or_else(|error| panic!("send_messages ({} messages, {partitioning:?}): {error}", messages.len()));
}

/// Sends `batches` keyed batches of `batch_size` to the ledger's topic, cycling through `keys`
/// distinct keys.
async fn send_keyed(
    client: &IggyClient,
    ledger: &mut Ledger,
    batches: usize,
    batch_size: usize,
    keys: usize,
    with_headers: bool,
) {
    for batch in 0..batches {
        let key = format!("key-{}", batch % keys);
        let messages = ledger.next_batch(batch_size, Some(&key), with_headers);
        let partitioning = Partitioning::messages_key_str(&key).unwrap();
        send(client, &ledger.stream, &ledger.topic, &partitioning, messages).await;
    }
}

/// Sends `batches` balanced batches of `batch_size` to the ledger's topic (the SDK picks
/// partitions round-robin per batch).
async fn send_balanced(
    client: &IggyClient,
    ledger: &mut Ledger,
    batches: usize,
    batch_size: usize,
    with_headers: bool,
) {
    for _ in 0..batches {
        let messages = ledger.next_batch(batch_size, None, with_headers);
        send(client, &ledger.stream, &ledger.topic, &Partitioning::balanced(), messages).await;
    }
}

fn polled_message(partition: u32, message: &IggyMessage) -> PolledMessage {
    PolledMessage {
        partition,
        offset: message.header.offset,
        id: message.header.id,
        payload: message.payload.clone(),
        headers: message.user_headers_map().expect("user headers decode"),
        timestamp: message.header.timestamp,
        origin_timestamp: message.header.origin_timestamp,
    }
}

/// Reads partition `partition` from offset 0 until an empty poll, by explicit offset, without
/// committing anything.
async fn poll_partition(client: &IggyClient, stream: &str, topic: &str, partition: u32) -> Vec<PolledMessage> {
    let mut out = Vec::new();
    for _ in 0..POLLS_PER_PARTITION_MAX {
        let offset = out.len() as u64;
        let polled = bounded(
            "poll_messages",
            client.poll_messages(
                &named(stream),
                &named(topic),
                Some(partition),
                &reader(),
                &PollingStrategy::offset(offset),
                POLL_BATCH,
                false,
            ),
        )
        .await
        .unwrap_or_else(|error| panic!("poll partition {partition} at offset {offset}: {error}"));
        if polled.messages.is_empty() {
            return out;
        }
        assert_eq!(polled.partition_id, partition, "poll of partition {partition} answered for another partition");
        assert!(polled.messages.len() <= POLL_BATCH as usize, "poll returned more than asked for");
        assert_eq!(
            polled.messages[0].header.offset, offset,
            "partition {partition}: poll at {offset} started elsewhere"
        );
        out.extend(polled.messages.iter().map(|m| polled_message(partition, m)));
    }
    panic!("partition {partition}: still not empty after {POLLS_PER_PARTITION_MAX} polls");
}

async fn poll_topic(client: &IggyClient, stream: &str, topic: &str, partitions: u32) -> Vec<Vec<PolledMessage>> {
    let mut out = Vec::with_capacity(partitions as usize);
    for partition in 0..partitions {
        out.push(poll_partition(client, stream, topic, partition).await);
    }
    out
}

/// Offsets of the messages of one `poll_messages` call.
fn offsets(polled: &iggy::prelude::PolledMessages) -> Vec<u64> {
    polled.messages.iter().map(|m| m.header.offset).collect()
}

// ---------------------------------------------------------------------------------------------------
// /proc helpers (Linux).
// ---------------------------------------------------------------------------------------------------

/// Parses a kernel CPU list such as `0-3,8,10-11`.
fn parse_cpu_list(list: &str) -> BTreeSet<u32> {
    let mut cpus = BTreeSet::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((first, last)) => cpus.extend(first.parse::<u32>().unwrap()..=last.parse::<u32>().unwrap()),
            None => {
                cpus.insert(part.parse::<u32>().unwrap());
            }
        }
    }
    cpus
}

/// The value of `field` (e.g. `Cpus_allowed_list`) in a `/proc/.../status` file.
fn status_field(status: &str, field: &str) -> Option<String> {
    status.lines().find_map(|line| line.strip_prefix(field)?.strip_prefix(':').map(|v| v.trim().to_owned()))
}

/// `(thread name, allowed CPUs)` of every thread of `pid` whose name starts with `whippet-shard-`.
fn shard_threads(pid: u32) -> Vec<(String, BTreeSet<u32>)> {
    let mut threads = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return threads };
    for task in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else { continue };
        let name = status_field(&status, "Name").unwrap_or_default();
        if name.starts_with("whippet-shard-") {
            let cpus = parse_cpu_list(&status_field(&status, "Cpus_allowed_list").unwrap_or_default());
            threads.push((name, cpus));
        }
    }
    threads.sort();
    threads
}

/// Waits (bounded) until `pid` has `count` shard threads, and returns them.
fn wait_for_shard_threads(pid: u32, count: usize) -> Vec<(String, BTreeSet<u32>)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let threads = shard_threads(pid);
        if threads.len() >= count || std::time::Instant::now() >= deadline {
            return threads;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Number of io_uring instances the process holds: fds whose fdinfo carries the ring's `SqMask`
/// line (or whose link is `anon_inode:[io_uring]`).
fn io_uring_fds(pid: u32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else { return 0 };
    fds.flatten()
        .filter(|fd| {
            let fdinfo = std::fs::read_to_string(fd.path()).unwrap_or_default();
            let link = std::fs::read_link(format!("/proc/{pid}/fd/{}", fd.file_name().to_string_lossy()))
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default();
            fdinfo.lines().any(|l| l.starts_with("SqMask")) || link == "anon_inode:[io_uring]"
        })
        .count()
}

fn assert_shard_thread_count(server: &Server) {
    let shards = server.options().shards as usize;
    let threads = wait_for_shard_threads(server.pid(), shards);
    assert_eq!(threads.len(), shards, "expected {shards} threads named whippet-shard-N, found {threads:?}");
}

// ---------------------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------------------

/// 10,000 keyed (100 keys) and 10,000 balanced messages through two shards into 8 partitions, all
/// read back by explicit offset from every partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_and_poll_every_partition_with_two_shards() {
    let mut server = Server::start(ServerOptions::new(2));
    assert_shard_thread_count(&server);
    let client = root_client(server.address()).await;
    let (stream, topic, partitions) = ("orders", "events", 8);
    create_topic(&client, stream, topic, partitions).await;

    let mut ledger = Ledger::new(stream, topic, 1);
    send_keyed(&client, &mut ledger, 200, 50, 100, false).await;
    send_balanced(&client, &mut ledger, 100, 100, false).await;
    assert_eq!(ledger.messages.len(), 20_000);

    let polled = poll_topic(&client, stream, topic, partitions).await;
    verify_topic(&ledger, &polled);

    // First/last/next strategies agree with the offset reads on a non-empty partition.
    let (partition, messages) = polled.iter().enumerate().find(|(_, m)| !m.is_empty()).unwrap();
    let partition = partition as u32;
    let last_offset = messages.len() as u64 - 1;
    let (stream_id, topic_id) = (named(stream), named(topic));
    let first = bounded(
        "poll first",
        client.poll_messages(&stream_id, &topic_id, Some(partition), &reader(), &PollingStrategy::first(), 3, false),
    )
    .await
    .unwrap();
    assert_eq!(offsets(&first), vec![0, 1, 2]);
    let last = bounded(
        "poll last",
        client.poll_messages(&stream_id, &topic_id, Some(partition), &reader(), &PollingStrategy::last(), 1, false),
    )
    .await
    .unwrap();
    assert_eq!(offsets(&last), vec![last_offset]);
    assert_eq!(last.current_offset, last_offset);
    let past_end = bounded(
        "poll past the end",
        client.poll_messages(
            &stream_id,
            &topic_id,
            Some(partition),
            &reader(),
            &PollingStrategy::offset(last_offset + 1),
            10,
            false,
        ),
    )
    .await
    .unwrap();
    assert!(past_end.messages.is_empty(), "poll past the end returned {:?}", offsets(&past_end));

    close(client).await;
    server.stop();
}

/// The same round trip through four shards: two streams written concurrently by two connections,
/// six partitions each, messages carrying user headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_and_poll_every_partition_with_four_shards() {
    let mut server = Server::start(ServerOptions::new(4));
    assert_shard_thread_count(&server);
    let partitions = 6;
    let address = server.address();
    let write = |stream: &'static str, tag: u64| async move {
        let client = root_client(address).await;
        create_topic(&client, stream, "events", partitions).await;
        let mut ledger = Ledger::new(stream, "events", tag);
        send_keyed(&client, &mut ledger, 40, 50, 25, true).await;
        send_balanced(&client, &mut ledger, 20, 100, true).await;
        (client, ledger)
    };
    let ((client_a, ledger_a), (client_b, ledger_b)) = tokio::join!(write("alpha", 2), write("beta", 3));
    assert_eq!(ledger_a.messages.len(), 4_000);

    // Each connection reads the other's stream: nothing is tied to the connection that wrote it.
    let polled_a = poll_topic(&client_b, "alpha", "events", partitions).await;
    verify_topic(&ledger_a, &polled_a);
    let polled_b = poll_topic(&client_a, "beta", "events", partitions).await;
    verify_topic(&ledger_b, &polled_b);

    let streams = bounded("get_streams", client_a.get_streams()).await.unwrap();
    let names: BTreeSet<String> = streams.into_iter().map(|s| s.name).collect();
    assert_eq!(names, BTreeSet::from(["alpha".to_owned(), "beta".to_owned()]));

    close(client_a).await;
    close(client_b).await;
    server.stop();
}

/// Auto-committed and explicitly stored consumer offsets survive a graceful restart; messages
/// survive a graceful restart and a SIGKILL under `--durability always`, and appends continue at
/// the next dense offset afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_and_messages_survive_restarts() {
    let mut server = Server::start(ServerOptions::new(2).durability("always"));
    let (stream, topic, partitions) = ("durable", "events", 4);
    let (stream_id, topic_id) = (named(stream), named(topic));
    let auto = Consumer::new(Identifier::numeric(7).unwrap());
    let manual = Consumer::new(Identifier::named("manual-consumer").unwrap());
    let mut ledger = Ledger::new(stream, topic, 4);

    let client = root_client(server.address()).await;
    create_topic(&client, stream, topic, partitions).await;
    send_balanced(&client, &mut ledger, 40, 25, false).await;

    // Auto-commit: `next` from no stored offset starts at 0 and commits the last offset returned.
    let polled = bounded(
        "auto-commit poll",
        client.poll_messages(&stream_id, &topic_id, Some(0), &auto, &PollingStrategy::next(), 10, true),
    )
    .await
    .unwrap();
    assert_eq!(offsets(&polled), (0..10).collect::<Vec<_>>());
    let committed = bounded("get_consumer_offset", client.get_consumer_offset(&auto, &stream_id, &topic_id, Some(0)))
        .await
        .unwrap()
        .expect("auto-commit stored an offset");
    assert_eq!(committed.stored_offset, 9);
    assert_eq!(committed.partition_id, 0);

    // Explicit store.
    bounded("store_consumer_offset", client.store_consumer_offset(&manual, &stream_id, &topic_id, Some(1), 42))
        .await
        .unwrap();
    let stored = bounded("get_consumer_offset", client.get_consumer_offset(&manual, &stream_id, &topic_id, Some(1)))
        .await
        .unwrap()
        .expect("stored offset");
    assert_eq!(stored.stored_offset, 42);
    let never = bounded("get_consumer_offset", client.get_consumer_offset(&manual, &stream_id, &topic_id, Some(2)))
        .await
        .unwrap();
    assert!(never.is_none(), "no offset was stored for partition 2, got {never:?}");
    close(client).await;

    // Graceful restart: offsets and messages are all there.
    server.restart();
    let client = root_client(server.address()).await;
    let committed = bounded("get_consumer_offset", client.get_consumer_offset(&auto, &stream_id, &topic_id, Some(0)))
        .await
        .unwrap()
        .expect("auto-committed offset survives a graceful restart");
    assert_eq!(committed.stored_offset, 9);
    let stored = bounded("get_consumer_offset", client.get_consumer_offset(&manual, &stream_id, &topic_id, Some(1)))
        .await
        .unwrap()
        .expect("stored offset survives a graceful restart");
    assert_eq!(stored.stored_offset, 42);
    let polled = bounded(
        "auto-commit poll after restart",
        client.poll_messages(&stream_id, &topic_id, Some(0), &auto, &PollingStrategy::next(), 5, true),
    )
    .await
    .unwrap();
    assert_eq!(offsets(&polled), (10..15).collect::<Vec<_>>(), "`next` resumes after the committed offset");
    verify_topic(&ledger, &poll_topic(&client, stream, topic, partitions).await);

    // Appends after the restart continue the dense offsets.
    send_balanced(&client, &mut ledger, 8, 25, false).await;
    verify_topic(&ledger, &poll_topic(&client, stream, topic, partitions).await);
    close(client).await;

    // SIGKILL: every acknowledged message is durable under `--durability always`.
    server.kill9();
    server.restart();
    let client = root_client(server.address()).await;
    let topic_details =
        bounded("get_topic", client.get_topic(&stream_id, &topic_id)).await.unwrap().expect("topic survives SIGKILL");
    assert_eq!(topic_details.partitions_count, partitions);
    verify_topic(&ledger, &poll_topic(&client, stream, topic, partitions).await);
    // Offsets are only required to survive a graceful stop; after SIGKILL an offset, if present,
    // must be one the consumer actually committed.
    let after_kill = bounded("get_consumer_offset", client.get_consumer_offset(&auto, &stream_id, &topic_id, Some(0)))
        .await
        .unwrap();
    if let Some(info) = after_kill {
        assert!(
            [9, 14].contains(&info.stored_offset),
            "offset after SIGKILL is {}, never committed",
            info.stored_offset
        );
    }
    send_balanced(&client, &mut ledger, 4, 25, false).await;
    verify_topic(&ledger, &poll_topic(&client, stream, topic, partitions).await);
    close(client).await;

    server.stop();
}

/// Errors reach the SDK as its typed variants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_arrive_as_sdk_error_variants() {
    let mut server = Server::start(ServerOptions::new(2));
    let address: SocketAddr = server.address();
    let client = root_client(address).await;

    bounded("create_stream", client.create_stream("unique")).await.unwrap();
    let duplicate = bounded("create_stream duplicate", client.create_stream("unique")).await;
    assert!(
        matches!(duplicate, Err(IggyError::StreamNameAlreadyExists(_))),
        "duplicate stream name: expected StreamNameAlreadyExists, got {duplicate:?}"
    );
    let missing = bounded("get_stream missing", client.get_stream(&named("no-such-stream"))).await;
    assert!(matches!(missing, Ok(None)), "missing stream: expected Ok(None), got {missing:?}");
    let missing_topic = bounded("get_topic missing", client.get_topic(&named("unique"), &named("no-such-topic"))).await;
    assert!(matches!(missing_topic, Ok(None)), "missing topic: expected Ok(None), got {missing_topic:?}");
    // The server is still answering on the same connection after those errors.
    let streams = bounded("get_streams", client.get_streams()).await.unwrap();
    assert_eq!(streams.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["unique"]);
    close(client).await;

    // Wrong password: the login fails with InvalidCredentials (status 42 or eviction reason 9).
    let wrong = login(address, "iggy", "not-the-password").await;
    match wrong {
        Err(IggyError::InvalidCredentials) => {}
        Err(other) => panic!("wrong password: expected IggyError::InvalidCredentials, got {other:?} ({other})"),
        Ok(_) => panic!("wrong password: login succeeded"),
    }
    let unknown_user = login(address, "nobody", "iggy").await;
    assert!(unknown_user.is_err(), "unknown user: login succeeded");

    // Before login: PING is allowed, anything else is refused with Unauthenticated.
    let anonymous = client_without_credentials(address);
    bounded("connect without credentials", anonymous.connect()).await.expect("connect without credentials");
    bounded("ping before login", anonymous.ping()).await.expect("PING is allowed before login");
    // The typed API refuses client-side; the raw request reaches the server, which must refuse it.
    let typed = bounded("get_streams before login", anonymous.get_streams()).await;
    assert!(matches!(typed, Err(IggyError::Unauthenticated)), "typed get_streams before login: got {typed:?}");
    let raw =
        bounded("raw GET_STREAMS before login", anonymous.send_binary_request(GET_STREAMS_CODE, Bytes::new())).await;
    assert!(
        matches!(raw, Err(IggyError::Unauthenticated)),
        "GET_STREAMS before login must be refused by the server with Unauthenticated (status 40 or eviction \
         reason NoSession), got {raw:?}"
    );
    close(anonymous).await;

    // And the right password still works after all that.
    let good = login(address, "iggy", "iggy").await.expect("login as iggy/iggy");
    bounded("get_me", good.get_me()).await.expect("get_me after login");
    close(good).await;
    server.stop();
}

/// Without `--no-pin` each shard thread is pinned to its own CPU, and every shard holds an io_uring.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_threads_are_pinned_and_own_an_io_uring() {
    let shards = 2;
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    let allowed = parse_cpu_list(&status_field(&own, "Cpus_allowed_list").unwrap());
    if allowed.len() < shards {
        eprintln!("skipped: this test needs {shards} CPUs, the process may use only {allowed:?}");
        return;
    }
    let mut server = Server::start(ServerOptions::new(shards as u32).pinned());
    let pid = server.pid();
    let threads = wait_for_shard_threads(pid, shards);
    assert_eq!(threads.len(), shards, "expected {shards} threads named whippet-shard-N, found {threads:?}");
    let mut pinned = BTreeSet::new();
    for (name, cpus) in &threads {
        assert_eq!(cpus.len(), 1, "{name} must be pinned to exactly one CPU, Cpus_allowed_list = {cpus:?}");
        let cpu = *cpus.first().unwrap();
        assert!(allowed.contains(&cpu), "{name} pinned to CPU {cpu}, outside the allowed {allowed:?}");
        assert!(pinned.insert(cpu), "two shard threads pinned to CPU {cpu}: {threads:?}");
    }
    let rings = io_uring_fds(pid);
    assert!(rings >= shards, "expected at least {shards} io_uring fds in /proc/{pid}/fdinfo, found {rings}");

    // The pinned server serves requests.
    let client = root_client(server.address()).await;
    create_topic(&client, "pinned", "events", 2).await;
    let mut ledger = Ledger::new("pinned", "events", 5);
    send_balanced(&client, &mut ledger, 4, 10, false).await;
    verify_topic(&ledger, &poll_topic(&client, "pinned", "events", 2).await);
    close(client).await;
    server.stop();
}
