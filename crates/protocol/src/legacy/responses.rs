//! Reply objects whose legacy layout differs from 0.11 (protocol.md §7.1, §7.2, §5.2).
//!
//! The same field structs as the V replies ([`StreamInfo`], [`TopicInfo`],
//! [`PartitionInfo`]), written without option blocks, with the topic's replication factor
//! at offset 33, and with lists decoded to the end of the body as SDK 0.10's mapper does
//! (`binary_protocol/src/utils/mapper.rs`: `map_stream`, `map_topic`, `map_topics`).

use bytes::{BufMut, BytesMut};

use crate::responses::{
    COMPRESSION_GZIP, COMPRESSION_NONE, PartitionInfo, StreamDetails, StreamInfo, TopicDetails, TopicInfo,
};
use crate::types::Options;
use crate::wire::{DecodeError, Reader, put_name};

/// The replication factor every legacy topic header reports. Whippet runs on one node and
/// keeps no factor; server 0.8 stores 1 when the client leaves it unset, which SDK 0.10
/// always does, so 1 is what a legacy client saw there too.
pub const REPLICATION_FACTOR: u8 = 1;

/// StreamHeader, L: `[id u32][created_at u64][topics_count u32][size_bytes u64]
/// [messages_count u64][Name]`, no options. Also the CREATE_STREAM reply. The options of
/// `stream` are not written.
pub fn encode_stream_header(stream: &StreamInfo, buffer: &mut BytesMut) {
    buffer.put_u32_le(stream.id);
    buffer.put_u64_le(stream.created_at);
    buffer.put_u32_le(stream.topics_count);
    buffer.put_u64_le(stream.size_bytes);
    buffer.put_u64_le(stream.messages_count);
    put_name(buffer, &stream.name);
}

/// Reads a legacy StreamHeader; `options` comes back empty.
pub fn read_stream_header(reader: &mut Reader<'_>) -> Result<StreamInfo, DecodeError> {
    Ok(StreamInfo {
        id: reader.u32()?,
        created_at: reader.u64()?,
        topics_count: reader.u32()?,
        size_bytes: reader.u64()?,
        messages_count: reader.u64()?,
        name: reader.name()?,
        options: Options::new(),
    })
}

/// StreamDetails, L (GET_STREAM): the header, then the topic headers to the end of the body.
/// Panics when `topics_count` disagrees with the topics sent, as the V encoder does.
pub fn encode_stream_details(details: &StreamDetails, buffer: &mut BytesMut) {
    assert_eq!(details.stream.topics_count as usize, details.topics.len(), "topics_count must match the topics sent");
    encode_stream_header(&details.stream, buffer);
    for topic in &details.topics {
        encode_topic_header(topic, buffer);
    }
}

/// Reads StreamDetails, L. The topics run to the end of the body; a count that disagrees
/// with `topics_count` is refused, since our server never sends one.
pub fn decode_stream_details(payload: &[u8]) -> Result<StreamDetails, DecodeError> {
    let mut reader = Reader::new(payload);
    let stream = read_stream_header(&mut reader)?;
    let mut topics = Vec::new();
    while reader.remaining() > 0 {
        topics.push(read_topic_header(&mut reader)?);
    }
    check_count("topics_count", stream.topics_count, topics.len())?;
    Ok(StreamDetails { stream, topics })
}

/// GET_STREAMS, L: stream headers back to back, no count; empty = none.
pub fn encode_streams(streams: &[StreamInfo], buffer: &mut BytesMut) {
    for stream in streams {
        encode_stream_header(stream, buffer);
    }
}

pub fn decode_streams(body: &[u8]) -> Result<Vec<StreamInfo>, DecodeError> {
    let mut reader = Reader::new(body);
    let mut streams = Vec::new();
    while reader.remaining() > 0 {
        streams.push(read_stream_header(&mut reader)?);
    }
    Ok(streams)
}

/// TopicHeader, L: `[id u32][created_at u64][partitions_count u32][message_expiry u64]
/// [compression u8][max_topic_size u64][replication_factor u8 = 1][size_bytes u64]
/// [messages_count u64][Name]` (replication factor at 33, name at 50), no option blocks.
pub fn encode_topic_header(topic: &TopicInfo, buffer: &mut BytesMut) {
    buffer.put_u32_le(topic.id);
    buffer.put_u64_le(topic.created_at);
    buffer.put_u32_le(topic.partitions_count);
    buffer.put_u64_le(topic.message_expiry);
    buffer.put_u8(topic.compression_algorithm);
    buffer.put_u64_le(topic.max_topic_size);
    buffer.put_u8(REPLICATION_FACTOR);
    buffer.put_u64_le(topic.size_bytes);
    buffer.put_u64_le(topic.messages_count);
    put_name(buffer, &topic.name);
}

/// Reads a legacy TopicHeader. The replication factor is read and dropped (the model has
/// none); both option blocks come back empty.
pub fn read_topic_header(reader: &mut Reader<'_>) -> Result<TopicInfo, DecodeError> {
    let id = reader.u32()?;
    let created_at = reader.u64()?;
    let partitions_count = reader.u32()?;
    let message_expiry = reader.u64()?;
    let compression_algorithm = reader.u8()?;
    if !matches!(compression_algorithm, COMPRESSION_NONE | COMPRESSION_GZIP) {
        return Err(DecodeError::InvalidKind { what: "compression algorithm", value: compression_algorithm });
    }
    let max_topic_size = reader.u64()?;
    let _replication_factor = reader.u8()?;
    Ok(TopicInfo {
        id,
        created_at,
        partitions_count,
        message_expiry,
        compression_algorithm,
        max_topic_size,
        size_bytes: reader.u64()?,
        messages_count: reader.u64()?,
        name: reader.name()?,
        options: Options::new(),
        derived_options: Options::new(),
    })
}

/// TopicDetails, L (GET_TOPIC, CREATE_TOPIC): the header, then the 40-byte partitions (same
/// as V) to the end of the body. Panics when `partitions_count` disagrees with them.
pub fn encode_topic_details(details: &TopicDetails, buffer: &mut BytesMut) {
    assert_eq!(
        details.topic.partitions_count as usize,
        details.partitions.len(),
        "partitions_count must match the partitions sent"
    );
    encode_topic_header(&details.topic, buffer);
    for partition in &details.partitions {
        partition.encode(buffer);
    }
}

/// Reads TopicDetails, L; refuses a partition count that disagrees with the header.
pub fn decode_topic_details(payload: &[u8]) -> Result<TopicDetails, DecodeError> {
    let mut reader = Reader::new(payload);
    let topic = read_topic_header(&mut reader)?;
    let mut partitions = Vec::new();
    while reader.remaining() > 0 {
        partitions.push(PartitionInfo::read(&mut reader)?);
    }
    check_count("partitions_count", topic.partitions_count, partitions.len())?;
    Ok(TopicDetails { topic, partitions })
}

/// GET_TOPICS, L: topic headers back to back with **no** count prefix (V has one); empty =
/// none or no such stream.
pub fn encode_topics(topics: &[TopicInfo], buffer: &mut BytesMut) {
    for topic in topics {
        encode_topic_header(topic, buffer);
    }
}

pub fn decode_topics(body: &[u8]) -> Result<Vec<TopicInfo>, DecodeError> {
    let mut reader = Reader::new(body);
    let mut topics = Vec::new();
    while reader.remaining() > 0 {
        topics.push(read_topic_header(&mut reader)?);
    }
    Ok(topics)
}

/// LOGIN_USER (38) and LOGIN_WITH_PERSONAL_ACCESS_TOKEN (44) reply: `[user_id u32]`.
pub fn encode_login_reply(user_id: u32, buffer: &mut BytesMut) {
    buffer.put_u32_le(user_id);
}

pub fn decode_login_reply(payload: &[u8]) -> Result<u32, DecodeError> {
    let mut reader = Reader::new(payload);
    let user_id = reader.u32()?;
    reader.finish()?;
    Ok(user_id)
}

fn check_count(what: &'static str, declared: u32, found: usize) -> Result<(), DecodeError> {
    if declared as usize != found {
        return Err(DecodeError::InvalidLength { what, value: found as u64 });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
