//! Commands: decode, check the session, act on the replica, the leader or the owning shard,
//! and build the reply payload. Wire layouts live in `whippet_protocol`; errors become Iggy
//! status codes here.

use std::rc::Rc;
use std::sync::atomic::Ordering;

use bytes::{BufMut, BytesMut};
use whippet_metadata::{Command, Metadata, Ref, Stream, Topic};
use whippet_protocol::codes;
use whippet_protocol::requests::{
    CreateStream, CreateTopic, DeleteConsumerOffset, GetConsumerOffset, Login, PollMessages, SendMessagesHeader,
    StoreConsumerOffset, StreamRef, TopicRef,
};
use whippet_protocol::responses;
use whippet_protocol::status::ErrorCode;
use whippet_protocol::types::{Consumer, ConsumerKind, Identifier, Options, Partitioning, PollingStrategy};
use whippet_protocol::vsr::{self, EvictionReason, Operation, RequestHeader};
use whippet_storage::{ConsumerKey, ReadFrom};

use crate::connection::{Denied, Outcome, Reply, Session};
use crate::messages::{PartitionKey, PartitionOp, PartitionOutcome};
use crate::shard::Shard;

/// Server version reported at login and in stats.
const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

pub async fn dispatch(
    shard: &Rc<Shard>,
    session: &mut Session,
    header: &RequestHeader,
    operation: Operation,
    body: BytesMut,
) -> Outcome {
    let code = operation.command_code(header);
    if operation == Operation::Register {
        return login(shard, session, &body).await;
    }
    if session.user_id.is_none() && code != codes::PING {
        return Err(ErrorCode::Unauthenticated.into());
    }
    match code {
        codes::PING => Ok(Reply::default()),
        codes::LOGOUT_USER => {
            session.user_id = None;
            session.session = 0;
            Ok(Reply::default())
        }
        codes::GET_CLUSTER_METADATA => Ok(cluster_metadata(shard)),
        codes::GET_ME => Ok(me(session)),
        codes::GET_STREAM => get_stream(shard, &body),
        codes::GET_STREAMS => Ok(get_streams(shard)),
        codes::CREATE_STREAM => create_stream(shard, &body).await,
        codes::DELETE_STREAM => delete_stream(shard, &body).await,
        codes::GET_TOPIC => get_topic(shard, &body),
        codes::GET_TOPICS => get_topics(shard, &body),
        codes::CREATE_TOPIC => create_topic(shard, &body).await,
        codes::DELETE_TOPIC => delete_topic(shard, &body).await,
        codes::SEND_MESSAGES => send_messages(shard, body).await,
        codes::POLL_MESSAGES => poll_messages(shard, &body).await,
        codes::STORE_CONSUMER_OFFSET => store_offset(shard, &body).await,
        codes::GET_CONSUMER_OFFSET => get_offset(shard, &body).await,
        codes::DELETE_CONSUMER_OFFSET => delete_offset(shard, &body).await,
        other if codes::name_of(other).is_some() => Err(ErrorCode::FeatureUnavailable.into()),
        _ => Err(ErrorCode::InvalidCommand.into()),
    }
}

fn decoded<T>(result: Result<T, whippet_protocol::wire::DecodeError>) -> Result<T, Denied> {
    result.map_err(|error| Denied::Status(error.code()))
}

async fn login(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let Ok(login) = Login::decode(body) else {
        return Err(Denied::Evict(EvictionReason::MalformedLogin, None));
    };
    if !login.version().is_compatible() {
        return Err(Denied::Evict(EvictionReason::IncompatibleProtocol, Some(vsr::PROTOCOL_WINDOW)));
    }
    let Login::Password(login) = login else {
        // Personal access tokens arrive with the users and permissions work.
        return Err(Denied::Evict(EvictionReason::InvalidToken, None));
    };
    if let Err(code) = login.validate() {
        return Err(code.into());
    }
    let user = shard.with_metadata(|m| {
        m.users().values().find(|u| u.username == login.username).map(|u| (u.id, u.status, u.password_hash.clone()))
    });
    let Some((user_id, status, hash)) = user else {
        return Err(Denied::Evict(EvictionReason::InvalidCredentials, None));
    };
    if !crate::auth::verify_password(&login.password, &hash) {
        return Err(Denied::Evict(EvictionReason::InvalidCredentials, None));
    }
    if status != whippet_metadata::USER_STATUS_ACTIVE {
        return Err(Denied::Evict(EvictionReason::UserInactive, None));
    }
    session.user_id = Some(user_id);
    session.session = shard.new_session();
    let mut reply = Reply::default();
    responses::LoginReply {
        user_id,
        session: session.session,
        server_protocol_version: vsr::SERVER_PROTOCOL_VERSION,
        server_version: SERVER_VERSION.to_string(),
    }
    .encode(&mut reply.body);
    Ok(reply)
}

fn cluster_metadata(shard: &Shard) -> Reply {
    let listen = shard.shared.listen;
    let mut reply = Reply::default();
    responses::ClusterMetadata {
        name: "whippet".to_string(),
        nodes: vec![responses::ClusterNode {
            name: "whippet-0".to_string(),
            ip: listen.ip().to_string(),
            tcp_port: listen.port(),
            quic_port: 0,
            http_port: 0,
            websocket_port: 0,
            role: 0,
            status: 0,
        }],
    }
    .encode(&mut reply.body);
    reply
}

fn me(session: &Session) -> Reply {
    let mut reply = Reply::default();
    responses::ClientDetails {
        client: responses::ClientInfo {
            client_id: session.client_id,
            user_id: session.user_id.unwrap_or(responses::USER_ID_NONE),
            transport: responses::TRANSPORT_TCP,
            address: session.peer.to_string(),
            consumer_groups_count: 0,
        },
        consumer_groups: Vec::new(),
    }
    .encode(&mut reply.body);
    reply
}

fn reference(identifier: &Identifier) -> Ref {
    match identifier {
        Identifier::Numeric(id) => Ref::Id(*id),
        Identifier::Name(name) => Ref::Name(name.clone()),
    }
}

/// Size and message count of a topic, from its partitions' counters.
fn topic_figures(shard: &Shard, stream: u32, topic: &Topic) -> (u64, u64, Vec<responses::PartitionInfo>) {
    let mut size = 0;
    let mut messages = 0;
    let mut partitions = Vec::with_capacity(topic.partitions_count as usize);
    for partition in 0..topic.partitions_count {
        let key = PartitionKey { stream, topic: topic.id, partition };
        let (next, first, bytes, segments) = shard.shared.counters.get(key).map_or((0, 0, 0, 1), |c| {
            (
                c.next_offset.load(Ordering::Relaxed),
                c.first_offset.load(Ordering::Relaxed),
                c.size_bytes.load(Ordering::Relaxed),
                c.segments.load(Ordering::Relaxed),
            )
        });
        size += bytes;
        messages += next - first.min(next);
        partitions.push(responses::PartitionInfo {
            id: partition,
            created_at: topic.created_at,
            segments_count: segments as u32,
            current_offset: next.saturating_sub(1),
            size_bytes: bytes,
            messages_count: next - first.min(next),
        });
    }
    (size, messages, partitions)
}

fn topic_header(shard: &Shard, stream: u32, topic: &Topic) -> (responses::TopicInfo, Vec<responses::PartitionInfo>) {
    let (size_bytes, messages_count, partitions) = topic_figures(shard, stream, topic);
    let options = Options(
        topic.options.iter().map(|(k, v)| (k.clone(), whippet_protocol::types::OptionValue::string(v))).collect(),
    );
    let header = responses::TopicInfo {
        id: topic.id,
        created_at: topic.created_at,
        partitions_count: topic.partitions_count,
        message_expiry: topic.message_expiry,
        compression_algorithm: topic.compression,
        max_topic_size: topic.max_topic_size,
        size_bytes,
        messages_count,
        name: topic.name.clone(),
        options,
        derived_options: Options::new(),
    };
    (header, partitions)
}

fn stream_header(shard: &Shard, stream: &Stream) -> responses::StreamInfo {
    let (size_bytes, messages_count) = stream.topics.values().fold((0, 0), |(size, messages), topic| {
        let (s, m, _) = topic_figures(shard, stream.id, topic);
        (size + s, messages + m)
    });
    responses::StreamInfo {
        id: stream.id,
        created_at: stream.created_at,
        topics_count: stream.topics.len() as u32,
        size_bytes,
        messages_count,
        name: stream.name.clone(),
        options: Options::new(),
    }
}

fn stream_details(shard: &Shard, stream: &Stream) -> Reply {
    let mut reply = Reply::default();
    let topics = stream.topics.values().map(|topic| topic_header(shard, stream.id, topic).0).collect();
    responses::StreamDetails { stream: stream_header(shard, stream), topics }.encode(&mut reply.body);
    reply
}

fn topic_details(shard: &Shard, stream: u32, topic: &Topic) -> Reply {
    let mut reply = Reply::default();
    let (header, partitions) = topic_header(shard, stream, topic);
    responses::TopicDetails { topic: header, partitions }.encode(&mut reply.body);
    reply
}

fn find_stream<'a>(metadata: &'a Metadata, identifier: &Identifier) -> Option<&'a Stream> {
    metadata.stream(&reference(identifier)).ok()
}

fn get_stream(shard: &Shard, body: &[u8]) -> Outcome {
    let request = decoded(StreamRef::decode(body))?;
    // A missing stream is an empty success body (trap 8).
    Ok(shard.with_metadata(|m| find_stream(m, &request.stream).map(|s| stream_details(shard, s)).unwrap_or_default()))
}

fn get_streams(shard: &Shard) -> Reply {
    shard.with_metadata(|m| {
        let mut reply = Reply::default();
        for stream in m.streams().values() {
            stream_header(shard, stream).encode(&mut reply.body);
        }
        reply
    })
}

async fn create_stream(shard: &Rc<Shard>, body: &[u8]) -> Outcome {
    let request = decoded(CreateStream::decode(body))?;
    if let Some((key, _)) = request.options.0.first() {
        tracing::debug!(%key, "stream option refused");
        return Err(ErrorCode::UnsupportedOptionKey.into());
    }
    let name = request.name.clone();
    shard.change_metadata(Command::CreateStream { name: request.name }).await.map_err(metadata_denied)?;
    shard.with_metadata(|m| m.stream_by_name(&name).map(|s| stream_details(shard, s))).ok_or(ErrorCode::Error.into())
}

async fn delete_stream(shard: &Rc<Shard>, body: &[u8]) -> Outcome {
    let request = decoded(StreamRef::decode(body))?;
    shard
        .change_metadata(Command::DeleteStream { stream: reference(&request.stream) })
        .await
        .map_err(metadata_denied)?;
    Ok(Reply::default())
}

fn get_topic(shard: &Shard, body: &[u8]) -> Outcome {
    let request = decoded(TopicRef::decode(body))?;
    Ok(shard.with_metadata(|m| {
        m.topic(&reference(&request.stream), &reference(&request.topic))
            .ok()
            .map(|topic| {
                let stream = find_stream(m, &request.stream).map_or(0, |s| s.id);
                topic_details(shard, stream, topic)
            })
            .unwrap_or_default()
    }))
}

fn get_topics(shard: &Shard, body: &[u8]) -> Outcome {
    let request = decoded(StreamRef::decode(body))?;
    Ok(shard.with_metadata(|m| {
        let Some(stream) = find_stream(m, &request.stream) else { return Reply::default() };
        let headers: Vec<_> = stream.topics.values().map(|t| topic_header(shard, stream.id, t).0).collect();
        let mut reply = Reply::default();
        responses::encode_topics(&headers, &mut reply.body);
        reply
    }))
}

/// Topic option keys SDK 0.11 may send (protocol.md §2.8); others are refused.
const TOPIC_OPTION_KEYS: [&str; 9] = [
    "compression_algorithm",
    "message_expiry",
    "max_topic_size",
    "segment_size",
    "durability",
    "consumer_offset_durability",
    "messages_required_to_save",
    "size_of_messages_required_to_save",
    "preallocate_segments",
];

async fn create_topic(shard: &Rc<Shard>, body: &[u8]) -> Outcome {
    let request = decoded(CreateTopic::decode(body))?;
    let mut options = Vec::with_capacity(request.options.len());
    for (key, value) in &request.options.0 {
        if !TOPIC_OPTION_KEYS.contains(&key.as_str()) {
            return Err(ErrorCode::UnsupportedOptionKey.into());
        }
        let Some(text) = value.as_str() else { return Err(ErrorCode::InvalidOptionValue.into()) };
        options.push((key.clone(), text.to_string()));
    }
    let number = |key: &str| request.options.get_str(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let compression = match request.options.get_str("compression_algorithm") {
        Some("gzip") => 2,
        _ => 1,
    };
    let command = Command::CreateTopic {
        stream: reference(&request.stream),
        name: request.name.clone(),
        partitions_count: request.partitions_count,
        message_expiry: number("message_expiry"),
        max_topic_size: number("max_topic_size"),
        compression,
        replication_factor: 1,
        options,
    };
    shard.change_metadata(command).await.map_err(metadata_denied)?;
    let stream = reference(&request.stream);
    shard
        .with_metadata(|m| {
            let stream_id = m.stream(&stream).ok()?.id;
            let topic = m.topic(&stream, &Ref::Name(request.name.clone())).ok()?;
            Some(topic_details(shard, stream_id, topic))
        })
        .ok_or(ErrorCode::Error.into())
}

async fn delete_topic(shard: &Rc<Shard>, body: &[u8]) -> Outcome {
    let request = decoded(TopicRef::decode(body))?;
    let command = Command::DeleteTopic { stream: reference(&request.stream), topic: reference(&request.topic) };
    shard.change_metadata(command).await.map_err(metadata_denied)?;
    Ok(Reply::default())
}

fn metadata_denied(failure: crate::messages::MetadataFailure) -> Denied {
    tracing::debug!(code = failure.code, reason = %failure.reason, "metadata change refused");
    Denied::Status(ErrorCode::from_u32(failure.code).unwrap_or(ErrorCode::Error))
}

/// Resolves stream and topic identifiers to ids and the topic's partition count.
fn resolve_topic(shard: &Shard, stream: &Identifier, topic: &Identifier) -> Result<(u32, u32, u32), Denied> {
    shard.with_metadata(|m| {
        let stream_ref = reference(stream);
        let stream_id = m.stream(&stream_ref).map_err(|e| denied_code(e.iggy_code()))?.id;
        let topic = m.topic(&stream_ref, &reference(topic)).map_err(|e| denied_code(e.iggy_code()))?;
        Ok((stream_id, topic.id, topic.partitions_count))
    })
}

fn denied_code(code: u32) -> Denied {
    Denied::Status(ErrorCode::from_u32(code).unwrap_or(ErrorCode::Error))
}

fn outcome_failure(outcome: PartitionOutcome) -> Denied {
    match outcome {
        PartitionOutcome::Failed { code, reason } => {
            tracing::debug!(code, %reason, "partition operation failed");
            denied_code(code)
        }
        other => {
            tracing::error!(?other, "unexpected partition outcome");
            Denied::Status(ErrorCode::Error)
        }
    }
}

async fn send_messages(shard: &Rc<Shard>, mut body: BytesMut) -> Outcome {
    let request = decoded(SendMessagesHeader::decode(&body))?;
    let (stream, topic, partitions) = resolve_topic(shard, &request.stream, &request.topic)?;
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
    let record = body.split_off(request.batch_start);
    let declared = whippet_protocol::batch::BatchHeader::read(&record).map(|h| h.message_count);
    if !declared.is_ok_and(|count| count == request.messages_count) {
        return Err(ErrorCode::InvalidMessagesCount.into());
    }
    let key = PartitionKey { stream, topic, partition };
    match shard.on_partition(key, PartitionOp::Append(record)).await {
        PartitionOutcome::Appended(appended) => {
            let mut reply = Reply::default();
            reply.body.put_u32_le(1);
            reply.body.put_u32_le(stream);
            reply.body.put_u32_le(topic);
            reply.body.put_u32_le(partition);
            reply.body.put_u64_le(appended.base_offset);
            Ok(reply)
        }
        other => Err(outcome_failure(other)),
    }
}

/// The storage key of a consumer: a numeric id, or `xxh32(name)` for a named one (trap 21).
/// Groups are resolved against the topic's consumer groups.
fn consumer_key(shard: &Shard, consumer: &Consumer, stream: u32, topic: u32) -> Result<ConsumerKey, Denied> {
    match consumer.kind {
        ConsumerKind::Consumer => Ok(ConsumerKey::Consumer(match &consumer.id {
            Identifier::Numeric(id) => *id,
            Identifier::Name(name) => xxhash_rust::xxh32::xxh32(name.as_bytes(), 0),
        })),
        ConsumerKind::Group => shard.with_metadata(|m| {
            let topic = m.streams().get(&stream).and_then(|s| s.topics.get(&topic));
            let group = topic.and_then(|t| match &consumer.id {
                Identifier::Numeric(id) => t.consumer_groups.get(id).map(|g| g.id),
                Identifier::Name(name) => t.consumer_groups.values().find(|g| &g.name == name).map(|g| g.id),
            });
            group.map(ConsumerKey::Group).ok_or(Denied::Status(ErrorCode::ConsumerGroupIdNotFound))
        }),
    }
}

/// The partition a consumer request names (partition 0 when it names none) and the
/// consumer's storage key.
fn consumer_partition(
    shard: &Shard,
    consumer: &Consumer,
    stream: &Identifier,
    topic: &Identifier,
    partition_id: Option<u32>,
) -> Result<(PartitionKey, ConsumerKey), Denied> {
    let (stream, topic, partitions) = resolve_topic(shard, stream, topic)?;
    let partition = partition_id.unwrap_or(0);
    if partition >= partitions {
        return Err(ErrorCode::PartitionNotFound.into());
    }
    let key = consumer_key(shard, consumer, stream, topic)?;
    Ok((PartitionKey { stream, topic, partition }, key))
}

async fn poll_messages(shard: &Rc<Shard>, body: &[u8]) -> Outcome {
    let request = decoded(PollMessages::decode(body))?;
    let (partition_key, key) =
        consumer_partition(shard, &request.consumer, &request.stream, &request.topic, request.partition_id)?;
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
            reply.records = polled.chunks;
            Ok(reply)
        }
        other => Err(outcome_failure(other)),
    }
}

async fn store_offset(shard: &Rc<Shard>, body: &[u8]) -> Outcome {
    let request = decoded(StoreConsumerOffset::decode(body))?;
    let (partition_key, key) =
        consumer_partition(shard, &request.consumer, &request.stream, &request.topic, request.partition_id)?;
    let op = PartitionOp::StoreOffset { key, offset: request.offset };
    match shard.on_partition(partition_key, op).await {
        PartitionOutcome::Done => Ok(Reply::default()),
        other => Err(outcome_failure(other)),
    }
}

async fn get_offset(shard: &Rc<Shard>, body: &[u8]) -> Outcome {
    let request = decoded(GetConsumerOffset::decode(body))?;
    let (partition_key, key) =
        consumer_partition(shard, &request.consumer, &request.stream, &request.topic, request.partition_id)?;
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

async fn delete_offset(shard: &Rc<Shard>, body: &[u8]) -> Outcome {
    let request = decoded(DeleteConsumerOffset::decode(body))?;
    let (partition_key, key) =
        consumer_partition(shard, &request.consumer, &request.stream, &request.topic, request.partition_id)?;
    match shard.on_partition(partition_key, PartitionOp::DeleteOffset { key }).await {
        PartitionOutcome::Done => Ok(Reply::default()),
        other => Err(outcome_failure(other)),
    }
}
