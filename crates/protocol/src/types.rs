//! The small building blocks shared by request and response payloads (protocol.md §2.2–§2.8):
//! identifiers, consumers, partitioning, polling strategies, the optional partition, the ack
//! level and the key/value options block.
//!
//! Each type reads from a [`Reader`] (so payload decoders compose them) and writes into a
//! `BytesMut` (so our own client can send them).

use bytes::{BufMut, BytesMut};

use crate::wire::{DecodeError, Reader, put_name};

/// A stream, topic, group or user reference: numeric id or name (§2.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    Numeric(u32),
    /// 1..=255 bytes of UTF-8.
    Name(String),
}

const IDENTIFIER_NUMERIC: u8 = 1;
const IDENTIFIER_NAME: u8 = 2;

impl Identifier {
    /// A name identifier, checked so that it can be encoded.
    pub fn named(name: impl Into<String>) -> Result<Identifier, DecodeError> {
        let name = name.into();
        crate::wire::check_name(&name)?;
        Ok(Identifier::Name(name))
    }

    pub fn read(reader: &mut Reader<'_>) -> Result<Identifier, DecodeError> {
        let kind = reader.u8()?;
        let length = reader.u8()?;
        let value = reader.bytes(usize::from(length))?;
        let invalid = DecodeError::InvalidIdentifier { kind, length };
        match (kind, value) {
            (IDENTIFIER_NUMERIC, &[a, b, c, d]) => Ok(Identifier::Numeric(u32::from_le_bytes([a, b, c, d]))),
            (IDENTIFIER_NAME, name) if !name.is_empty() => {
                std::str::from_utf8(name).map(|name| Identifier::Name(name.to_owned())).map_err(|_| invalid)
            }
            _ => Err(invalid),
        }
    }

    /// Panics on a name that is empty or over 255 bytes (see [`put_name`]).
    pub fn encode(&self, buffer: &mut BytesMut) {
        match self {
            Identifier::Numeric(id) => {
                buffer.put_u8(IDENTIFIER_NUMERIC);
                buffer.put_u8(4);
                buffer.put_u32_le(*id);
            }
            Identifier::Name(name) => {
                buffer.put_u8(IDENTIFIER_NAME);
                put_name(buffer, name);
            }
        }
    }

    /// Bytes [`Identifier::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Identifier::Numeric(_) => 6,
            Identifier::Name(name) => 2 + name.len(),
        }
    }
}

impl std::fmt::Display for Identifier {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identifier::Numeric(id) => write!(formatter, "#{id}"),
            Identifier::Name(name) => write!(formatter, "{name:?}"),
        }
    }
}

/// Whether offsets are kept for one consumer or for a consumer group (§2.3).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsumerKind {
    Consumer = 1,
    Group = 2,
}

/// Who is polling or storing offsets (§2.3). A named plain consumer is keyed by
/// `xxh32(name)` on the server; that mapping is the server's, not this codec's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Consumer {
    pub kind: ConsumerKind,
    pub id: Identifier,
}

impl Consumer {
    pub fn read(reader: &mut Reader<'_>) -> Result<Consumer, DecodeError> {
        let kind = match reader.u8()? {
            1 => ConsumerKind::Consumer,
            2 => ConsumerKind::Group,
            value => return Err(DecodeError::InvalidKind { what: "consumer", value }),
        };
        Ok(Consumer { kind, id: Identifier::read(reader)? })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u8(self.kind as u8);
        self.id.encode(buffer);
    }
}

/// How a producer picks the partition (§2.4). SDK 0.11 always sends `PartitionId`, other
/// clients may still send the other two.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Partitioning {
    Balanced,
    PartitionId(u32),
    /// 1..=255 key bytes; the partition is `xxh32(key) % partitions_count`.
    MessagesKey(Vec<u8>),
}

impl Partitioning {
    pub fn read(reader: &mut Reader<'_>) -> Result<Partitioning, DecodeError> {
        let kind = reader.u8()?;
        let length = reader.u8()?;
        let bad_length = DecodeError::InvalidLength { what: "partitioning", value: u64::from(length) };
        match kind {
            1 if length == 0 => Ok(Partitioning::Balanced),
            2 if length == 4 => Ok(Partitioning::PartitionId(reader.u32()?)),
            3 if length > 0 => Ok(Partitioning::MessagesKey(reader.bytes(usize::from(length))?.to_vec())),
            1..=3 => Err(bad_length),
            value => Err(DecodeError::InvalidKind { what: "partitioning", value }),
        }
    }

    /// Panics on a messages key that is empty or over 255 bytes: it has no encoding.
    pub fn encode(&self, buffer: &mut BytesMut) {
        match self {
            Partitioning::Balanced => buffer.put_slice(&[1, 0]),
            Partitioning::PartitionId(id) => {
                buffer.put_slice(&[2, 4]);
                buffer.put_u32_le(*id);
            }
            Partitioning::MessagesKey(key) => {
                let length = u8::try_from(key.len()).ok().filter(|&length| length > 0);
                let Some(length) = length else {
                    panic!("messages key of {} bytes cannot be encoded", key.len());
                };
                buffer.put_slice(&[3, length]);
                buffer.put_slice(key);
            }
        }
    }

    /// Bytes [`Partitioning::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Partitioning::Balanced => 2,
            Partitioning::PartitionId(_) => 6,
            Partitioning::MessagesKey(key) => 2 + key.len(),
        }
    }
}

/// Where a poll starts (§2.5). Always 9 bytes on the wire; the value of First, Last and
/// Next is ignored and sent as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PollingStrategy {
    Offset(u64),
    /// Microseconds since the epoch.
    Timestamp(u64),
    First,
    Last,
    Next,
}

impl PollingStrategy {
    pub fn read(reader: &mut Reader<'_>) -> Result<PollingStrategy, DecodeError> {
        let kind = reader.u8()?;
        let value = reader.u64()?;
        match kind {
            1 => Ok(PollingStrategy::Offset(value)),
            2 => Ok(PollingStrategy::Timestamp(value)),
            3 => Ok(PollingStrategy::First),
            4 => Ok(PollingStrategy::Last),
            5 => Ok(PollingStrategy::Next),
            value => Err(DecodeError::InvalidKind { what: "polling strategy", value }),
        }
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        let (kind, value) = match *self {
            PollingStrategy::Offset(value) => (1, value),
            PollingStrategy::Timestamp(value) => (2, value),
            PollingStrategy::First => (3, 0),
            PollingStrategy::Last => (4, 0),
            PollingStrategy::Next => (5, 0),
        };
        buffer.put_u8(kind);
        buffer.put_u64_le(value);
    }
}

/// Reads the optional partition id (§2.6): `[flag u8][u32]`, always 5 bytes. Like both Iggy
/// servers, only flag 1 means present; any other flag reads as absent.
pub fn read_optional_partition(reader: &mut Reader<'_>) -> Result<Option<u32>, DecodeError> {
    let flag = reader.u8()?;
    let value = reader.u32()?;
    Ok((flag == 1).then_some(value))
}

/// Writes the optional partition id (§2.6); an absent id is sent as flag 0, value 0.
pub fn put_optional_partition(buffer: &mut BytesMut, partition_id: Option<u32>) {
    buffer.put_u8(u8::from(partition_id.is_some()));
    buffer.put_u32_le(partition_id.unwrap_or(0));
}

/// Durability requested by V offset writes (the trailing `ack` byte of Store/Delete
/// ConsumerOffset). SDK 0.11 sends Quorum.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckLevel {
    NoAck = 0,
    Quorum = 1,
}

impl AckLevel {
    pub fn read(reader: &mut Reader<'_>) -> Result<AckLevel, DecodeError> {
        match reader.u8()? {
            0 => Ok(AckLevel::NoAck),
            1 => Ok(AckLevel::Quorum),
            value => Err(DecodeError::InvalidKind { what: "ack level", value }),
        }
    }
}

mod options;

pub use options::{KIND_STRING, MAX_OPTIONS, MAX_OPTIONS_BYTES, OptionValue, Options, validate_user_headers};

#[cfg(test)]
mod tests;
