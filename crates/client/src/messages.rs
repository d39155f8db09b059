//! Send, poll, flush and consumer offsets, in both dialects.
//!
//! A 0.11 send carries one batch record (protocol.md §6.1) that the server stores as it is; a
//! legacy send carries the index block and 64-byte message headers (§6.2). [`PreparedSend`]
//! builds either once, so a load generator can resend it with only the origin timestamp
//! changed.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use whippet_protocol::batch::{self, BatchHeader, Frames, RecordBuilder};
use whippet_protocol::codes;
use whippet_protocol::legacy::messages::{self as legacy_messages, OutgoingMessage};
use whippet_protocol::requests::{
    DeleteConsumerOffset, GetConsumerOffset, PollMessages, SendMessagesHeader, StoreConsumerOffset,
};
use whippet_protocol::responses::{ConsumerOffsetInfo, POLL_PREFIX_SIZE, PollReplyPrefix};
use whippet_protocol::system::FlushUnsavedBuffer;
use whippet_protocol::types::{AckLevel, Consumer, Identifier, Partitioning, PollingStrategy};

use crate::client::{Client, optional};
use crate::error::ClientError;
use crate::transport::{Dialect, Request};

/// A message to send. An `id` of 0 gets a random one (0.11, as SDK 0.11 does) or a
/// server-assigned one (legacy).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub id: u128,
    pub payload: Bytes,
    /// Raw user-headers block (TLV, protocol.md §2.7); empty for none.
    pub user_headers: Bytes,
}

impl Message {
    pub fn new(payload: impl Into<Bytes>) -> Message {
        Message { id: 0, payload: payload.into(), user_headers: Bytes::new() }
    }
}

/// One polled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolledMessage {
    pub offset: u64,
    /// When the server appended it, µs since the epoch.
    pub timestamp: u64,
    /// When the producer made it, µs since the epoch.
    pub origin_timestamp: u64,
    pub id: u128,
    pub checksum: u64,
    pub payload: Bytes,
    pub user_headers: Bytes,
}

/// A poll reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Polled {
    pub partition_id: u32,
    /// The partition's last offset.
    pub current_offset: u64,
    pub messages: Vec<PolledMessage>,
}

/// What to poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollSpec {
    pub consumer: Consumer,
    pub stream: Identifier,
    pub topic: Identifier,
    /// `None` for a consumer-group poll, where the server picks the member's partition.
    pub partition_id: Option<u32>,
    pub strategy: PollingStrategy,
    pub count: u32,
    pub auto_commit: bool,
}

/// A send request built once and sent many times. Not tied to a connection, but to a
/// dialect: build it with the client that sends it.
#[derive(Debug)]
pub struct PreparedSend {
    request: Request,
    /// Where the record (0.11) or the index block (legacy) starts in the body.
    messages_start: usize,
    count: u32,
    dialect: Dialect,
}

impl PreparedSend {
    /// Messages per send.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Body bytes per send (what the server receives after the frame header).
    pub fn body_len(&self) -> usize {
        self.request.body_len()
    }

    /// Gives every message `origin_timestamp` (µs), keeping their relative times.
    pub fn restamp(&mut self, origin_timestamp: u64) {
        let start = self.messages_start;
        let mut body = self.request.body_mut();
        let messages = &mut body.as_mut_slice()[start..];
        match self.dialect {
            Dialect::V011 => batch::restamp_origin(messages, origin_timestamp),
            Dialect::Legacy => legacy_messages::restamp_origin(messages, self.count as usize, origin_timestamp),
        }
    }
}

/// Microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_micros() as u64)
}

impl Client {
    /// Builds a send of `messages` to one topic. Every message gets the same origin timestamp
    /// (now); [`PreparedSend::restamp`] moves it.
    pub fn prepare_send(
        &self,
        stream: &Identifier,
        topic: &Identifier,
        partitioning: Partitioning,
        messages: &[Message],
    ) -> Result<PreparedSend, ClientError> {
        let count = u32::try_from(messages.len())
            .map_err(|_| ClientError::InvalidRequest(format!("{} messages in one send", messages.len())))?;
        if messages.is_empty() {
            return Err(ClientError::InvalidRequest("a send needs at least one message".into()));
        }
        if let Some(empty) = messages.iter().position(|m| m.payload.is_empty()) {
            return Err(ClientError::InvalidRequest(format!("message {empty} has an empty payload")));
        }
        let dialect = self.dialect();
        let bytes: usize = messages.iter().map(|m| 64 + m.payload.len() + m.user_headers.len()).sum();
        let mut request = Request::new(dialect, codes::SEND_MESSAGES, 64 + bytes + 256 + 16 * messages.len());
        let header = SendMessagesHeader::new(stream.clone(), topic.clone(), partitioning, count);
        let messages_start = header.batch_start;
        let origin = now_micros();
        let mut body = request.body_mut();
        let buffer = body.buffer();
        header.encode(buffer);
        match dialect {
            Dialect::V011 => {
                let mut builder = RecordBuilder::with_capacity(origin, bytes);
                for message in messages {
                    let id = if message.id == 0 { random_id() } else { message.id };
                    builder.push(id, origin, &message.payload, &message.user_headers);
                }
                buffer.extend_from_slice(&builder.finish());
            }
            Dialect::Legacy => {
                let outgoing: Vec<OutgoingMessage<'_>> = messages
                    .iter()
                    .map(|m| OutgoingMessage {
                        id: m.id,
                        origin_timestamp: origin,
                        payload: &m.payload,
                        user_headers: &m.user_headers,
                    })
                    .collect();
                legacy_messages::encode_send_body(&outgoing, buffer);
            }
        }
        Ok(PreparedSend { request, messages_start, count, dialect })
    }

    /// Sends a prepared batch and returns it for the next send.
    pub async fn send_prepared(&mut self, prepared: PreparedSend) -> Result<PreparedSend, ClientError> {
        if prepared.dialect != self.dialect() {
            return Err(ClientError::InvalidRequest("the send was prepared for the other dialect".into()));
        }
        let PreparedSend { request, messages_start, count, dialect } = prepared;
        let (_, request) = self.call_request(request).await?;
        Ok(PreparedSend { request, messages_start, count, dialect })
    }

    pub async fn send_messages(
        &mut self,
        stream: &Identifier,
        topic: &Identifier,
        partitioning: Partitioning,
        messages: &[Message],
    ) -> Result<(), ClientError> {
        let prepared = self.prepare_send(stream, topic, partitioning, messages)?;
        self.send_prepared(prepared).await.map(drop)
    }

    pub async fn poll_messages(&mut self, spec: &PollSpec) -> Result<Polled, ClientError> {
        let request = PollMessages {
            consumer: spec.consumer.clone(),
            stream: spec.stream.clone(),
            topic: spec.topic.clone(),
            partition_id: spec.partition_id,
            strategy: spec.strategy,
            count: spec.count,
            auto_commit: spec.auto_commit,
        };
        let body = self.call(codes::POLL_MESSAGES, |b| request.encode(b)).await?;
        match self.dialect() {
            Dialect::V011 => decode_records(&body),
            Dialect::Legacy => {
                let (prefix, messages) = legacy_messages::decode_poll_reply(&body)?;
                let messages = messages
                    .into_iter()
                    .map(|m| PolledMessage {
                        offset: m.offset,
                        timestamp: m.timestamp,
                        origin_timestamp: m.origin_timestamp,
                        id: m.id,
                        checksum: m.checksum,
                        payload: Bytes::from(m.payload),
                        user_headers: Bytes::from(m.user_headers),
                    })
                    .collect();
                Ok(Polled { partition_id: prefix.partition_id, current_offset: prefix.current_offset, messages })
            }
        }
    }

    /// Writes a partition's unsaved messages, and syncs them to disk with `fsync`.
    pub async fn flush(
        &mut self,
        stream: &Identifier,
        topic: &Identifier,
        partition_id: u32,
        fsync: bool,
    ) -> Result<(), ClientError> {
        let request = FlushUnsavedBuffer { stream: stream.clone(), topic: topic.clone(), partition_id, fsync };
        self.call(codes::FLUSH_UNSAVED_BUFFER, |b| request.encode(b)).await.map(drop)
    }

    pub async fn consumer_offset(
        &mut self,
        consumer: &Consumer,
        stream: &Identifier,
        topic: &Identifier,
        partition_id: Option<u32>,
    ) -> Result<Option<ConsumerOffsetInfo>, ClientError> {
        let request = GetConsumerOffset {
            consumer: consumer.clone(),
            stream: stream.clone(),
            topic: topic.clone(),
            partition_id,
        };
        let body = self.call(codes::GET_CONSUMER_OFFSET, |b| request.encode(b)).await?;
        optional(&body, ConsumerOffsetInfo::decode)
    }

    pub async fn store_consumer_offset(
        &mut self,
        consumer: &Consumer,
        stream: &Identifier,
        topic: &Identifier,
        partition_id: Option<u32>,
        offset: u64,
    ) -> Result<(), ClientError> {
        let request = StoreConsumerOffset {
            consumer: consumer.clone(),
            stream: stream.clone(),
            topic: topic.clone(),
            partition_id,
            offset,
            ack: self.ack_level(),
        };
        self.call(codes::STORE_CONSUMER_OFFSET, |b| request.encode(b)).await.map(drop)
    }

    pub async fn delete_consumer_offset(
        &mut self,
        consumer: &Consumer,
        stream: &Identifier,
        topic: &Identifier,
        partition_id: Option<u32>,
    ) -> Result<(), ClientError> {
        let request = DeleteConsumerOffset {
            consumer: consumer.clone(),
            stream: stream.clone(),
            topic: topic.clone(),
            partition_id,
            ack: self.ack_level(),
        };
        self.call(codes::DELETE_CONSUMER_OFFSET, |b| request.encode(b)).await.map(drop)
    }

    /// The trailing ack byte of offset writes: Quorum in 0.11 (as the SDK sends), absent in legacy.
    fn ack_level(&self) -> Option<AckLevel> {
        (self.dialect() == Dialect::V011).then_some(AckLevel::Quorum)
    }
}

/// Decodes a 0.11 poll reply: the prefix, then batch records back to back, each message's
/// fields derived as the SDK derives them (§6.1 "Poll reply"). Payloads are slices of the
/// reply, not copies.
fn decode_records(body: &Bytes) -> Result<Polled, ClientError> {
    let (prefix, _) = PollReplyPrefix::decode(body)?;
    let mut position = POLL_PREFIX_SIZE;
    let mut messages = Vec::with_capacity(prefix.messages_count.min(1 << 16) as usize);
    while position < body.len() {
        let header = BatchHeader::read(&body[position..])
            .map_err(|error| ClientError::Protocol(format!("poll reply record at byte {position}: {error}")))?;
        let end = usize::try_from(header.batch_length)
            .ok()
            .and_then(|length| position.checked_add(length))
            .filter(|&end| end <= body.len() && end > position)
            .ok_or_else(|| ClientError::Protocol(format!("poll reply record at byte {position} overruns the reply")))?;
        let record = body.slice(position..end);
        for frame in Frames::new(&record) {
            let payload_start = frame.start + batch::FRAME_HEADER_SIZE;
            let payload_end = payload_start + frame.payload_length as usize;
            messages.push(PolledMessage {
                offset: header.base_offset + u64::from(frame.offset_delta),
                timestamp: header.base_timestamp,
                origin_timestamp: header.origin_timestamp + u64::from(frame.timestamp_delta),
                id: frame.id,
                checksum: frame.checksum,
                payload: record.slice(payload_start..payload_end),
                user_headers: record.slice(payload_end..frame.end),
            });
        }
        position = end;
    }
    Ok(Polled { partition_id: prefix.partition_id, current_offset: prefix.current_offset, messages })
}

/// A random, non-zero message id, as SDK 0.11 gives messages sent with id 0.
fn random_id() -> u128 {
    fastrand::u128(1..)
}
