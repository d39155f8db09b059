//! Request bodies whose legacy form differs from 0.11 (protocol.md §5.3, §5.4, §5.7, §10.2).
//!
//! Where the 0.11 struct can hold the legacy request (streams, offsets), the decoders return
//! it, with no options and no ack, so the server has one handler per command. The topic
//! requests carry fixed fields instead of options and get their own structs. Like the 0.11
//! decoders, these refuse trailing bytes.
//!
//! Verified against iggy_common's `commands/{streams,topics}` of the 0.10 line: CreateStream
//! is the name alone (no stream id: that went away before 0.10), CreateTopic has no topic id.

use bytes::{BufMut, BytesMut};

use crate::requests::{CreateStream, DeleteConsumerOffset, StoreConsumerOffset, UpdateStream};
use crate::responses::{COMPRESSION_GZIP, COMPRESSION_NONE};
use crate::types::{Identifier, Options};
use crate::wire::{DecodeError, Reader, put_name};

/// CREATE_STREAM (202), L: `Name`.
pub fn decode_create_stream(payload: &[u8]) -> Result<CreateStream, DecodeError> {
    let mut reader = Reader::new(payload);
    let name = reader.name()?;
    reader.finish()?;
    Ok(CreateStream { name, options: Options::new() })
}

/// Writes CREATE_STREAM (202), L. The legacy form has no options; any are dropped.
pub fn encode_create_stream(request: &CreateStream, buffer: &mut BytesMut) {
    put_name(buffer, &request.name);
}

/// UPDATE_STREAM (204), L: `Id stream, Name`.
pub fn decode_update_stream(payload: &[u8]) -> Result<UpdateStream, DecodeError> {
    let mut reader = Reader::new(payload);
    let stream = Identifier::read(&mut reader)?;
    let name = reader.name()?;
    reader.finish()?;
    Ok(UpdateStream { stream, name, options: Options::new() })
}

/// Writes UPDATE_STREAM (204), L; options are dropped.
pub fn encode_update_stream(request: &UpdateStream, buffer: &mut BytesMut) {
    request.stream.encode(buffer);
    put_name(buffer, &request.name);
}

/// The fixed topic settings the legacy topic requests carry where 0.11 has options:
/// `[compression u8][message_expiry u64][max_topic_size u64][replication_factor u8]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSettings {
    /// 1 none, 2 gzip; anything else is refused, as the SDK's `CompressionAlgorithm` does.
    pub compression_algorithm: u8,
    /// µs; 0 = server default, `u64::MAX` = never (§2.10).
    pub message_expiry: u64,
    /// 0 = server default, `u64::MAX` = unlimited.
    pub max_topic_size: u64,
    /// SDK 0.10 sends 0 for "not set"; server 0.8 stores 1 then. Meaningless on one node.
    pub replication_factor: Option<u8>,
}

impl TopicSettings {
    fn read(reader: &mut Reader<'_>) -> Result<TopicSettings, DecodeError> {
        let compression_algorithm = reader.u8()?;
        if !matches!(compression_algorithm, COMPRESSION_NONE | COMPRESSION_GZIP) {
            return Err(DecodeError::InvalidKind { what: "compression algorithm", value: compression_algorithm });
        }
        Ok(TopicSettings {
            compression_algorithm,
            message_expiry: reader.u64()?,
            max_topic_size: reader.u64()?,
            replication_factor: Some(reader.u8()?).filter(|&factor| factor != 0),
        })
    }

    fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u8(self.compression_algorithm);
        buffer.put_u64_le(self.message_expiry);
        buffer.put_u64_le(self.max_topic_size);
        buffer.put_u8(self.replication_factor.unwrap_or(0));
    }
}

/// CREATE_TOPIC (302), L: `Id stream, [partitions_count u32], TopicSettings, Name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopic {
    pub stream: Identifier,
    pub partitions_count: u32,
    pub settings: TopicSettings,
    pub name: String,
}

impl CreateTopic {
    pub fn decode(payload: &[u8]) -> Result<CreateTopic, DecodeError> {
        let mut reader = Reader::new(payload);
        let stream = Identifier::read(&mut reader)?;
        let partitions_count = reader.u32()?;
        let settings = TopicSettings::read(&mut reader)?;
        let name = reader.name()?;
        reader.finish()?;
        Ok(CreateTopic { stream, partitions_count, settings, name })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.stream.encode(buffer);
        buffer.put_u32_le(self.partitions_count);
        self.settings.encode(buffer);
        put_name(buffer, &self.name);
    }
}

/// UPDATE_TOPIC (304), L: `Id stream, Id topic, TopicSettings, Name`. Every setting is
/// replaced (the legacy form cannot leave one unchanged, unlike 0.11's options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateTopic {
    pub stream: Identifier,
    pub topic: Identifier,
    pub settings: TopicSettings,
    pub name: String,
}

impl UpdateTopic {
    pub fn decode(payload: &[u8]) -> Result<UpdateTopic, DecodeError> {
        let mut reader = Reader::new(payload);
        let stream = Identifier::read(&mut reader)?;
        let topic = Identifier::read(&mut reader)?;
        let settings = TopicSettings::read(&mut reader)?;
        let name = reader.name()?;
        reader.finish()?;
        Ok(UpdateTopic { stream, topic, settings, name })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.stream.encode(buffer);
        self.topic.encode(buffer);
        self.settings.encode(buffer);
        put_name(buffer, &self.name);
    }
}

/// STORE_CONSUMER_OFFSET (121), L: `Consumer, Id stream, Id topic, OptP, [offset u64]`, no
/// ack byte. [`StoreConsumerOffset::decode`] takes both forms; this one refuses the V byte,
/// so a legacy connection cannot send a V body. Encode with `ack: None`.
pub fn decode_store_consumer_offset(payload: &[u8]) -> Result<StoreConsumerOffset, DecodeError> {
    let request = StoreConsumerOffset::decode(payload)?;
    match request.ack {
        None => Ok(request),
        Some(_) => Err(DecodeError::TrailingBytes { count: 1 }),
    }
}

/// DELETE_CONSUMER_OFFSET (122), L: `Consumer, Id stream, Id topic, OptP`, no ack byte.
pub fn decode_delete_consumer_offset(payload: &[u8]) -> Result<DeleteConsumerOffset, DecodeError> {
    let request = DeleteConsumerOffset::decode(payload)?;
    match request.ack {
        None => Ok(request),
        Some(_) => Err(DecodeError::TrailingBytes { count: 1 }),
    }
}

#[cfg(test)]
mod tests;
