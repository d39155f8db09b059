//! The calls the harness makes, each bounded by [`CALL_TIMEOUT`]: a send that returns the base
//! offset the server acknowledged, and a poll that checks every served record (structure,
//! dense offset deltas, frame and batch checksums, partition) before handing back its messages.
//! Both speak the 0.11 dialect through the client's raw `call_request`, because the typed
//! methods drop the send confirmation and decode records without verifying their checksums.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use whippet_client::{Client, ClientError, Credentials, Dialect, Request};
use whippet_protocol::batch::{self, BatchHeader, Frames, Verify};
use whippet_protocol::codes;
use whippet_protocol::requests::{PollMessages, SendMessagesHeader};
use whippet_protocol::responses::{self, PollReplyPrefix};
use whippet_protocol::types::{Consumer, ConsumerKind, Identifier, Partitioning, PollingStrategy};
use whippet_testkit::{ROOT_PASSWORD, ROOT_USERNAME};
use xxhash_rust::xxh3::xxh3_64;

/// The longest any single call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The topic every cycle writes to.
#[derive(Debug, Clone)]
pub struct Target {
    pub stream: Identifier,
    pub topic: Identifier,
    pub partitions: u32,
}

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    Client(ClientError),
    TimedOut,
    /// The server served bytes that fail validation: never acceptable, killed or not.
    Corrupt(String),
}

impl CallError {
    pub fn is_corrupt(&self) -> bool {
        matches!(self, CallError::Corrupt(_))
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Client(error) => write!(formatter, "{error}"),
            CallError::TimedOut => write!(formatter, "no reply within {CALL_TIMEOUT:?}"),
            CallError::Corrupt(what) => write!(formatter, "served corrupt data: {what}"),
        }
    }
}

impl From<ClientError> for CallError {
    fn from(error: ClientError) -> CallError {
        CallError::Client(error)
    }
}

/// One message as served: where it is and a hash of what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServedMessage {
    pub offset: u64,
    pub id: u128,
    pub payload_hash: u64,
    pub payload_len: u32,
}

/// One poll reply, verified.
#[derive(Debug)]
pub struct Page {
    /// The partition's last offset, as the reply prefix says.
    pub current_offset: u64,
    pub messages: Vec<ServedMessage>,
}

/// Runs `body` on a monoio runtime of its own thread; the receiver gets its output.
pub fn spawn_on_runtime<T, F, Fut>(name: &str, body: F) -> mpsc::Receiver<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let (done, outcome) = mpsc::channel();
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let mut runtime =
                monoio::RuntimeBuilder::<monoio::FusionDriver>::new().enable_timer().build().expect("monoio runtime");
            let _ = done.send(runtime.block_on(body()));
        })
        .expect("spawn thread");
    outcome
}

/// Waits at most `limit` for a thread started by [`spawn_on_runtime`].
pub fn receive<T>(outcome: &mpsc::Receiver<T>, limit: Duration, what: &str) -> T {
    match outcome.recv_timeout(limit) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what} did not finish within {limit:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what} panicked"),
    }
}

pub async fn bounded<T>(call: impl Future<Output = Result<T, ClientError>>) -> Result<T, CallError> {
    match monoio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result.map_err(CallError::Client),
        Err(_) => Err(CallError::TimedOut),
    }
}

pub async fn connect(address: SocketAddr) -> Result<Client, CallError> {
    let root = Credentials::Password { username: ROOT_USERNAME.into(), password: ROOT_PASSWORD.into() };
    bounded(Client::connect_and_login(address, Dialect::V011, &root)).await
}

/// The consumer whose offsets the load stores and the verifier checks.
pub fn consumer(name: &str) -> Consumer {
    Consumer { kind: ConsumerKind::Consumer, id: Identifier::named(name).expect("consumer name") }
}

/// Sends one record of `count` messages to `partition`; returns the base offset it got.
pub async fn send(
    client: &mut Client,
    target: &Target,
    partition: u32,
    record: &[u8],
    count: u32,
) -> Result<u64, CallError> {
    let partitioning = Partitioning::PartitionId(partition);
    let header = SendMessagesHeader::new(target.stream.clone(), target.topic.clone(), partitioning, count);
    let mut request = Request::new(Dialect::V011, codes::SEND_MESSAGES, 64 + record.len());
    let mut body = request.body_mut();
    header.encode(body.buffer());
    body.buffer().extend_from_slice(record);
    let (reply, _) = bounded(client.call_request(request)).await?;
    let confirmations = responses::decode_send_confirmations(&reply).map_err(ClientError::from)?;
    match confirmations.as_slice() {
        [confirmation] if confirmation.partition_id == partition => Ok(confirmation.base_offset),
        other => Err(ClientError::Protocol(format!("send to partition {partition} confirmed as {other:?}")).into()),
    }
}

/// Polls up to `count` messages of `partition` from `offset`, verifying every served record.
pub async fn poll(
    client: &mut Client,
    target: &Target,
    consumer: &Consumer,
    partition: u32,
    offset: u64,
    count: u32,
) -> Result<Page, CallError> {
    let poll = PollMessages {
        consumer: consumer.clone(),
        stream: target.stream.clone(),
        topic: target.topic.clone(),
        partition_id: Some(partition),
        strategy: PollingStrategy::Offset(offset),
        count,
        auto_commit: false,
    };
    let mut request = Request::new(Dialect::V011, codes::POLL_MESSAGES, 64);
    poll.encode(request.body_mut().buffer());
    let (reply, _) = bounded(client.call_request(request)).await?;
    verify_page(&reply, partition)
}

/// Decodes a poll reply, verifying each record (see [`verify_record`]).
fn verify_page(body: &[u8], partition: u32) -> Result<Page, CallError> {
    let (prefix, mut records) = PollReplyPrefix::decode(body).map_err(ClientError::from)?;
    let corrupt = |what: String| CallError::Corrupt(format!("partition {partition}: {what}"));
    if prefix.partition_id != partition {
        return Err(corrupt(format!("the poll was answered for partition {}", prefix.partition_id)));
    }
    let mut messages = Vec::with_capacity(prefix.messages_count.min(1 << 16) as usize);
    while !records.is_empty() {
        let header = BatchHeader::read(records).map_err(|error| corrupt(error.to_string()))?;
        let length = usize::try_from(header.batch_length)
            .ok()
            .filter(|&length| length > 0 && length <= records.len())
            .ok_or_else(|| corrupt(format!("record at offset {} overruns the reply", header.base_offset)))?;
        let (record, rest) = records.split_at(length);
        verify_record(record, &header, partition)
            .map_err(|what| corrupt(format!("record at offset {}: {what}", header.base_offset)))?;
        messages.extend(Frames::new(record).map(|frame| ServedMessage {
            offset: header.base_offset + u64::from(frame.offset_delta),
            id: frame.id,
            payload_hash: xxh3_64(frame.payload(record)),
            payload_len: frame.payload_length,
        }));
        records = rest;
    }
    if messages.len() != prefix.messages_count as usize {
        return Err(corrupt(format!(
            "the reply prefix counts {} messages, its records hold {}",
            prefix.messages_count,
            messages.len()
        )));
    }
    Ok(Page { current_offset: prefix.current_offset, messages })
}

/// Checks one served record: its partition, its length and message count against its frames,
/// consecutive offset deltas, every frame checksum and the batch checksum, recomputed. A poll
/// that starts inside a stored record serves it sliced, keeping the original deltas (the first
/// need not be 0), so `batch::validate` applies only to records served from their start.
fn verify_record(record: &[u8], header: &BatchHeader, partition: u32) -> Result<(), String> {
    if header.partition_id != u64::from(partition) {
        return Err(format!("stamped with partition {}", header.partition_id));
    }
    let frames: Vec<_> = Frames::new(record).collect();
    let delta_first = frames.first().map_or(0, |frame| frame.offset_delta);
    if delta_first == 0 {
        batch::validate(record, Verify::ALL).map_err(|error| error.to_string())?;
    }
    if frames.len() != header.message_count as usize || frames.is_empty() {
        return Err(format!("declares {} messages, holds {}", header.message_count, frames.len()));
    }
    if frames.last().map(|frame| frame.end) != Some(record.len()) {
        return Err("bytes after the last frame".into());
    }
    for (index, frame) in frames.iter().enumerate() {
        if frame.offset_delta != delta_first + index as u32 {
            return Err(format!("frame {index} has offset delta {}, after {delta_first}", frame.offset_delta));
        }
        if batch::frame_checksum(&record[frame.start..frame.end]) != frame.checksum {
            return Err(format!("frame {index} fails its checksum"));
        }
    }
    if batch::batch_checksum(record) != header.batch_checksum {
        return Err("the batch checksum does not match".into());
    }
    Ok(())
}
