//! Legacy SendMessages → 0.11 batch records.

use bytes::BytesMut;

use super::{
    HEADER_ID, HEADER_ORIGIN_TIMESTAMP, HEADER_PAYLOAD_LENGTH, HEADER_USER_HEADERS_LENGTH, INDEX_ENTRY_SIZE,
    MESSAGE_HEADER_SIZE, u32_at, u64_at, u128_at,
};
use crate::batch::{FRAME_HEADER_SIZE, MAX_PAYLOAD_SIZE, MAX_USER_HEADERS_SIZE, RecordBuilder};
use crate::status::ErrorCode;

/// Why a legacy SendMessages body was refused, in the order server 0.8 checks
/// (`IggyMessagesBatchMut::validate` in iggy_common 0.10). [`SendError::code`] is the
/// status to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("messages_count is 0")]
    NoMessages,
    #[error("{count} messages need {needed} index bytes, only {available} follow the metadata")]
    IndexesTruncated { count: u32, needed: u64, available: usize },
    #[error("index entry {index} has offset {offset}, must be 0")]
    NonZeroOffset { index: u32, offset: u32 },
    #[error("index entry {index} has timestamp {timestamp}, must be 0")]
    NonZeroTimestamp { index: u32, timestamp: u64 },
    #[error("index entry {index} ends at {position}, before the previous entry's {previous}")]
    PositionDecreasing { index: u32, position: u32, previous: u32 },
    #[error("index entry {index} ends at {position}, past the {section}-byte messages section")]
    PositionOutOfBounds { index: u32, position: u32, section: usize },
    #[error("message {index} spans {size} bytes, less than its 64-byte header")]
    MessageTooSmall { index: u32, size: u32 },
    #[error("message {index} declares {declared} bytes but its index entry gives it {indexed}")]
    MessageSizeMismatch { index: u32, declared: u64, indexed: u32 },
    #[error("message {index} has an empty payload")]
    EmptyPayload { index: u32 },
    #[error("message {index} payload of {length} bytes is over the limit")]
    PayloadTooLarge { index: u32, length: u32 },
    #[error("message {index} user headers of {length} bytes are over the limit")]
    UserHeadersTooLarge { index: u32, length: u32 },
    #[error("the last index entry ends at {indexed}, the messages section has {section} bytes")]
    SectionSizeMismatch { indexed: u32, section: usize },
}

impl SendError {
    /// The status server 0.8 answers with where its code is in our catalogue. Positions that
    /// go backwards, past the section or leave less than a header make its boundary lookup
    /// fail, which it reports as MissingIndex; an index block shorter than the count (which
    /// it would misread from the socket) is InvalidIndexesCount; sizes that disagree are
    /// InvalidMessagesSize. It leaves empty payloads to the SDK, which raises
    /// InvalidMessagePayloadLength; we must refuse them (a 0.11 record cannot hold one).
    pub fn code(&self) -> ErrorCode {
        match self {
            SendError::NoMessages => ErrorCode::InvalidMessagesCount,
            SendError::IndexesTruncated { .. } => ErrorCode::InvalidIndexesCount,
            SendError::NonZeroOffset { .. } => ErrorCode::NonZeroOffset,
            SendError::NonZeroTimestamp { .. } => ErrorCode::NonZeroTimestamp,
            SendError::PositionDecreasing { .. }
            | SendError::PositionOutOfBounds { .. }
            | SendError::MessageTooSmall { .. } => ErrorCode::MissingIndex,
            SendError::MessageSizeMismatch { .. } | SendError::SectionSizeMismatch { .. } => {
                ErrorCode::InvalidMessagesSize
            }
            SendError::EmptyPayload { .. } => ErrorCode::InvalidMessagePayloadLength,
            SendError::PayloadTooLarge { .. } => ErrorCode::TooBigMessagePayload,
            SendError::UserHeadersTooLarge { .. } => ErrorCode::TooBigUserHeaders,
        }
    }
}

impl From<SendError> for ErrorCode {
    fn from(error: SendError) -> ErrorCode {
        error.code()
    }
}

/// Where one validated message lies in the messages section, and what it carries.
#[derive(Debug, Clone, Copy)]
struct Incoming {
    start: usize,
    id: u128,
    origin_timestamp: u64,
    payload_length: u32,
    user_headers_length: u32,
}

impl Incoming {
    fn payload<'a>(&self, section: &'a [u8]) -> &'a [u8] {
        let from = self.start + MESSAGE_HEADER_SIZE;
        &section[from..from + self.payload_length as usize]
    }

    fn user_headers<'a>(&self, section: &'a [u8]) -> &'a [u8] {
        let from = self.start + MESSAGE_HEADER_SIZE + self.payload_length as usize;
        &section[from..from + self.user_headers_length as usize]
    }

    fn frame_size(&self) -> usize {
        FRAME_HEADER_SIZE + self.payload_length as usize + self.user_headers_length as usize
    }
}

/// Validates a legacy SendMessages body and converts it to 0.11 batch records.
///
/// `body` is everything after `[metadata_length][Id][Id][Partitioning][messages_count]` (the
/// index block, then the messages), `messages_count` the count from the metadata. Each
/// message becomes a frame with its id, or `fresh_id()` (a UUID v4 as u128) when the id is 0,
/// as server 0.8 assigns it; its origin timestamp, payload and user headers are kept. Every
/// frame and batch checksum is computed; partition id, base offset and base timestamp are 0
/// for the caller to stamp (`batch::stamp`).
///
/// Usually one record comes back. A frame stores its origin timestamp as a u32 µs delta from
/// the record's, so when the messages' origin timestamps span more than `u32::MAX` µs (about
/// 71 minutes, e.g. one sent with 0) a new record starts there; the records keep the
/// messages' order and must be stamped with consecutive base offsets.
pub fn send_to_record(
    body: &[u8],
    messages_count: u32,
    fresh_id: &mut dyn FnMut() -> u128,
) -> Result<Vec<BytesMut>, SendError> {
    let messages = validate(body, messages_count)?;
    let section = &body[messages_count as usize * INDEX_ENTRY_SIZE..];
    let mut records = Vec::with_capacity(1);
    for group in split_by_time(&messages) {
        let origin_timestamp = group.iter().map(|message| message.origin_timestamp).min().unwrap_or(0);
        let bytes = group.iter().map(Incoming::frame_size).sum();
        let mut builder = RecordBuilder::with_capacity(origin_timestamp, bytes);
        for message in group {
            let id = if message.id == 0 { fresh_id() } else { message.id };
            builder.push(id, message.origin_timestamp, message.payload(section), message.user_headers(section));
        }
        records.push(builder.finish());
    }
    Ok(records)
}

/// Checks the index block and every message; returns where each message lies.
fn validate(body: &[u8], messages_count: u32) -> Result<Vec<Incoming>, SendError> {
    if messages_count == 0 {
        return Err(SendError::NoMessages);
    }
    // u64: count × 16 cannot overflow, and the count is checked against the bytes before it
    // sizes any allocation.
    let needed = u64::from(messages_count) * INDEX_ENTRY_SIZE as u64;
    if needed > body.len() as u64 {
        return Err(SendError::IndexesTruncated { count: messages_count, needed, available: body.len() });
    }
    let (indexes, section) = body.split_at(needed as usize);
    // Every message holds at least a header, so the section bounds the count worth reserving.
    let mut messages = Vec::with_capacity((messages_count as usize).min(section.len() / MESSAGE_HEADER_SIZE));
    let mut previous = 0u32;
    for (index, entry) in (0..messages_count).zip(indexes.chunks_exact(INDEX_ENTRY_SIZE)) {
        let position = check_index_entry(index, entry)?;
        let message = check_message(index, section, previous, position)?;
        messages.push(message);
        previous = position;
    }
    if previous as usize != section.len() {
        return Err(SendError::SectionSizeMismatch { indexed: previous, section: section.len() });
    }
    Ok(messages)
}

/// An index entry as the SDK sends it: offset and timestamp 0; returns the position.
fn check_index_entry(index: u32, entry: &[u8]) -> Result<u32, SendError> {
    let offset = u32_at(entry, 0);
    if offset != 0 {
        return Err(SendError::NonZeroOffset { index, offset });
    }
    let timestamp = u64_at(entry, 8);
    if timestamp != 0 {
        return Err(SendError::NonZeroTimestamp { index, timestamp });
    }
    Ok(u32_at(entry, 4))
}

/// The message between the previous entry's end and this entry's `position`: it must fit the
/// section, hold a header, declare exactly its span, and keep the payload and user-header
/// limits. Its checksum, offset and timestamp are the server's to write, so they are ignored.
fn check_message(index: u32, section: &[u8], previous: u32, position: u32) -> Result<Incoming, SendError> {
    if position < previous {
        return Err(SendError::PositionDecreasing { index, position, previous });
    }
    if position as usize > section.len() {
        return Err(SendError::PositionOutOfBounds { index, position, section: section.len() });
    }
    let size = position - previous;
    if (size as usize) < MESSAGE_HEADER_SIZE {
        return Err(SendError::MessageTooSmall { index, size });
    }
    let header = &section[previous as usize..previous as usize + MESSAGE_HEADER_SIZE];
    let payload_length = u32_at(header, HEADER_PAYLOAD_LENGTH);
    let user_headers_length = u32_at(header, HEADER_USER_HEADERS_LENGTH);
    let declared = MESSAGE_HEADER_SIZE as u64 + u64::from(payload_length) + u64::from(user_headers_length);
    if declared != u64::from(size) {
        return Err(SendError::MessageSizeMismatch { index, declared, indexed: size });
    }
    if payload_length == 0 {
        return Err(SendError::EmptyPayload { index });
    }
    if payload_length > MAX_PAYLOAD_SIZE {
        return Err(SendError::PayloadTooLarge { index, length: payload_length });
    }
    if user_headers_length > MAX_USER_HEADERS_SIZE {
        return Err(SendError::UserHeadersTooLarge { index, length: user_headers_length });
    }
    Ok(Incoming {
        start: previous as usize,
        id: u128_at(header, HEADER_ID),
        origin_timestamp: u64_at(header, HEADER_ORIGIN_TIMESTAMP),
        payload_length,
        user_headers_length,
    })
}

/// Cuts the messages, in order, into runs whose origin timestamps all lie within `u32::MAX`
/// µs of each other, so each run's timestamps fit u32 deltas from its minimum.
fn split_by_time(messages: &[Incoming]) -> Vec<&[Incoming]> {
    let mut groups = Vec::with_capacity(1);
    let mut start = 0;
    let (mut lowest, mut highest) = (u64::MAX, 0u64);
    for (index, message) in messages.iter().enumerate() {
        let timestamp = message.origin_timestamp;
        let (low, high) = (lowest.min(timestamp), highest.max(timestamp));
        if high - low > u64::from(u32::MAX) {
            groups.push(&messages[start..index]);
            start = index;
            (lowest, highest) = (timestamp, timestamp);
        } else {
            (lowest, highest) = (low, high);
        }
    }
    groups.push(&messages[start..]);
    groups
}
