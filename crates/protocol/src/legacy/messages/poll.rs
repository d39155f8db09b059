//! Stored 0.11 batch records → legacy messages, for a legacy poll reply.

use std::ops::RangeBounds;

use bytes::{BufMut, BytesMut};
use xxhash_rust::xxh3::xxh3_64;

use super::{MESSAGE_HEADER_SIZE, put_header};
use crate::batch::{BatchError, BatchHeader, FRAME_HEADER_SIZE, Frame, Frames};

/// Appends to `out` the frames of `record` whose absolute offset lies in `offsets`, as legacy
/// messages: the 64-byte header with `offset = base_offset + offset_delta`, `timestamp =
/// base_timestamp` (one append time per record, as 0.8 stamped one per append),
/// `origin_timestamp = origin_timestamp + timestamp_delta` and the checksum 0.8 would have
/// stored, then the payload and the user headers. Returns how many messages it wrote.
///
/// `record` is a stored record, already stamped; it may be a slice (`batch::slice`, header
/// and frames made contiguous) whose first offset delta is not 0: offsets stay absolute.
/// Pass `..` for every frame. A record too short for its header or whose frames do not fit
/// is refused and `out` is left as it was.
pub fn record_to_messages(
    record: &[u8],
    offsets: impl RangeBounds<u64>,
    out: &mut BytesMut,
) -> Result<u32, BatchError> {
    let (header, frames) = selected_frames(record, offsets)?;
    let mut written = 0u32;
    for frame in frames {
        let start = out.len();
        put_header(
            out,
            0,
            frame.id,
            header.base_offset.wrapping_add(u64::from(frame.offset_delta)),
            header.base_timestamp,
            header.origin_timestamp.wrapping_add(u64::from(frame.timestamp_delta)),
        );
        out.put_u32_le(frame.user_headers_length);
        out.put_u32_le(frame.payload_length);
        out.put_u64_le(0);
        out.put_slice(frame.payload(record));
        out.put_slice(frame.user_headers(record));
        let checksum = xxh3_64(&out[start + 8..]);
        out[start..start + 8].copy_from_slice(&checksum.to_le_bytes());
        written += 1;
    }
    Ok(written)
}

/// Bytes and messages [`record_to_messages`] would write for the same arguments, so the
/// caller can size the reply (and its `messages_count`) before converting. A legacy message
/// is its frame plus 16 bytes (64-byte header instead of 48).
pub fn legacy_messages_len(record: &[u8], offsets: impl RangeBounds<u64>) -> Result<(usize, u32), BatchError> {
    let (_, frames) = selected_frames(record, offsets)?;
    Ok(frames.fold((0, 0), |(bytes, count), frame| {
        (bytes + frame.end - frame.start + MESSAGE_HEADER_SIZE - FRAME_HEADER_SIZE, count + 1)
    }))
}

/// The record's header and its frames in `offsets`, after checking that every declared frame
/// fits (so the caller writes nothing for a broken record).
fn selected_frames(
    record: &[u8],
    offsets: impl RangeBounds<u64>,
) -> Result<(BatchHeader, impl Iterator<Item = Frame>), BatchError> {
    let header = BatchHeader::read(record)?;
    let found = Frames::new(record).count();
    if found != header.message_count as usize {
        return Err(BatchError::FrameOutOfBounds { index: found as u32 });
    }
    let base_offset = header.base_offset;
    let frames = Frames::new(record)
        .filter(move |frame| offsets.contains(&base_offset.wrapping_add(u64::from(frame.offset_delta))));
    Ok((header, frames))
}
