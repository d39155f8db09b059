//! Send, poll, flush and consumer offsets. The V dialect stores and serves records as they
//! travel; the legacy dialect converts at the edge (protocol.md §6.2).

use std::rc::Rc;

use bytes::BytesMut;
use whippet_protocol::legacy;
use whippet_protocol::permissions::Action;
use whippet_protocol::requests::{
    DeleteConsumerOffset, GetConsumerOffset, PollMessages, SendMessagesHeader, StoreConsumerOffset,
};
use whippet_protocol::responses;
use whippet_protocol::status::ErrorCode;
use whippet_protocol::system::FlushUnsavedBuffer;
use whippet_protocol::types::{Consumer, ConsumerKind, Identifier, Partitioning, PollingStrategy};
use whippet_storage::{ConsumerKey, ReadFrom};

use super::{authorize, decoded, outcome_failure, resolve_topic};
use crate::connection::{Denied, Outcome, Reply, Session};
use crate::messages::{PartitionKey, PartitionOp, PartitionOutcome};
use crate::shard::Shard;

/// A V group poll of a partition the member does not own gets an empty reply with this
/// partition id, and the SDK re-syncs its assignment (protocol.md §6.1).
const RESYNC_REQUIRED_PARTITION: u32 = u32::MAX;

/// `server.max_message_size`. Iggy's own limit is checked when the owner validates the record;
/// a lower configured one costs a walk over the frame headers, skipped at the default.
fn within_message_size(shard: &Shard, record: &[u8]) -> Result<(), Denied> {
    let limit = shard.shared.max_message_size;
    if limit >= whippet_protocol::batch::MAX_PAYLOAD_SIZE {
        return Ok(());
    }
    // An unvalidated record: the walk stops at the first frame that does not fit, and the
    // owner's validation refuses such a record anyway.
    if let Some(frame) = whippet_protocol::batch::Frames::new(record).find(|frame| frame.payload_length > limit) {
        tracing::debug!(payload = frame.payload_length, limit, "refused: server.max_message_size");
        return Err(ErrorCode::TooBigMessagePayload.into());
    }
    Ok(())
}

pub async fn send(shard: &Rc<Shard>, session: &mut Session, mut body: BytesMut) -> Outcome {
    let request = decoded(SendMessagesHeader::decode(&body))?;
    let (stream, topic, partitions) = resolve_topic(shard, &request.stream, &request.topic)?;
    authorize(shard, session, Action::SendMessages { stream, topic })?;
    if partitions == 0 {
        return Err(ErrorCode::PartitionNotFound.into());
    }
    let partition = match &request.partitioning {
        Partitioning::PartitionId(id) => *id,
        Partitioning::Balanced => {
            let mut balanced = shard.balanced.borrow_mut();
            let cursor = balanced.entry((stream, topic)).or_insert(0);
            let chosen = *cursor % partitions;
            *cursor = cursor.wrapping_add(1);
            chosen
        }
        Partitioning::MessagesKey(key) => xxhash_rust::xxh32::xxh32(key, 0) % partitions,
    };
    if partition >= partitions {
        return Err(ErrorCode::PartitionNotFound.into());
    }
    let key = PartitionKey { stream, topic, partition };
    let messages = body.split_off(request.batch_start);
    if session.is_legacy() {
        // Server-assigned ids are UUID v4 values, as server 0.8 assigns them.
        let mut fresh_id = || (fastrand::u128(..) & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
        let records = legacy::send_to_record(&messages, request.messages_count, &mut fresh_id)
            .map_err(|error| Denied::Status(error.code()))?;
        for record in &records {
            within_message_size(shard, record)?;
        }
        for record in records {
            match shard.on_partition(key, PartitionOp::Append(record)).await {
                PartitionOutcome::Appended(_) => {}
                other => return Err(outcome_failure(other)),
            }
        }
        return Ok(Reply::default());
    }
    let declared = whippet_protocol::batch::BatchHeader::read(&messages).map(|h| h.message_count);
    if !declared.is_ok_and(|count| count == request.messages_count) {
        return Err(ErrorCode::InvalidMessagesCount.into());
    }
    within_message_size(shard, &messages)?;
    match shard.on_partition(key, PartitionOp::Append(messages)).await {
        PartitionOutcome::Appended(appended) => {
            let mut reply = Reply::default();
            responses::encode_send_confirmations(
                &[responses::SendConfirmation {
                    stream_id: stream,
                    topic_id: topic,
                    partition_id: partition,
                    base_offset: appended.base_offset,
                }],
                &mut reply.body,
            );
            Ok(reply)
        }
        other => Err(outcome_failure(other)),
    }
}

/// Which partition a consumer request addresses, and the consumer's storage key.
enum Target {
    Partition(PartitionKey, ConsumerKey),
    /// A group member polled a partition it does not own (V): answer the resync sentinel.
    Resync,
    /// A group member with no partitions assigned: an empty poll.
    Nothing,
}

/// The storage key of a consumer: a numeric id, or `xxh32(name)` for a named one (trap 21),
/// or the group's id.
/// `(stream, topic, partitions)` come from [`resolve_topic`].
fn resolve_consumer(
    shard: &Shard,
    session: &mut Session,
    consumer: &Consumer,
    (stream, topic, partitions): (u32, u32, u32),
    partition_id: Option<u32>,
    polling: bool,
) -> Result<Target, Denied> {
    let partition_key = |partition: u32| PartitionKey { stream, topic, partition };
    match consumer.kind {
        ConsumerKind::Consumer => {
            let key = ConsumerKey::Consumer(match &consumer.id {
                Identifier::Numeric(id) => *id,
                Identifier::Name(name) => xxhash_rust::xxh32::xxh32(name.as_bytes(), 0),
            });
            let partition = partition_id.unwrap_or(0);
            if partition >= partitions {
                return Err(ErrorCode::PartitionNotFound.into());
            }
            Ok(Target::Partition(partition_key(partition), key))
        }
        ConsumerKind::Group => shard.with_metadata(|m| {
            let topic_meta = m.streams().get(&stream).and_then(|s| s.topics.get(&topic));
            let group = topic_meta.and_then(|t| match &consumer.id {
                Identifier::Numeric(id) => t.consumer_groups.get(id),
                Identifier::Name(name) => t.consumer_group_by_name(name),
            });
            let Some(group) = group else { return Err(Denied::Status(ErrorCode::ConsumerGroupIdNotFound)) };
            let key = ConsumerKey::Group(group.id);
            let member = group.members.contains(&session.client_id);
            match partition_id {
                Some(partition) if partition >= partitions => Err(ErrorCode::PartitionNotFound.into()),
                Some(partition) => {
                    if polling && member && group.owner_of(partition) != Some(session.client_id) {
                        return Ok(if session.is_legacy() { Target::Nothing } else { Target::Resync });
                    }
                    if polling && !member {
                        return Err(ErrorCode::ConsumerGroupMemberNotFound.into());
                    }
                    Ok(Target::Partition(partition_key(partition), key))
                }
                None => {
                    if !member {
                        return Err(ErrorCode::ConsumerGroupMemberNotFound.into());
                    }
                    let assigned = group.assignment(session.client_id, partitions);
                    if assigned.is_empty() {
                        return Ok(Target::Nothing);
                    }
                    // Polls take the member's partitions in turn; offset commands address
                    // the one polled last, as server 0.8 does.
                    let index = if polling {
                        session.group_cursor = session.group_cursor.wrapping_add(1);
                        session.group_cursor as usize % assigned.len()
                    } else {
                        session.group_cursor as usize % assigned.len()
                    };
                    Ok(Target::Partition(partition_key(assigned[index]), key))
                }
            }
        }),
    }
}

fn empty_poll(partition_id: u32) -> Reply {
    let mut reply = Reply::default();
    responses::PollReplyPrefix { partition_id, current_offset: 0, messages_count: 0 }.encode(&mut reply.body);
    reply
}

pub async fn poll(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(PollMessages::decode(body))?;
    let resolved = resolve_topic(shard, &request.stream, &request.topic)?;
    authorize(shard, session, Action::PollMessages { stream: resolved.0, topic: resolved.1 })?;
    let target = resolve_consumer(shard, session, &request.consumer, resolved, request.partition_id, true)?;
    let (partition_key, key) = match target {
        Target::Partition(partition, key) => (partition, key),
        Target::Resync => return Ok(empty_poll(RESYNC_REQUIRED_PARTITION)),
        Target::Nothing => return Ok(empty_poll(request.partition_id.unwrap_or(0))),
    };
    let from = match request.strategy {
        PollingStrategy::Offset(offset) => ReadFrom::Offset(offset),
        PollingStrategy::Timestamp(timestamp) => ReadFrom::Timestamp(timestamp),
        PollingStrategy::First => ReadFrom::First,
        PollingStrategy::Last => ReadFrom::Last,
        PollingStrategy::Next => ReadFrom::Next(key),
    };
    let auto_commit = request.auto_commit.then_some(key);
    let op = PartitionOp::Poll { from, count: request.count, auto_commit };
    match shard.on_partition(partition_key, op).await {
        PartitionOutcome::Polled { polled } => {
            let mut reply = Reply::default();
            responses::PollReplyPrefix {
                partition_id: partition_key.partition,
                current_offset: polled.next_offset.saturating_sub(1),
                messages_count: polled.count,
            }
            .encode(&mut reply.body);
            if session.is_legacy() {
                to_legacy_messages(&polled.chunks, &mut reply.body)?;
            } else {
                reply.records = polled.chunks;
            }
            Ok(reply)
        }
        other => Err(outcome_failure(other)),
    }
}

/// Converts polled records to legacy messages. Whole records are converted where they lie; a
/// sliced record arrives as two chunks (a fresh header, then its frames), and only those two
/// are joined, since the conversion reads one contiguous record.
fn to_legacy_messages(chunks: &[bytes::Bytes], out: &mut BytesMut) -> Result<(), Denied> {
    use whippet_protocol::batch::BATCH_HEADER_SIZE;
    let mut index = 0;
    while index < chunks.len() {
        // A record has at least one frame, so a chunk of exactly one header is a slice's.
        if chunks[index].len() == BATCH_HEADER_SIZE && index + 1 < chunks.len() {
            let mut record = BytesMut::with_capacity(BATCH_HEADER_SIZE + chunks[index + 1].len());
            record.extend_from_slice(&chunks[index]);
            record.extend_from_slice(&chunks[index + 1]);
            convert_records(&record, out)?;
            index += 2;
        } else {
            convert_records(&chunks[index], out)?;
            index += 1;
        }
    }
    Ok(())
}

/// Converts the records lying back to back in `bytes`, walking them by `batch_length`.
fn convert_records(mut rest: &[u8], out: &mut BytesMut) -> Result<(), Denied> {
    while !rest.is_empty() {
        let length = whippet_protocol::batch::BatchHeader::read(rest)
            .ok()
            .and_then(|header| usize::try_from(header.batch_length).ok())
            .filter(|length| *length <= rest.len());
        let Some(length) = length else {
            tracing::error!("polled records do not walk by batch_length");
            return Err(ErrorCode::Error.into());
        };
        legacy::record_to_messages(&rest[..length], .., out).map_err(|error| {
            tracing::error!(%error, "stored record does not convert to legacy messages");
            Denied::Status(ErrorCode::Error)
        })?;
        rest = &rest[length..];
    }
    Ok(())
}

pub async fn flush(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(FlushUnsavedBuffer::decode(body))?;
    let (stream, topic, partitions) = resolve_topic(shard, &request.stream, &request.topic)?;
    authorize(shard, session, Action::SendMessages { stream, topic })?;
    if request.partition_id >= partitions {
        return Err(ErrorCode::PartitionNotFound.into());
    }
    // Appends reach the file before they are acknowledged; only fsync has work left to do.
    if !request.fsync {
        return Ok(Reply::default());
    }
    let key = PartitionKey { stream, topic, partition: request.partition_id };
    match shard.on_partition(key, PartitionOp::Sync).await {
        PartitionOutcome::Done => Ok(Reply::default()),
        other => Err(outcome_failure(other)),
    }
}

/// The partition and key of an offset command; a group member without partitions has none.
fn offset_target(
    shard: &Shard,
    session: &mut Session,
    consumer: &Consumer,
    stream: &Identifier,
    topic: &Identifier,
    partition_id: Option<u32>,
) -> Result<Option<(PartitionKey, ConsumerKey)>, Denied> {
    let resolved = resolve_topic(shard, stream, topic)?;
    authorize(shard, session, Action::PollMessages { stream: resolved.0, topic: resolved.1 })?;
    match resolve_consumer(shard, session, consumer, resolved, partition_id, false)? {
        Target::Partition(partition, key) => Ok(Some((partition, key))),
        Target::Resync | Target::Nothing => Ok(None),
    }
}

pub async fn store_offset(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = if session.is_legacy() {
        decoded(legacy::requests::decode_store_consumer_offset(body))?
    } else {
        decoded(StoreConsumerOffset::decode(body))?
    };
    let Some((partition_key, key)) =
        offset_target(shard, session, &request.consumer, &request.stream, &request.topic, request.partition_id)?
    else {
        return Err(ErrorCode::PartitionNotFound.into());
    };
    let op = PartitionOp::StoreOffset { key, offset: request.offset };
    match shard.on_partition(partition_key, op).await {
        PartitionOutcome::Done => Ok(Reply::default()),
        other => Err(outcome_failure(other)),
    }
}

pub async fn get_offset(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(GetConsumerOffset::decode(body))?;
    let Some((partition_key, key)) =
        offset_target(shard, session, &request.consumer, &request.stream, &request.topic, request.partition_id)?
    else {
        return Ok(Reply::default());
    };
    match shard.on_partition(partition_key, PartitionOp::GetOffset { key }).await {
        // No stored offset is an empty body (trap 8).
        PartitionOutcome::Offset { stored: None, .. } => Ok(Reply::default()),
        PartitionOutcome::Offset { stored: Some(stored), next_offset } => {
            let mut reply = Reply::default();
            responses::ConsumerOffsetInfo {
                partition_id: partition_key.partition,
                current_offset: next_offset.saturating_sub(1),
                stored_offset: stored,
            }
            .encode(&mut reply.body);
            Ok(reply)
        }
        other => Err(outcome_failure(other)),
    }
}

pub async fn delete_offset(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = if session.is_legacy() {
        decoded(legacy::requests::decode_delete_consumer_offset(body))?
    } else {
        decoded(DeleteConsumerOffset::decode(body))?
    };
    let Some((partition_key, key)) =
        offset_target(shard, session, &request.consumer, &request.stream, &request.topic, request.partition_id)?
    else {
        return Err(ErrorCode::ConsumerOffsetNotFound.into());
    };
    match shard.on_partition(partition_key, PartitionOp::DeleteOffset { key }).await {
        PartitionOutcome::Done => Ok(Reply::default()),
        other => Err(outcome_failure(other)),
    }
}
