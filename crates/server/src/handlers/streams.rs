//! Streams, topics, partitions and segments.

use crate::topic_options::{parse_human_size, untyped};
use std::rc::Rc;
use std::sync::atomic::Ordering;

use futures_util::future::join_all;
use whippet_metadata::{Command, Ref, Stream, Topic};
use whippet_protocol::legacy;
use whippet_protocol::permissions::Action;
use whippet_protocol::requests::{CreateStream, CreateTopic, StreamRef, TopicRef, UpdateStream};
use whippet_protocol::responses;
use whippet_protocol::status::ErrorCode;
use whippet_protocol::system::{DeleteSegments, KIND_BOOL, KIND_UINT32, KIND_UINT64, PartitionsChange, UpdateTopic};
use whippet_protocol::types::{OptionValue, Options};

use super::{authorize, decoded, find_stream, metadata_denied, outcome_failure, resolve_stream, resolve_topic};
use crate::connection::{Denied, Outcome, Reply, Session};
use crate::messages::{PartitionKey, PartitionOp, PartitionOutcome};
use crate::shard::Shard;

/// Size and message count of a topic, from its partitions' counters.
pub(crate) fn topic_figures(shard: &Shard, stream: u32, topic: &Topic) -> (u64, u64, Vec<responses::PartitionInfo>) {
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
        let count = next - first.min(next);
        messages += count;
        partitions.push(responses::PartitionInfo {
            id: partition,
            created_at: topic.created_at,
            segments_count: segments as u32,
            current_offset: next.saturating_sub(1),
            size_bytes: bytes,
            messages_count: count,
        });
    }
    (size, messages, partitions)
}

fn topic_header(shard: &Shard, stream: u32, topic: &Topic) -> (responses::TopicInfo, Vec<responses::PartitionInfo>) {
    let (size_bytes, messages_count, partitions) = topic_figures(shard, stream, topic);
    let options = Options(topic.options.iter().map(|(k, v)| (k.clone(), option_to_wire(v))).collect());
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

fn stream_details(shard: &Shard, session: &Session, stream: &Stream) -> Reply {
    let mut reply = Reply::default();
    let header = stream_header(shard, stream);
    let topics: Vec<_> = stream.topics.values().map(|topic| (topic_header(shard, stream.id, topic).0, topic)).collect();
    if session.is_legacy() {
        legacy::responses::encode_stream_header(&header, &mut reply.body);
        for (info, _) in &topics {
            legacy::responses::encode_topic_header(info, &mut reply.body);
        }
    } else {
        let topics = topics.into_iter().map(|(info, _)| info).collect();
        responses::StreamDetails { stream: header, topics }.encode(&mut reply.body);
    }
    reply
}

fn topic_details(shard: &Shard, session: &Session, stream: u32, topic: &Topic) -> Reply {
    let mut reply = Reply::default();
    let (header, partitions) = topic_header(shard, stream, topic);
    if session.is_legacy() {
        legacy::responses::encode_topic_header(&header, &mut reply.body);
        for partition in &partitions {
            partition.encode(&mut reply.body);
        }
    } else {
        responses::TopicDetails { topic: header, partitions }.encode(&mut reply.body);
    }
    reply
}

pub fn get_stream(shard: &Shard, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(StreamRef::decode(body))?;
    let Some(stream_id) = shard.with_metadata(|m| find_stream(m, &request.stream).map(|s| s.id)) else {
        // A missing stream is an empty success body (trap 8).
        return Ok(Reply::default());
    };
    authorize(shard, session, Action::GetStream { stream: stream_id })?;
    Ok(shard
        .with_metadata(|m| m.stream_by_id(stream_id).map(|s| stream_details(shard, session, s)).unwrap_or_default()))
}

pub fn get_streams(shard: &Shard, session: &mut Session) -> Outcome {
    authorize(shard, session, Action::GetStreams)?;
    Ok(shard.with_metadata(|m| {
        let mut reply = Reply::default();
        for stream in m.streams().values() {
            let header = stream_header(shard, stream);
            if session.is_legacy() {
                legacy::responses::encode_stream_header(&header, &mut reply.body);
            } else {
                header.encode(&mut reply.body);
            }
        }
        reply
    }))
}

pub async fn create_stream(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let name = if session.is_legacy() {
        decoded(legacy::requests::decode_create_stream(body))?.name
    } else {
        let request = decoded(CreateStream::decode(body))?;
        if let Some((key, _)) = request.options.0.first() {
            tracing::debug!(%key, "stream option refused");
            return Err(ErrorCode::UnsupportedOptionKey.into());
        }
        request.name
    };
    authorize(shard, session, Action::CreateStream)?;
    shard.change_metadata(Command::CreateStream { name: name.clone() }).await.map_err(metadata_denied)?;
    shard
        .with_metadata(|m| m.stream_by_name(&name).map(|s| stream_details(shard, session, s)))
        .ok_or(ErrorCode::Error.into())
}

pub async fn delete_stream(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(StreamRef::decode(body))?;
    let stream = resolve_stream(shard, &request.stream)?;
    authorize(shard, session, Action::DeleteStream { stream })?;
    shard.change_metadata(Command::DeleteStream { stream: Ref::Id(stream) }).await.map_err(metadata_denied)?;
    Ok(Reply::default())
}

pub async fn update_stream(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = if session.is_legacy() {
        decoded(legacy::requests::decode_update_stream(body))?
    } else {
        decoded(UpdateStream::decode(body))?
    };
    if !request.options.is_empty() {
        return Err(ErrorCode::UnsupportedOptionKey.into());
    }
    let stream = resolve_stream(shard, &request.stream)?;
    authorize(shard, session, Action::UpdateStream { stream })?;
    let command = Command::UpdateStream { stream: Ref::Id(stream), name: request.name };
    shard.change_metadata(command).await.map_err(metadata_denied)?;
    Ok(Reply::default())
}

/// Runs `op` on every partition of the listed topics, on their owners, all at once.
async fn on_partitions(
    shard: &Rc<Shard>,
    partitions: Vec<PartitionKey>,
    op: impl Fn() -> PartitionOp,
) -> Result<(), Denied> {
    let outcomes = join_all(partitions.into_iter().map(|key| shard.on_partition(key, op()))).await;
    for outcome in outcomes {
        match outcome {
            PartitionOutcome::Done => {}
            other => return Err(outcome_failure(other)),
        }
    }
    Ok(())
}

fn partitions_of(shard: &Shard, stream: u32, topic: Option<u32>) -> Vec<PartitionKey> {
    shard.with_metadata(|m| {
        let Some(s) = m.stream_by_id(stream) else { return Vec::new() };
        s.topics
            .values()
            .filter(|t| topic.is_none_or(|id| id == t.id))
            .flat_map(|t| (0..t.partitions_count).map(move |partition| PartitionKey { stream, topic: t.id, partition }))
            .collect()
    })
}

pub async fn purge_stream(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(StreamRef::decode(body))?;
    let stream = resolve_stream(shard, &request.stream)?;
    authorize(shard, session, Action::PurgeStream { stream })?;
    on_partitions(shard, partitions_of(shard, stream, None), || PartitionOp::Purge).await?;
    Ok(Reply::default())
}

pub fn get_topic(shard: &Shard, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(TopicRef::decode(body))?;
    let Ok((stream, topic, _)) = resolve_topic(shard, &request.stream, &request.topic) else {
        return Ok(Reply::default());
    };
    authorize(shard, session, Action::GetTopic { stream, topic })?;
    Ok(shard.with_metadata(|m| {
        m.topic(&Ref::Id(stream), &Ref::Id(topic)).map(|t| topic_details(shard, session, stream, t)).unwrap_or_default()
    }))
}

pub fn get_topics(shard: &Shard, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(StreamRef::decode(body))?;
    let Ok(stream) = resolve_stream(shard, &request.stream) else { return Ok(Reply::default()) };
    authorize(shard, session, Action::GetTopics { stream })?;
    Ok(shard.with_metadata(|m| {
        let Some(stream) = m.stream_by_id(stream) else { return Reply::default() };
        let mut reply = Reply::default();
        let headers: Vec<_> = stream.topics.values().map(|t| (topic_header(shard, stream.id, t).0, t)).collect();
        if session.is_legacy() {
            for (info, _) in &headers {
                legacy::responses::encode_topic_header(info, &mut reply.body);
            }
        } else if !headers.is_empty() {
            let headers: Vec<_> = headers.into_iter().map(|(info, _)| info).collect();
            responses::encode_topics(&headers, &mut reply.body);
        }
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
/// The keys UPDATE_TOPIC may change.
const UPDATABLE_TOPIC_OPTION_KEYS: [&str; 3] = ["compression_algorithm", "message_expiry", "max_topic_size"];

/// The typed fields an options block sets: (compression, message_expiry, max_topic_size).
struct TopicFields {
    compression: Option<u8>,
    message_expiry: Option<u64>,
    max_topic_size: Option<u64>,
    options: Vec<(String, String)>,
}

fn topic_fields(options: &Options, allowed: &[&str]) -> Result<TopicFields, Denied> {
    let mut fields = TopicFields { compression: None, message_expiry: None, max_topic_size: None, options: Vec::new() };
    for (key, value) in &options.0 {
        if !allowed.contains(&key.as_str()) {
            return Err(ErrorCode::UnsupportedOptionKey.into());
        }
        let text = option_text(value).ok_or(Denied::Status(ErrorCode::InvalidOptionValue))?;
        let text = text.as_str();
        match key.as_str() {
            "compression_algorithm" => {
                fields.compression = Some(match untyped(text).to_ascii_lowercase().as_str() {
                    "none" => 1,
                    "gzip" => 2,
                    _ => return Err(ErrorCode::InvalidOptionValue.into()),
                })
            }
            "message_expiry" => fields.message_expiry = Some(parse_expiry(text)?),
            "max_topic_size" => fields.max_topic_size = Some(parse_size(text)?),
            "durability" | "segment_size" => {
                crate::topic_options::validate(key, text).map_err(|_| Denied::Status(ErrorCode::InvalidOptionValue))?
            }
            _ => {}
        }
        fields.options.push((key.clone(), text.to_string()));
    }
    Ok(fields)
}

/// The text form an option value is stored in: String values as they are, numbers in decimal
/// with a kind prefix (`u64:`, `u32:`), booleans as `bool:true`/`bool:false`, so the reply can
/// give every value back in the kind the client sent (SDK 0.11 sends sizes and expiries as
/// u64, compression and durability as strings).
fn option_text(value: &OptionValue) -> Option<String> {
    match (value.kind, value.bytes.as_slice()) {
        (KIND_UINT64, bytes) => Some(format!("u64:{}", u64::from_le_bytes(bytes.try_into().ok()?))),
        (KIND_UINT32, bytes) => Some(format!("u32:{}", u32::from_le_bytes(bytes.try_into().ok()?))),
        (KIND_BOOL, [byte]) => Some(format!("bool:{}", *byte != 0)),
        _ => value.as_str().map(str::to_string),
    }
}

fn option_to_wire(text: &str) -> OptionValue {
    let typed = |kind: u8, bytes: Vec<u8>| OptionValue { kind, bytes };
    if let Some(number) = text.strip_prefix("u64:").and_then(|n| n.parse::<u64>().ok()) {
        return typed(KIND_UINT64, number.to_le_bytes().to_vec());
    }
    if let Some(number) = text.strip_prefix("u32:").and_then(|n| n.parse::<u32>().ok()) {
        return typed(KIND_UINT32, number.to_le_bytes().to_vec());
    }
    match text {
        "bool:true" => typed(KIND_BOOL, vec![1]),
        "bool:false" => typed(KIND_BOOL, vec![0]),
        _ => OptionValue::string(text),
    }
}

/// µs; "0"/"server_default" = 0, "none"/"unlimited"/"never_expire" = never, a number of µs,
/// or a humantime duration ("1h", "7 days").
fn parse_expiry(text: &str) -> Result<u64, Denied> {
    match untyped(text).trim() {
        "0" | "server_default" | "default" => Ok(0),
        "none" | "never_expire" | "unlimited" => Ok(u64::MAX),
        other => other
            .parse::<u64>()
            .ok()
            .or_else(|| humantime::parse_duration(other).ok().map(|d| d.as_micros().min(u128::from(u64::MAX)) as u64))
            .ok_or(ErrorCode::InvalidOptionValue.into()),
    }
}

/// Bytes; "0"/"server_default" = 0, "unlimited" = `u64::MAX`, a number of bytes or "10 MB"/"1GiB".
fn parse_size(text: &str) -> Result<u64, Denied> {
    match untyped(text).trim() {
        "0" | "server_default" | "default" => Ok(0),
        "unlimited" | "none" => Ok(u64::MAX),
        other => {
            other.parse::<u64>().ok().or_else(|| parse_human_size(other)).ok_or(ErrorCode::InvalidOptionValue.into())
        }
    }
}

/// `server.max_partitions_per_topic`, checked against this shard's replica. Two creations
/// racing on one topic may pass it together; the metadata leader still holds Iggy's 1,000.
fn within_partition_limit(shard: &Shard, existing: u32, adding: u32) -> Result<(), Denied> {
    let limit = shard.shared.max_partitions_per_topic;
    if u64::from(existing) + u64::from(adding) > u64::from(limit) {
        tracing::debug!(existing, adding, limit, "refused: server.max_partitions_per_topic");
        return Err(ErrorCode::TooManyPartitions.into());
    }
    Ok(())
}

pub async fn create_topic(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let (stream_identifier, command_for) = if session.is_legacy() {
        let request = decoded(legacy::requests::CreateTopic::decode(body))?;
        let stream = request.stream.clone();
        let build = move |stream: u32| Command::CreateTopic {
            stream: Ref::Id(stream),
            name: request.name.clone(),
            partitions_count: request.partitions_count,
            message_expiry: request.settings.message_expiry,
            max_topic_size: request.settings.max_topic_size,
            compression: request.settings.compression_algorithm,
            replication_factor: request.settings.replication_factor.unwrap_or(1),
            options: Vec::new(),
        };
        (stream, Box::new(build) as Box<dyn Fn(u32) -> Command>)
    } else {
        let request = decoded(CreateTopic::decode(body))?;
        let fields = topic_fields(&request.options, &TOPIC_OPTION_KEYS)?;
        let stream = request.stream.clone();
        let build = move |stream: u32| Command::CreateTopic {
            stream: Ref::Id(stream),
            name: request.name.clone(),
            partitions_count: request.partitions_count,
            message_expiry: fields.message_expiry.unwrap_or(0),
            max_topic_size: fields.max_topic_size.unwrap_or(0),
            compression: fields.compression.unwrap_or(1),
            replication_factor: 1,
            options: fields.options.clone(),
        };
        (stream, Box::new(build) as Box<dyn Fn(u32) -> Command>)
    };
    let stream = resolve_stream(shard, &stream_identifier)?;
    authorize(shard, session, Action::CreateTopic { stream })?;
    let command = command_for(stream);
    let Command::CreateTopic { name, partitions_count, .. } = &command else { unreachable!("built above") };
    within_partition_limit(shard, 0, *partitions_count)?;
    let name = name.clone();
    shard.change_metadata(command).await.map_err(metadata_denied)?;
    shard
        .with_metadata(|m| {
            let topic = m.topic(&Ref::Id(stream), &Ref::Name(name.clone())).ok()?;
            Some(topic_details(shard, session, stream, topic))
        })
        .ok_or(ErrorCode::Error.into())
}

pub async fn update_topic(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let (stream, topic, command_for) = if session.is_legacy() {
        let request = decoded(legacy::requests::UpdateTopic::decode(body))?;
        let (stream, topic, _) = resolve_topic(shard, &request.stream, &request.topic)?;
        let command = Command::UpdateTopic {
            stream: Ref::Id(stream),
            topic: Ref::Id(topic),
            name: request.name,
            message_expiry: Some(request.settings.message_expiry),
            max_topic_size: Some(request.settings.max_topic_size),
            compression: Some(request.settings.compression_algorithm),
            replication_factor: request.settings.replication_factor,
            options: Vec::new(),
        };
        (stream, topic, command)
    } else {
        let request = decoded(UpdateTopic::decode(body))?;
        let (stream, topic, _) = resolve_topic(shard, &request.stream, &request.topic)?;
        let fields = topic_fields(&request.options, &UPDATABLE_TOPIC_OPTION_KEYS)?;
        let command = Command::UpdateTopic {
            stream: Ref::Id(stream),
            topic: Ref::Id(topic),
            name: request.name,
            message_expiry: fields.message_expiry,
            max_topic_size: fields.max_topic_size,
            compression: fields.compression,
            replication_factor: None,
            options: fields.options,
        };
        (stream, topic, command)
    };
    authorize(shard, session, Action::UpdateTopic { stream, topic })?;
    shard.change_metadata(command_for).await.map_err(metadata_denied)?;
    Ok(Reply::default())
}

pub async fn delete_topic(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(TopicRef::decode(body))?;
    let (stream, topic, _) = resolve_topic(shard, &request.stream, &request.topic)?;
    authorize(shard, session, Action::DeleteTopic { stream, topic })?;
    let command = Command::DeleteTopic { stream: Ref::Id(stream), topic: Ref::Id(topic) };
    shard.change_metadata(command).await.map_err(metadata_denied)?;
    Ok(Reply::default())
}

pub async fn purge_topic(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(TopicRef::decode(body))?;
    let (stream, topic, _) = resolve_topic(shard, &request.stream, &request.topic)?;
    authorize(shard, session, Action::PurgeTopic { stream, topic })?;
    on_partitions(shard, partitions_of(shard, stream, Some(topic)), || PartitionOp::Purge).await?;
    Ok(Reply::default())
}

pub async fn create_partitions(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(PartitionsChange::decode(body))?;
    let (stream, topic, _) = resolve_topic(shard, &request.stream, &request.topic)?;
    authorize(shard, session, Action::CreatePartitions { stream, topic })?;
    let existing = shard
        .with_metadata(|m| m.topic(&Ref::Id(stream), &Ref::Id(topic)).map(|t| t.partitions_count).unwrap_or_default());
    within_partition_limit(shard, existing, request.partitions_count)?;
    let command =
        Command::CreatePartitions { stream: Ref::Id(stream), topic: Ref::Id(topic), count: request.partitions_count };
    shard.change_metadata(command).await.map_err(metadata_denied)?;
    Ok(Reply::default())
}

pub async fn delete_partitions(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(PartitionsChange::decode(body))?;
    let (stream, topic, _) = resolve_topic(shard, &request.stream, &request.topic)?;
    authorize(shard, session, Action::DeletePartitions { stream, topic })?;
    let command =
        Command::DeletePartitions { stream: Ref::Id(stream), topic: Ref::Id(topic), count: request.partitions_count };
    shard.change_metadata(command).await.map_err(metadata_denied)?;
    Ok(Reply::default())
}

pub async fn delete_segments(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(DeleteSegments::decode(body))?;
    let (stream, topic, partitions) = resolve_topic(shard, &request.stream, &request.topic)?;
    authorize(shard, session, Action::DeleteSegments { stream, topic })?;
    if request.partition_id >= partitions {
        return Err(ErrorCode::PartitionNotFound.into());
    }
    let key = PartitionKey { stream, topic, partition: request.partition_id };
    match shard.on_partition(key, PartitionOp::DeleteSegments { count: request.segments_count }).await {
        PartitionOutcome::Done => Ok(Reply::default()),
        other => Err(outcome_failure(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_values_parse() {
        assert_eq!(parse_expiry("1h").ok(), Some(3_600_000_000));
        assert_eq!(parse_expiry("none").ok(), Some(u64::MAX));
        assert_eq!(parse_expiry("250").ok(), Some(250));
        assert!(parse_expiry("soon").is_err());
        assert_eq!(parse_size("10 MB").ok(), Some(10_000_000));
        assert_eq!(parse_size("1GiB").ok(), Some(1 << 30));
        assert_eq!(parse_size("unlimited").ok(), Some(u64::MAX));
        assert!(parse_size("big").is_err());
        let value = OptionValue { kind: KIND_UINT64, bytes: 3_600_000_000u64.to_le_bytes().to_vec() };
        let text = option_text(&value).unwrap();
        assert_eq!(parse_expiry(&text).ok(), Some(3_600_000_000));
        assert_eq!(option_to_wire(&text), value);
        assert_eq!(option_to_wire("replicated"), OptionValue::string("replicated"));
        let flag = OptionValue { kind: KIND_BOOL, bytes: vec![1] };
        assert_eq!(option_to_wire(&option_text(&flag).unwrap()), flag);
    }
}
