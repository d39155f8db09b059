//! System and admin payloads (protocol.md §5.1, §5.4–§5.6, §7.9): stats, GET_CLIENT,
//! DESCRIBE_OPTIONS with the topic option catalog, and the partition, segment, flush and V
//! UpdateTopic requests.
//!
//! The GET_CLIENTS reply lives with the other client replies: [`encode_clients`] and
//! [`decode_clients`] are re-exported here from [`crate::responses`].

use bytes::{BufMut, BytesMut};

use crate::types::{Identifier, Options};
use crate::wire::{DecodeError, Reader, put_long_text, put_name, put_u32_length};

pub use crate::responses::{ClientDetails, ClientInfo, decode_clients, encode_clients};

/// One partition's cache counters in [`Stats`]: 32 bytes,
/// `[stream_id u32][topic_id u32][partition_id u32][hits u64][misses u64][hit_ratio f32]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CacheMetric {
    pub stream_id: u32,
    pub topic_id: u32,
    pub partition_id: u32,
    pub hits: u64,
    pub misses: u64,
    pub hit_ratio: f32,
}

/// GET_STATS reply (§7.9), identical in L and V, field order of [P11]
/// `responses/system/get_stats.rs`: 108 bytes of numbers, five u32-prefixed strings, the
/// semver, the cache metrics (count-prefixed), then threads and disk space.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub process_id: u32,
    /// Percent.
    pub cpu_usage: f32,
    pub total_cpu_usage: f32,
    /// Bytes.
    pub memory_usage: u64,
    pub total_memory: u64,
    pub available_memory: u64,
    /// Microseconds.
    pub run_time: u64,
    /// Microseconds since the epoch.
    pub start_time: u64,
    pub read_bytes: u64,
    pub written_bytes: u64,
    pub messages_size_bytes: u64,
    pub streams_count: u32,
    pub topics_count: u32,
    pub partitions_count: u32,
    pub segments_count: u32,
    pub messages_count: u64,
    pub clients_count: u32,
    pub consumer_groups_count: u32,
    pub hostname: String,
    pub os_name: String,
    pub os_version: String,
    pub kernel_version: String,
    pub iggy_server_version: String,
    /// `major*1_000_000 + minor*1_000 + patch`; written as 0 when `None`, and 0 reads as
    /// `None`, as the SDK does (§2.10).
    pub iggy_server_semver: Option<u32>,
    pub cache_metrics: Vec<CacheMetric>,
    pub threads_count: u32,
    pub free_disk_space: u64,
    pub total_disk_space: u64,
}

impl Stats {
    pub fn decode(payload: &[u8]) -> Result<Stats, DecodeError> {
        let mut reader = Reader::new(payload);
        let stats = Stats {
            process_id: reader.u32()?,
            cpu_usage: read_f32(&mut reader)?,
            total_cpu_usage: read_f32(&mut reader)?,
            memory_usage: reader.u64()?,
            total_memory: reader.u64()?,
            available_memory: reader.u64()?,
            run_time: reader.u64()?,
            start_time: reader.u64()?,
            read_bytes: reader.u64()?,
            written_bytes: reader.u64()?,
            messages_size_bytes: reader.u64()?,
            streams_count: reader.u32()?,
            topics_count: reader.u32()?,
            partitions_count: reader.u32()?,
            segments_count: reader.u32()?,
            messages_count: reader.u64()?,
            clients_count: reader.u32()?,
            consumer_groups_count: reader.u32()?,
            hostname: reader.long_text()?,
            os_name: reader.long_text()?,
            os_version: reader.long_text()?,
            kernel_version: reader.long_text()?,
            iggy_server_version: reader.long_text()?,
            iggy_server_semver: Some(reader.u32()?).filter(|&semver| semver != 0),
            cache_metrics: read_cache_metrics(&mut reader)?,
            threads_count: reader.u32()?,
            free_disk_space: reader.u64()?,
            total_disk_space: reader.u64()?,
        };
        reader.finish()?;
        Ok(stats)
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u32_le(self.process_id);
        buffer.put_f32_le(self.cpu_usage);
        buffer.put_f32_le(self.total_cpu_usage);
        for value in [
            self.memory_usage,
            self.total_memory,
            self.available_memory,
            self.run_time,
            self.start_time,
            self.read_bytes,
            self.written_bytes,
            self.messages_size_bytes,
        ] {
            buffer.put_u64_le(value);
        }
        for value in [self.streams_count, self.topics_count, self.partitions_count, self.segments_count] {
            buffer.put_u32_le(value);
        }
        buffer.put_u64_le(self.messages_count);
        buffer.put_u32_le(self.clients_count);
        buffer.put_u32_le(self.consumer_groups_count);
        for text in [&self.hostname, &self.os_name, &self.os_version, &self.kernel_version, &self.iggy_server_version] {
            put_long_text(buffer, text);
        }
        buffer.put_u32_le(self.iggy_server_semver.unwrap_or(0));
        put_u32_length(buffer, self.cache_metrics.len());
        for metric in &self.cache_metrics {
            buffer.put_u32_le(metric.stream_id);
            buffer.put_u32_le(metric.topic_id);
            buffer.put_u32_le(metric.partition_id);
            buffer.put_u64_le(metric.hits);
            buffer.put_u64_le(metric.misses);
            buffer.put_f32_le(metric.hit_ratio);
        }
        buffer.put_u32_le(self.threads_count);
        buffer.put_u64_le(self.free_disk_space);
        buffer.put_u64_le(self.total_disk_space);
    }
}

const CACHE_METRIC_SIZE: usize = 32;

fn read_cache_metrics(reader: &mut Reader<'_>) -> Result<Vec<CacheMetric>, DecodeError> {
    let count = reader.u32()? as usize;
    // Checked against the bytes left before anything is allocated for the untrusted count.
    let mut entries = Reader::new(reader.bytes(count.saturating_mul(CACHE_METRIC_SIZE))?);
    let mut metrics = Vec::with_capacity(count);
    for _ in 0..count {
        metrics.push(CacheMetric {
            stream_id: entries.u32()?,
            topic_id: entries.u32()?,
            partition_id: entries.u32()?,
            hits: entries.u64()?,
            misses: entries.u64()?,
            hit_ratio: read_f32(&mut entries)?,
        });
    }
    Ok(metrics)
}

fn read_f32(reader: &mut Reader<'_>) -> Result<f32, DecodeError> {
    Ok(f32::from_le_bytes(reader.array()?))
}

/// GET_CLIENT (21): `[client_id u32]`. The reply is a [`ClientDetails`] or empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetClient {
    pub client_id: u32,
}

impl GetClient {
    pub fn decode(payload: &[u8]) -> Result<GetClient, DecodeError> {
        let mut reader = Reader::new(payload);
        let client_id = reader.u32()?;
        reader.finish()?;
        Ok(GetClient { client_id })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u32_le(self.client_id);
    }
}

/// Which catalog DESCRIBE_OPTIONS asks for.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptionsScope {
    Topic = 1,
    Stream = 2,
    User = 3,
}

/// DESCRIBE_OPTIONS (13, V only): `[scope u8]`. Scopes outside 1..=3 are refused, as [P11]
/// `requests/system/describe_options.rs` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescribeOptions {
    pub scope: OptionsScope,
}

impl DescribeOptions {
    pub fn decode(payload: &[u8]) -> Result<DescribeOptions, DecodeError> {
        let mut reader = Reader::new(payload);
        let scope = match reader.u8()? {
            1 => OptionsScope::Topic,
            2 => OptionsScope::Stream,
            3 => OptionsScope::User,
            value => return Err(DecodeError::InvalidKind { what: "options scope", value }),
        };
        reader.finish()?;
        Ok(DescribeOptions { scope })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u8(self.scope as u8);
    }
}

/// One DESCRIBE_OPTIONS entry: `[Name key][kind u8][default_len u32][default][desc_len u32]
/// [description]` ([P11] `responses/system/describe_options.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionDescriptor {
    pub key: String,
    /// The key's canonical value kind (the user-header kind codes, §2.7): what its default is
    /// encoded in and what a value set at creation is stored as.
    pub kind: u8,
    /// The default in `kind`'s encoding; empty when the key has none.
    pub default_value: Vec<u8>,
    pub description: String,
}

impl OptionDescriptor {
    /// Reads one entry. The description is decoded lossily, like the SDK, since it is only
    /// shown to people.
    pub fn read(reader: &mut Reader<'_>) -> Result<OptionDescriptor, DecodeError> {
        let key = reader.name()?;
        let kind = reader.u8()?;
        let default_length = reader.u32()? as usize;
        let default_value = reader.bytes(default_length)?.to_vec();
        let description_length = reader.u32()? as usize;
        let description = String::from_utf8_lossy(reader.bytes(description_length)?).into_owned();
        Ok(OptionDescriptor { key, kind, default_value, description })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        put_name(buffer, &self.key);
        buffer.put_u8(self.kind);
        put_u32_length(buffer, self.default_value.len());
        buffer.put_slice(&self.default_value);
        put_long_text(buffer, &self.description);
    }
}

/// Writes the DESCRIBE_OPTIONS reply: `[count u32]` then the entries.
pub fn encode_option_descriptors(entries: &[OptionDescriptor], buffer: &mut BytesMut) {
    put_u32_length(buffer, entries.len());
    for entry in entries {
        entry.encode(buffer);
    }
}

/// Reads a DESCRIBE_OPTIONS reply; exactly `count` entries must fill the body.
pub fn decode_option_descriptors(body: &[u8]) -> Result<Vec<OptionDescriptor>, DecodeError> {
    let mut reader = Reader::new(body);
    let count = reader.u32()?;
    // The count is untrusted: grow as entries actually decode instead of reserving it.
    let mut entries = Vec::new();
    for _ in 0..count {
        entries.push(OptionDescriptor::read(&mut reader)?);
    }
    reader.finish()?;
    Ok(entries)
}

mod catalog;

pub use catalog::{
    KIND_BOOL, KIND_UINT32, KIND_UINT64, UPDATABLE_TOPIC_OPTION_KEYS, option_catalog, topic_option_catalog,
};

/// CREATE_PARTITIONS (402) and DELETE_PARTITIONS (403): `Id stream, Id topic,
/// [partitions_count u32]`, the number to add, or to remove from the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionsChange {
    pub stream: Identifier,
    pub topic: Identifier,
    pub partitions_count: u32,
}

impl PartitionsChange {
    pub fn decode(payload: &[u8]) -> Result<PartitionsChange, DecodeError> {
        let mut reader = Reader::new(payload);
        let stream = Identifier::read(&mut reader)?;
        let topic = Identifier::read(&mut reader)?;
        let partitions_count = reader.u32()?;
        reader.finish()?;
        Ok(PartitionsChange { stream, topic, partitions_count })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.stream.encode(buffer);
        self.topic.encode(buffer);
        buffer.put_u32_le(self.partitions_count);
    }
}

/// DELETE_SEGMENTS (503): `Id stream, Id topic, [partition_id u32][segments_count u32]`, the
/// oldest `segments_count` segments. In V its reply is not result-framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteSegments {
    pub stream: Identifier,
    pub topic: Identifier,
    pub partition_id: u32,
    pub segments_count: u32,
}

impl DeleteSegments {
    pub fn decode(payload: &[u8]) -> Result<DeleteSegments, DecodeError> {
        let mut reader = Reader::new(payload);
        let stream = Identifier::read(&mut reader)?;
        let topic = Identifier::read(&mut reader)?;
        let partition_id = reader.u32()?;
        let segments_count = reader.u32()?;
        reader.finish()?;
        Ok(DeleteSegments { stream, topic, partition_id, segments_count })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.stream.encode(buffer);
        self.topic.encode(buffer);
        buffer.put_u32_le(self.partition_id);
        buffer.put_u32_le(self.segments_count);
    }
}

/// FLUSH_UNSAVED_BUFFER (102): `Id stream, Id topic, [partition_id u32][fsync u8]`; any
/// non-zero fsync byte means true, as in [P11] `flush_unsaved_buffer.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushUnsavedBuffer {
    pub stream: Identifier,
    pub topic: Identifier,
    pub partition_id: u32,
    pub fsync: bool,
}

impl FlushUnsavedBuffer {
    pub fn decode(payload: &[u8]) -> Result<FlushUnsavedBuffer, DecodeError> {
        let mut reader = Reader::new(payload);
        let stream = Identifier::read(&mut reader)?;
        let topic = Identifier::read(&mut reader)?;
        let partition_id = reader.u32()?;
        let fsync = reader.u8()? != 0;
        reader.finish()?;
        Ok(FlushUnsavedBuffer { stream, topic, partition_id, fsync })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.stream.encode(buffer);
        self.topic.encode(buffer);
        buffer.put_u32_le(self.partition_id);
        buffer.put_u8(u8::from(self.fsync));
    }
}

/// UPDATE_TOPIC (304), V form: `Id stream, Id topic, Name, Opts`. Only the keys in
/// [`UPDATABLE_TOPIC_OPTION_KEYS`] may appear (the caller answers UnsupportedOptionKey 4041
/// for others); absent keys keep their value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateTopic {
    pub stream: Identifier,
    pub topic: Identifier,
    pub name: String,
    pub options: Options,
}

impl UpdateTopic {
    pub fn decode(payload: &[u8]) -> Result<UpdateTopic, DecodeError> {
        let mut reader = Reader::new(payload);
        let stream = Identifier::read(&mut reader)?;
        let topic = Identifier::read(&mut reader)?;
        let name = reader.name()?;
        let options = Options::decode(reader.rest())?;
        Ok(UpdateTopic { stream, topic, name, options })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.stream.encode(buffer);
        self.topic.encode(buffer);
        put_name(buffer, &self.name);
        self.options.encode(buffer);
    }
}

#[cfg(test)]
mod tests;

/// GET_SNAPSHOT_FILE (11): `[compression u8][types_count u8][type u8 × count]` (protocol.md
/// §5.1, §2.10). Compression 1 Stored, 2 Deflated, 3 Bzip2, 4 Zstd, 5 Lzma, 6 Xz; types 1
/// FilesystemOverview, 2 ProcessList, 3 ResourceUsage, 4 Test, 5 ServerLogs, 6 ServerConfig,
/// 100 All. Codes outside those are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetSnapshot {
    pub compression: u8,
    pub types: Vec<u8>,
}

/// Snapshot type codes.
pub const SNAPSHOT_TYPES: [u8; 7] = [1, 2, 3, 4, 5, 6, 100];

impl GetSnapshot {
    pub fn decode(payload: &[u8]) -> Result<GetSnapshot, DecodeError> {
        let mut reader = Reader::new(payload);
        let compression = reader.u8()?;
        if !(1..=6).contains(&compression) {
            return Err(DecodeError::InvalidKind { what: "snapshot compression", value: compression });
        }
        let count = reader.u8()?;
        let types = reader.bytes(usize::from(count))?.to_vec();
        if let Some(unknown) = types.iter().find(|t| !SNAPSHOT_TYPES.contains(t)) {
            return Err(DecodeError::InvalidKind { what: "snapshot type", value: *unknown });
        }
        reader.finish()?;
        Ok(GetSnapshot { compression, types })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u8(self.compression);
        buffer.put_u8(self.types.len() as u8);
        buffer.put_slice(&self.types);
    }
}
