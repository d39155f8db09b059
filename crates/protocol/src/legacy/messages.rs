//! Legacy messages (protocol.md §6.2) and their conversion to and from the 0.11 batch record.
//!
//! A legacy SendMessages body is an index block (16 bytes per message) and the messages,
//! each a 64-byte header, the payload, then the user headers. A legacy poll reply is the
//! 16-byte prefix and messages in the same format, with offsets, timestamps, ids and
//! checksums filled in by the server.
//!
//! Whippet stores only 0.11 records, so [`send_to_record`] turns a legacy send into records
//! (server-owned fields left 0 for the caller to stamp), and [`record_to_messages`] turns a
//! stored record back into legacy messages for a poll. The decoder and the body encoder are
//! for our client and the tests.
//!
//! Message header (`types/message/message_header.rs` of iggy_common 0.10):
//!
//! | Off | Size | Field |
//! |---|---|---|
//! | 0 | 8 | checksum = xxh3_64(message[8..end]) (header bytes 8..64, payload, user headers) |
//! | 8 | 16 | id (u128; 0 = let the server pick a UUID v4) |
//! | 24 | 8 | offset (absolute) |
//! | 32 | 8 | timestamp (server append time, µs) |
//! | 40 | 8 | origin_timestamp (client time, µs) |
//! | 48 | 4 | user_headers_length |
//! | 52 | 4 | payload_length |
//! | 56 | 8 | reserved, 0 |

use bytes::{BufMut, BytesMut};
use xxhash_rust::xxh3::xxh3_64;

use crate::responses::PollReplyPrefix;
use crate::wire::{DecodeError, Reader};

mod poll;
mod send;

pub use poll::{legacy_messages_len, record_to_messages};
pub use send::{SendError, send_to_record};

/// Size of a legacy message header.
pub const MESSAGE_HEADER_SIZE: usize = 64;
/// Size of one index entry of a SendMessages body: `[offset u32][position u32][timestamp u64]`.
pub const INDEX_ENTRY_SIZE: usize = 16;

const HEADER_ID: usize = 8;
const HEADER_ORIGIN_TIMESTAMP: usize = 40;
const HEADER_USER_HEADERS_LENGTH: usize = 48;
const HEADER_PAYLOAD_LENGTH: usize = 52;

/// One decoded legacy message, as a poll reply carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyMessage {
    pub checksum: u64,
    pub id: u128,
    pub offset: u64,
    pub timestamp: u64,
    pub origin_timestamp: u64,
    /// Header bytes 56..64; 0 from every known writer.
    pub reserved: u64,
    pub payload: Vec<u8>,
    pub user_headers: Vec<u8>,
}

impl LegacyMessage {
    /// Reads one message: the header, then exactly the payload and headers it declares.
    pub fn read(reader: &mut Reader<'_>) -> Result<LegacyMessage, DecodeError> {
        let checksum = reader.u64()?;
        let id = reader.u128()?;
        let offset = reader.u64()?;
        let timestamp = reader.u64()?;
        let origin_timestamp = reader.u64()?;
        let user_headers_length = reader.u32()?;
        let payload_length = reader.u32()?;
        let reserved = reader.u64()?;
        let payload = reader.bytes(payload_length as usize)?.to_vec();
        let user_headers = reader.bytes(user_headers_length as usize)?.to_vec();
        Ok(LegacyMessage { checksum, id, offset, timestamp, origin_timestamp, reserved, payload, user_headers })
    }

    /// Writes the message exactly as held, checksum included (use [`LegacyMessage::seal`]
    /// to compute it first).
    pub fn encode(&self, buffer: &mut BytesMut) {
        put_header(buffer, self.checksum, self.id, self.offset, self.timestamp, self.origin_timestamp);
        buffer.put_u32_le(length_u32(self.user_headers.len()));
        buffer.put_u32_le(length_u32(self.payload.len()));
        buffer.put_u64_le(self.reserved);
        buffer.put_slice(&self.payload);
        buffer.put_slice(&self.user_headers);
    }

    /// The checksum this message must carry: xxh3 over everything after the checksum field.
    pub fn expected_checksum(&self) -> u64 {
        let mut bytes = BytesMut::with_capacity(self.size());
        self.encode(&mut bytes);
        xxh3_64(&bytes[8..])
    }

    /// Sets the checksum from the other fields, as the server does before storing.
    pub fn seal(&mut self) {
        self.checksum = self.expected_checksum();
    }

    /// Bytes [`LegacyMessage::encode`] writes.
    pub fn size(&self) -> usize {
        MESSAGE_HEADER_SIZE + self.payload.len() + self.user_headers.len()
    }
}

/// Reads messages back to back until the bytes end. Unlike SDK 0.10, which stops silently at
/// a truncated message, a truncated message is an error: our server never sends one.
pub fn decode_messages(bytes: &[u8]) -> Result<Vec<LegacyMessage>, DecodeError> {
    let mut reader = Reader::new(bytes);
    let mut messages = Vec::new();
    while reader.remaining() > 0 {
        messages.push(LegacyMessage::read(&mut reader)?);
    }
    Ok(messages)
}

/// Reads a legacy POLL_MESSAGES reply: the 16-byte prefix (same as V), then messages.
pub fn decode_poll_reply(body: &[u8]) -> Result<(PollReplyPrefix, Vec<LegacyMessage>), DecodeError> {
    let (prefix, messages) = PollReplyPrefix::decode(body)?;
    Ok((prefix, decode_messages(messages)?))
}

/// One message to send, as the 0.10 SDK hands it to its encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutgoingMessage<'a> {
    /// 0 lets the server pick one.
    pub id: u128,
    pub origin_timestamp: u64,
    pub payload: &'a [u8],
    pub user_headers: &'a [u8],
}

impl OutgoingMessage<'_> {
    fn size(&self) -> usize {
        MESSAGE_HEADER_SIZE + self.payload.len() + self.user_headers.len()
    }
}

/// Writes the part of a legacy SendMessages body after `messages_count` (write that metadata
/// with [`crate::requests::SendMessagesHeader::encode`]), as SDK 0.10 does: the index block
/// with `offset = 0`, `position` = cumulative end of each message in the messages section and
/// `timestamp = 0`, then the messages with checksum, offset and timestamp 0.
///
/// Panics when the messages section would exceed 4 GiB, which no u32 position can address.
pub fn encode_send_body(messages: &[OutgoingMessage<'_>], buffer: &mut BytesMut) {
    let section: usize = messages.iter().map(OutgoingMessage::size).sum();
    buffer.reserve(messages.len() * INDEX_ENTRY_SIZE + section);
    let mut position = 0usize;
    for message in messages {
        position += message.size();
        buffer.put_u32_le(0);
        buffer.put_u32_le(length_u32(position));
        buffer.put_u64_le(0);
    }
    for message in messages {
        put_header(buffer, 0, message.id, 0, 0, message.origin_timestamp);
        buffer.put_u32_le(length_u32(message.user_headers.len()));
        buffer.put_u32_le(length_u32(message.payload.len()));
        buffer.put_u64_le(0);
        buffer.put_slice(message.payload);
        buffer.put_slice(message.user_headers);
    }
}

/// Sets the origin timestamp of every message of a legacy SendMessages section (the bytes
/// [`encode_send_body`] wrote, index block included, for `count` messages), in place. Legacy
/// producers send checksum 0, so nothing else changes. Stops at the first message that does
/// not fit.
pub fn restamp_origin(section: &mut [u8], count: usize, origin_timestamp: u64) {
    let mut position = count * INDEX_ENTRY_SIZE;
    for _ in 0..count {
        if position + MESSAGE_HEADER_SIZE > section.len() {
            return;
        }
        let at = position + HEADER_ORIGIN_TIMESTAMP;
        section[at..at + 8].copy_from_slice(&origin_timestamp.to_le_bytes());
        let payload = u32_at(section, position + HEADER_PAYLOAD_LENGTH) as usize;
        let headers = u32_at(section, position + HEADER_USER_HEADERS_LENGTH) as usize;
        position += MESSAGE_HEADER_SIZE + payload + headers;
    }
}

/// The first 48 header bytes: checksum, id, offset, timestamp, origin timestamp.
fn put_header(buffer: &mut BytesMut, checksum: u64, id: u128, offset: u64, timestamp: u64, origin_timestamp: u64) {
    buffer.put_u64_le(checksum);
    buffer.put_u128_le(id);
    buffer.put_u64_le(offset);
    buffer.put_u64_le(timestamp);
    buffer.put_u64_le(origin_timestamp);
}

fn length_u32(length: usize) -> u32 {
    let Ok(length) = u32::try_from(length) else {
        panic!("length {length} does not fit a u32");
    };
    length
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(raw)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(raw)
}

fn u128_at(bytes: &[u8], at: usize) -> u128 {
    let mut raw = [0u8; 16];
    raw.copy_from_slice(&bytes[at..at + 16]);
    u128::from_le_bytes(raw)
}

#[cfg(test)]
mod tests;
