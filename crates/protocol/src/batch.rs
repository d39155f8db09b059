//! The protocol 0.11 batch record: a 256-byte batch header followed by message frames, each a
//! 48-byte header, the payload, then the user headers (protocol.md §6.1).
//!
//! The same bytes are the SendMessages body, the record stored on disk and the poll reply, so
//! this module is the single place that knows the layout. Everything here works on byte slices
//! and never allocates per message.

use bytes::{Bytes, BytesMut};
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

/// Size of the batch header that starts every record.
pub const BATCH_HEADER_SIZE: usize = 256;
/// Size of the header that starts every message frame.
pub const FRAME_HEADER_SIZE: usize = 48;
/// Largest payload of one message (protocol.md §3.1 limits).
pub const MAX_PAYLOAD_SIZE: u32 = 64_000_000;
/// Largest user-headers block of one message.
pub const MAX_USER_HEADERS_SIZE: u32 = 100_000;

const PARTITION_ID: usize = 0;
const BASE_OFFSET: usize = 8;
const BASE_TIMESTAMP: usize = 16;
const ORIGIN_TIMESTAMP: usize = 24;
const BATCH_LENGTH: usize = 32;
const BATCH_CHECKSUM: usize = 40;
const MESSAGE_COUNT: usize = 48;
const HEADER_RESERVED: usize = 52;

const FRAME_CHECKSUM: usize = 0;
const FRAME_OFFSET_DELTA: usize = 24;
const FRAME_USER_HEADERS_LENGTH: usize = 32;
const FRAME_PAYLOAD_LENGTH: usize = 36;
const FRAME_RESERVED: usize = 40;

/// Why a record was refused. Each variant maps to one Iggy status code at the network edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("record of {length} bytes is shorter than the 256-byte batch header")]
    TooShort { length: usize },
    #[error("batch_length {declared} disagrees with the {actual} bytes received")]
    LengthMismatch { declared: u64, actual: usize },
    #[error("batch header reserved byte {at} is not zero")]
    HeaderReservedNotZero { at: usize },
    #[error("batch declares no messages")]
    Empty,
    #[error("frame {index} runs past the end of the record")]
    FrameOutOfBounds { index: u32 },
    #[error("{trailing} bytes follow the last declared frame")]
    TrailingBytes { trailing: usize },
    #[error("frame {index} has offset_delta {found}, expected {index}")]
    OffsetDelta { index: u32, found: u32 },
    #[error("frame {index} reserved bytes are not zero")]
    FrameReservedNotZero { index: u32 },
    #[error("frame {index} has an empty payload")]
    EmptyPayload { index: u32 },
    #[error("frame {index} payload of {length} bytes is over the limit")]
    PayloadTooLarge { index: u32, length: u32 },
    #[error("frame {index} user headers of {length} bytes are over the limit")]
    UserHeadersTooLarge { index: u32, length: u32 },
    #[error("frame {index} checksum does not match its bytes")]
    FrameChecksum { index: u32 },
    #[error("batch checksum does not match")]
    BatchChecksum,
}

/// What to verify beyond the structure, which is always checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verify {
    /// Recompute every frame checksum (one pass of xxh3 over all message bytes).
    pub frame_checksums: bool,
    /// Recompute the batch checksum from the header fields and the frame checksums.
    pub batch_checksum: bool,
}

impl Verify {
    pub const ALL: Verify = Verify { frame_checksums: true, batch_checksum: true };
    pub const STRUCTURE: Verify = Verify { frame_checksums: false, batch_checksum: false };
}

/// The decoded batch header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub partition_id: u64,
    pub base_offset: u64,
    pub base_timestamp: u64,
    pub origin_timestamp: u64,
    pub batch_length: u64,
    pub batch_checksum: u64,
    pub message_count: u32,
}

impl BatchHeader {
    /// Reads the header fields without validating anything but the length.
    pub fn read(record: &[u8]) -> Result<BatchHeader, BatchError> {
        if record.len() < BATCH_HEADER_SIZE {
            return Err(BatchError::TooShort { length: record.len() });
        }
        Ok(BatchHeader {
            partition_id: u64_at(record, PARTITION_ID),
            base_offset: u64_at(record, BASE_OFFSET),
            base_timestamp: u64_at(record, BASE_TIMESTAMP),
            origin_timestamp: u64_at(record, ORIGIN_TIMESTAMP),
            batch_length: u64_at(record, BATCH_LENGTH),
            batch_checksum: u64_at(record, BATCH_CHECKSUM),
            message_count: u32_at(record, MESSAGE_COUNT),
        })
    }

    /// Offset one past the last message of this record. Saturates: a header read from a
    /// damaged file can hold any base offset, and reading it must not panic (found by
    /// `tests/fuzz_batch.rs`); such a record then fails the caller's offset checks.
    pub fn end_offset(&self) -> u64 {
        self.base_offset.saturating_add(u64::from(self.message_count))
    }
}

/// One message frame inside a record, as positions into the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Position of the frame header inside the record.
    pub start: usize,
    /// Position one past the frame's last byte.
    pub end: usize,
    pub checksum: u64,
    pub id: u128,
    pub offset_delta: u32,
    pub timestamp_delta: u32,
    pub payload_length: u32,
    pub user_headers_length: u32,
}

impl Frame {
    /// The payload bytes of this frame inside `record`.
    pub fn payload<'a>(&self, record: &'a [u8]) -> &'a [u8] {
        let from = self.start + FRAME_HEADER_SIZE;
        &record[from..from + self.payload_length as usize]
    }

    /// The user-headers bytes of this frame inside `record`.
    pub fn user_headers<'a>(&self, record: &'a [u8]) -> &'a [u8] {
        let from = self.start + FRAME_HEADER_SIZE + self.payload_length as usize;
        &record[from..self.end]
    }
}

/// Walks the frames of a record whose structure has been validated.
pub struct Frames<'a> {
    record: &'a [u8],
    position: usize,
    remaining: u32,
}

impl<'a> Frames<'a> {
    /// Iterates the frames of `record`; stops early at the first frame that does not fit.
    pub fn new(record: &'a [u8]) -> Frames<'a> {
        let remaining = if record.len() >= BATCH_HEADER_SIZE { u32_at(record, MESSAGE_COUNT) } else { 0 };
        Frames { record, position: BATCH_HEADER_SIZE, remaining }
    }
}

impl Iterator for Frames<'_> {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        if self.remaining == 0 {
            return None;
        }
        let frame = frame_at(self.record, self.position)?;
        self.position = frame.end;
        self.remaining -= 1;
        Some(frame)
    }
}

fn frame_at(record: &[u8], start: usize) -> Option<Frame> {
    let header_end = start.checked_add(FRAME_HEADER_SIZE)?;
    if header_end > record.len() {
        return None;
    }
    let payload_length = u32_at(record, start + FRAME_PAYLOAD_LENGTH);
    let user_headers_length = u32_at(record, start + FRAME_USER_HEADERS_LENGTH);
    let end = header_end.checked_add(payload_length as usize)?.checked_add(user_headers_length as usize)?;
    if end > record.len() {
        return None;
    }
    Some(Frame {
        start,
        end,
        checksum: u64_at(record, start + FRAME_CHECKSUM),
        id: u128::from_le_bytes(record[start + 8..start + 24].try_into().ok()?),
        offset_delta: u32_at(record, start + FRAME_OFFSET_DELTA),
        timestamp_delta: u32_at(record, start + 28),
        payload_length,
        user_headers_length,
    })
}

/// Checks a record's structure (lengths, counts, frame bounds, dense offset deltas, reserved
/// bytes zero, limits) and the checksums `verify` asks for. Returns the header on success.
pub fn validate(record: &[u8], verify: Verify) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::read(record)?;
    if header.batch_length != record.len() as u64 {
        return Err(BatchError::LengthMismatch { declared: header.batch_length, actual: record.len() });
    }
    if let Some(at) = record[HEADER_RESERVED..BATCH_HEADER_SIZE].iter().position(|&b| b != 0) {
        return Err(BatchError::HeaderReservedNotZero { at: HEADER_RESERVED + at });
    }
    if header.message_count == 0 {
        return Err(BatchError::Empty);
    }
    let mut hasher = verify.batch_checksum.then(|| checksum_hasher(record));
    let mut position = BATCH_HEADER_SIZE;
    for index in 0..header.message_count {
        let frame = frame_at(record, position).ok_or(BatchError::FrameOutOfBounds { index })?;
        check_frame(record, &frame, index, verify)?;
        if let Some(hasher) = hasher.as_mut() {
            hasher.update(&frame.checksum.to_le_bytes());
        }
        position = frame.end;
    }
    if position != record.len() {
        return Err(BatchError::TrailingBytes { trailing: record.len() - position });
    }
    if let Some(hasher) = hasher
        && hasher.digest() != header.batch_checksum
    {
        return Err(BatchError::BatchChecksum);
    }
    Ok(header)
}

fn check_frame(record: &[u8], frame: &Frame, index: u32, verify: Verify) -> Result<(), BatchError> {
    if frame.offset_delta != index {
        return Err(BatchError::OffsetDelta { index, found: frame.offset_delta });
    }
    if u64_at(record, frame.start + FRAME_RESERVED) != 0 {
        return Err(BatchError::FrameReservedNotZero { index });
    }
    if frame.payload_length == 0 {
        return Err(BatchError::EmptyPayload { index });
    }
    if frame.payload_length > MAX_PAYLOAD_SIZE {
        return Err(BatchError::PayloadTooLarge { index, length: frame.payload_length });
    }
    if frame.user_headers_length > MAX_USER_HEADERS_SIZE {
        return Err(BatchError::UserHeadersTooLarge { index, length: frame.user_headers_length });
    }
    if verify.frame_checksums && xxh3_64(&record[frame.start + 8..frame.end]) != frame.checksum {
        return Err(BatchError::FrameChecksum { index });
    }
    Ok(())
}

/// The checksum a frame must carry: xxh3 over everything after its checksum field.
pub fn frame_checksum(frame_bytes: &[u8]) -> u64 {
    xxh3_64(&frame_bytes[8..])
}

/// Starts the batch checksum: the five u64 header fields and the message count.
fn checksum_hasher(record: &[u8]) -> Xxh3 {
    let mut hasher = Xxh3::new();
    hasher.update(&record[PARTITION_ID..BATCH_CHECKSUM]);
    hasher.update(&record[MESSAGE_COUNT..HEADER_RESERVED]);
    hasher
}

/// Computes the batch checksum of a structurally valid record from its current header fields.
pub fn batch_checksum(record: &[u8]) -> u64 {
    let mut hasher = checksum_hasher(record);
    for frame in Frames::new(record) {
        hasher.update(&frame.checksum.to_le_bytes());
    }
    hasher.digest()
}

/// Stamps the server-owned fields of a validated record and recomputes its batch checksum.
/// Frame checksums cover only relative fields, so they stay valid.
pub fn stamp(record: &mut [u8], partition_id: u64, base_offset: u64, base_timestamp: u64) {
    record[PARTITION_ID..PARTITION_ID + 8].copy_from_slice(&partition_id.to_le_bytes());
    record[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_le_bytes());
    record[BASE_TIMESTAMP..BASE_TIMESTAMP + 8].copy_from_slice(&base_timestamp.to_le_bytes());
    let checksum = batch_checksum(record);
    record[BATCH_CHECKSUM..BATCH_CHECKSUM + 8].copy_from_slice(&checksum.to_le_bytes());
}

/// Moves a producer-built record to a new origin timestamp, keeping every message's
/// relative timestamp: only the header field and the batch checksum change (frame checksums
/// cover the deltas, not the origin). Lets a load generator resend one prebuilt record with a
/// fresh send time for end-to-end latency. The record must be structurally valid.
pub fn restamp_origin(record: &mut [u8], origin_timestamp: u64) {
    record[ORIGIN_TIMESTAMP..ORIGIN_TIMESTAMP + 8].copy_from_slice(&origin_timestamp.to_le_bytes());
    let checksum = batch_checksum(record);
    record[BATCH_CHECKSUM..BATCH_CHECKSUM + 8].copy_from_slice(&checksum.to_le_bytes());
}

/// A record cut down to a range of its messages: a fresh header and the kept frames, which
/// are a zero-copy slice of the stored bytes. Serve it as `header` then `frames`.
#[derive(Debug, Clone)]
pub struct SlicedRecord {
    pub header: Bytes,
    pub frames: Bytes,
}

/// Keeps the messages with offset deltas `from..to` of a structurally valid record: the
/// header keeps base offset, timestamps and the original deltas; count, length and checksum
/// are fixed, reserved bytes stay zero (protocol.md §6.1, poll reply).
/// Returns `None` when the range is empty or outside the record.
pub fn slice(record: &Bytes, from: u32, to: u32) -> Option<SlicedRecord> {
    let kept = || Frames::new(record).filter(move |f| f.offset_delta >= from && f.offset_delta < to);
    let (start, end, count) =
        kept().fold((None, 0, 0u32), |(start, _, count), frame| (start.or(Some(frame.start)), frame.end, count + 1));
    let frames = record.slice(start?..end);
    let mut header = BytesMut::from(&record[..BATCH_HEADER_SIZE]);
    let length = (BATCH_HEADER_SIZE + frames.len()) as u64;
    header[BATCH_LENGTH..BATCH_LENGTH + 8].copy_from_slice(&length.to_le_bytes());
    header[MESSAGE_COUNT..MESSAGE_COUNT + 4].copy_from_slice(&count.to_le_bytes());
    let mut hasher = checksum_hasher(&header);
    for frame in kept() {
        hasher.update(&frame.checksum.to_le_bytes());
    }
    header[BATCH_CHECKSUM..BATCH_CHECKSUM + 8].copy_from_slice(&hasher.digest().to_le_bytes());
    Some(SlicedRecord { header: header.freeze(), frames })
}

/// Builds a record from messages, as a producer would (ids and checksums filled in, server
/// fields zero). Used by tools, tests and benchmarks; the server never re-encodes.
pub struct RecordBuilder {
    buffer: BytesMut,
    count: u32,
    origin_timestamp: u64,
}

impl RecordBuilder {
    /// Starts a record whose messages all carry `origin_timestamp` or later.
    pub fn new(origin_timestamp: u64) -> RecordBuilder {
        let mut buffer = BytesMut::with_capacity(BATCH_HEADER_SIZE);
        buffer.resize(BATCH_HEADER_SIZE, 0);
        RecordBuilder { buffer, count: 0, origin_timestamp }
    }

    /// Reserves room for `bytes` more message bytes.
    pub fn with_capacity(origin_timestamp: u64, bytes: usize) -> RecordBuilder {
        let mut builder = RecordBuilder::new(origin_timestamp);
        builder.buffer.reserve(bytes);
        builder
    }

    /// Appends one message. `timestamp` must not be before the record's origin timestamp.
    pub fn push(&mut self, id: u128, timestamp: u64, payload: &[u8], user_headers: &[u8]) -> &mut Self {
        let start = self.buffer.len();
        let delta = u32::try_from(timestamp.saturating_sub(self.origin_timestamp)).unwrap_or(u32::MAX);
        self.buffer.extend_from_slice(&[0u8; 8]);
        self.buffer.extend_from_slice(&id.to_le_bytes());
        self.buffer.extend_from_slice(&self.count.to_le_bytes());
        self.buffer.extend_from_slice(&delta.to_le_bytes());
        self.buffer.extend_from_slice(&(user_headers.len() as u32).to_le_bytes());
        self.buffer.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        self.buffer.extend_from_slice(&[0u8; 8]);
        self.buffer.extend_from_slice(payload);
        self.buffer.extend_from_slice(user_headers);
        let checksum = frame_checksum(&self.buffer[start..]);
        self.buffer[start..start + 8].copy_from_slice(&checksum.to_le_bytes());
        self.count += 1;
        self
    }

    /// Number of messages pushed so far.
    pub fn len(&self) -> u32 {
        self.count
    }

    /// Whether no message has been pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Finishes the header (length, count, origin timestamp, checksum) and returns the record.
    pub fn finish(mut self) -> BytesMut {
        let length = self.buffer.len() as u64;
        self.buffer[ORIGIN_TIMESTAMP..ORIGIN_TIMESTAMP + 8].copy_from_slice(&self.origin_timestamp.to_le_bytes());
        self.buffer[BATCH_LENGTH..BATCH_LENGTH + 8].copy_from_slice(&length.to_le_bytes());
        self.buffer[MESSAGE_COUNT..MESSAGE_COUNT + 4].copy_from_slice(&self.count.to_le_bytes());
        let checksum = batch_checksum(&self.buffer);
        self.buffer[BATCH_CHECKSUM..BATCH_CHECKSUM + 8].copy_from_slice(&checksum.to_le_bytes());
        self.buffer
    }
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(raw)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(raw)
}

#[cfg(test)]
mod tests;
