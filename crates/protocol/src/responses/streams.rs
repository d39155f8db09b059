//! Stream, topic and partition replies, V layouts (§7.1, §7.2).

use bytes::{BufMut, BytesMut};

use crate::types::Options;
use crate::wire::{DecodeError, Reader, put_name, put_u32_length};

/// Compression algorithm "none"; the SDK fails to decode anything but 1 or 2.
pub const COMPRESSION_NONE: u8 = 1;
pub const COMPRESSION_GZIP: u8 = 2;

/// StreamHeader (§7.1): `[id u32][created_at u64][topics_count u32][size_bytes u64]
/// [messages_count u64][Name][Opts32]`. Also the GET_STREAMS element and, with no topics,
/// the CREATE_STREAM reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub id: u32,
    /// Microseconds since the epoch.
    pub created_at: u64,
    pub topics_count: u32,
    pub size_bytes: u64,
    pub messages_count: u64,
    pub name: String,
    /// Streams have no option keys yet, so normally empty (`00000000` on the wire).
    pub options: Options,
}

impl StreamInfo {
    pub fn read(reader: &mut Reader<'_>) -> Result<StreamInfo, DecodeError> {
        Ok(StreamInfo {
            id: reader.u32()?,
            created_at: reader.u64()?,
            topics_count: reader.u32()?,
            size_bytes: reader.u64()?,
            messages_count: reader.u64()?,
            name: reader.name()?,
            options: Options::read_prefixed(reader)?,
        })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u32_le(self.id);
        buffer.put_u64_le(self.created_at);
        buffer.put_u32_le(self.topics_count);
        buffer.put_u64_le(self.size_bytes);
        buffer.put_u64_le(self.messages_count);
        put_name(buffer, &self.name);
        self.options.encode_prefixed(buffer);
    }
}

/// StreamDetails: the header, then exactly `topics_count` topic headers (GET_STREAM,
/// CREATE_STREAM with no topics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDetails {
    pub stream: StreamInfo,
    pub topics: Vec<TopicInfo>,
}

impl StreamDetails {
    pub fn decode(payload: &[u8]) -> Result<StreamDetails, DecodeError> {
        let mut reader = Reader::new(payload);
        let stream = StreamInfo::read(&mut reader)?;
        let mut topics = Vec::new();
        for _ in 0..stream.topics_count {
            topics.push(TopicInfo::read(&mut reader)?);
        }
        reader.finish()?;
        Ok(StreamDetails { stream, topics })
    }

    /// Panics when `stream.topics_count` disagrees with `topics`: the V SDK reads exactly
    /// that many, so such a reply would be garbage to it.
    pub fn encode(&self, buffer: &mut BytesMut) {
        assert_eq!(self.stream.topics_count as usize, self.topics.len(), "topics_count must match the topics sent");
        self.stream.encode(buffer);
        for topic in &self.topics {
            topic.encode(buffer);
        }
    }
}

/// Writes the GET_STREAMS reply: stream headers back to back, no count (empty = none).
pub fn encode_streams(streams: &[StreamInfo], buffer: &mut BytesMut) {
    for stream in streams {
        stream.encode(buffer);
    }
}

/// Reads a GET_STREAMS reply until the body ends.
pub fn decode_streams(body: &[u8]) -> Result<Vec<StreamInfo>, DecodeError> {
    let mut reader = Reader::new(body);
    let mut streams = Vec::new();
    while reader.remaining() > 0 {
        streams.push(StreamInfo::read(&mut reader)?);
    }
    Ok(streams)
}

/// TopicHeader, V layout (§7.2). Also the GET_TOPICS element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub id: u32,
    pub created_at: u64,
    /// The V SDK resolves Balanced and MessagesKey partitioning from it, so it must be right.
    pub partitions_count: u32,
    /// µs; 0 = server default, `u64::MAX` = never (§2.10).
    pub message_expiry: u64,
    /// [`COMPRESSION_NONE`] or [`COMPRESSION_GZIP`].
    pub compression_algorithm: u8,
    /// 0 = server default, `u64::MAX` = unlimited.
    pub max_topic_size: u64,
    pub size_bytes: u64,
    pub messages_count: u64,
    pub name: String,
    /// Options the client set explicitly.
    pub options: Options,
    /// Server defaults filled in at creation.
    pub derived_options: Options,
}

impl TopicInfo {
    pub fn read(reader: &mut Reader<'_>) -> Result<TopicInfo, DecodeError> {
        let id = reader.u32()?;
        let created_at = reader.u64()?;
        let partitions_count = reader.u32()?;
        let message_expiry = reader.u64()?;
        let compression_algorithm = reader.u8()?;
        if !matches!(compression_algorithm, COMPRESSION_NONE | COMPRESSION_GZIP) {
            return Err(DecodeError::InvalidKind { what: "compression algorithm", value: compression_algorithm });
        }
        Ok(TopicInfo {
            id,
            created_at,
            partitions_count,
            message_expiry,
            compression_algorithm,
            max_topic_size: reader.u64()?,
            size_bytes: reader.u64()?,
            messages_count: reader.u64()?,
            name: reader.name()?,
            options: Options::read_prefixed(reader)?,
            derived_options: Options::read_prefixed(reader)?,
        })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u32_le(self.id);
        buffer.put_u64_le(self.created_at);
        buffer.put_u32_le(self.partitions_count);
        buffer.put_u64_le(self.message_expiry);
        buffer.put_u8(self.compression_algorithm);
        buffer.put_u64_le(self.max_topic_size);
        buffer.put_u64_le(self.size_bytes);
        buffer.put_u64_le(self.messages_count);
        put_name(buffer, &self.name);
        self.options.encode_prefixed(buffer);
        self.derived_options.encode_prefixed(buffer);
    }
}

/// PartitionInfo (§7.2), 40 bytes, identical in L and V.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionInfo {
    /// 0-based and contiguous (trap 9).
    pub id: u32,
    pub created_at: u64,
    pub segments_count: u32,
    /// Last written offset; 0 for an empty partition.
    pub current_offset: u64,
    pub size_bytes: u64,
    pub messages_count: u64,
}

impl PartitionInfo {
    pub fn read(reader: &mut Reader<'_>) -> Result<PartitionInfo, DecodeError> {
        Ok(PartitionInfo {
            id: reader.u32()?,
            created_at: reader.u64()?,
            segments_count: reader.u32()?,
            current_offset: reader.u64()?,
            size_bytes: reader.u64()?,
            messages_count: reader.u64()?,
        })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u32_le(self.id);
        buffer.put_u64_le(self.created_at);
        buffer.put_u32_le(self.segments_count);
        buffer.put_u64_le(self.current_offset);
        buffer.put_u64_le(self.size_bytes);
        buffer.put_u64_le(self.messages_count);
    }
}

/// TopicDetails: the header, then exactly `partitions_count` partitions (GET_TOPIC,
/// CREATE_TOPIC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDetails {
    pub topic: TopicInfo,
    pub partitions: Vec<PartitionInfo>,
}

impl TopicDetails {
    pub fn decode(payload: &[u8]) -> Result<TopicDetails, DecodeError> {
        let mut reader = Reader::new(payload);
        let topic = TopicInfo::read(&mut reader)?;
        let mut partitions = Vec::new();
        for _ in 0..topic.partitions_count {
            partitions.push(PartitionInfo::read(&mut reader)?);
        }
        reader.finish()?;
        Ok(TopicDetails { topic, partitions })
    }

    /// Panics when `topic.partitions_count` disagrees with `partitions` (see
    /// [`StreamDetails::encode`]).
    pub fn encode(&self, buffer: &mut BytesMut) {
        assert_eq!(
            self.topic.partitions_count as usize,
            self.partitions.len(),
            "partitions_count must match the partitions sent"
        );
        self.topic.encode(buffer);
        for partition in &self.partitions {
            partition.encode(buffer);
        }
    }
}

/// Writes the V GET_TOPICS reply: `[count u32]` then topic headers, the only list with a
/// count prefix. An empty reply (no such stream) is an empty body, not a zero count.
pub fn encode_topics(topics: &[TopicInfo], buffer: &mut BytesMut) {
    put_u32_length(buffer, topics.len());
    for topic in topics {
        topic.encode(buffer);
    }
}

/// Reads a V GET_TOPICS reply; an empty body reads as no topics.
pub fn decode_topics(body: &[u8]) -> Result<Vec<TopicInfo>, DecodeError> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let mut reader = Reader::new(body);
    let count = reader.u32()?;
    let mut topics = Vec::new();
    for _ in 0..count {
        topics.push(TopicInfo::read(&mut reader)?);
    }
    reader.finish()?;
    Ok(topics)
}
