//! Fuzz targets for the 0.11 batch record (protocol.md §6.1): the validator every
//! SendMessages body goes through, the frame walker, the header reader, slicing for polls,
//! stamping, and the SendMessages body as the server splits it.
//!
//! Records are built with `RecordBuilder`, as a producer would, then mutated. A longer
//! campaign: `WHIPPET_FUZZ_CASES=1000000 cargo test -p whippet-protocol --release --test fuzz_batch`
//! (see FUZZING.md).

mod fuzz;

use bytes::{Bytes, BytesMut};
use fuzz::values::{identifier, partitioning};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseResult;
use whippet_protocol::batch::{
    self, BATCH_HEADER_SIZE, BatchHeader, FRAME_HEADER_SIZE, Frames, RecordBuilder, Verify, frame_checksum,
};
use whippet_protocol::requests::SendMessagesHeader;

/// One message as a producer hands it over.
#[derive(Debug, Clone)]
struct Message {
    id: u128,
    /// µs after the record's origin timestamp; past `u32::MAX` the builder saturates.
    after_origin: u64,
    payload: Vec<u8>,
    user_headers: Vec<u8>,
}

fn message() -> impl Strategy<Value = Message> {
    let after_origin =
        prop_oneof![8 => 0u64..1_000_000, 1 => Just(u64::from(u32::MAX)), 1 => 0u64..u64::from(u32::MAX) * 2];
    let payload =
        prop_oneof![8 => prop::collection::vec(any::<u8>(), 1..64), 1 => prop::collection::vec(any::<u8>(), 1..2048)];
    (any::<u128>(), after_origin, payload, prop::collection::vec(any::<u8>(), 0..24))
        .prop_map(|(id, after_origin, payload, user_headers)| Message { id, after_origin, payload, user_headers })
}

/// A record's origin timestamp and its messages.
#[derive(Debug, Clone)]
struct Batch {
    origin_timestamp: u64,
    messages: Vec<Message>,
}

impl Batch {
    fn record(&self) -> BytesMut {
        let mut builder = RecordBuilder::new(self.origin_timestamp);
        for message in &self.messages {
            let timestamp = self.origin_timestamp + message.after_origin;
            builder.push(message.id, timestamp, &message.payload, &message.user_headers);
        }
        builder.finish()
    }
}

fn batch() -> impl Strategy<Value = Batch> {
    (0u64..u64::MAX / 2, prop::collection::vec(message(), 1..8))
        .prop_map(|(origin_timestamp, messages)| Batch { origin_timestamp, messages })
}

fn records() -> impl Strategy<Value = Vec<u8>> {
    batch().prop_map(|batch| batch.record().to_vec())
}

/// What a structurally valid record guarantees its readers: `message_count` frames, back to
/// back from the header to the end, dense deltas, every accessor within bounds; with
/// checksums verified, every checksum reproducible.
fn check_accepted(record: &[u8], header: &BatchHeader, checksums: bool) -> TestCaseResult {
    prop_assert_eq!(header.batch_length, record.len() as u64);
    let mut end = BATCH_HEADER_SIZE;
    let mut count = 0u32;
    for frame in Frames::new(record) {
        prop_assert_eq!(frame.start, end);
        prop_assert!(frame.end <= record.len());
        prop_assert_eq!(frame.offset_delta, count);
        prop_assert_eq!(frame.payload(record).len(), frame.payload_length as usize);
        let user_headers = frame.user_headers(record).len();
        prop_assert_eq!(user_headers, frame.user_headers_length as usize);
        prop_assert_eq!(frame.end - frame.start, FRAME_HEADER_SIZE + frame.payload_length as usize + user_headers);
        if checksums {
            prop_assert_eq!(frame_checksum(&record[frame.start..frame.end]), frame.checksum);
        }
        end = frame.end;
        count += 1;
    }
    prop_assert_eq!(count, header.message_count);
    prop_assert_eq!(end, record.len());
    if checksums {
        prop_assert_eq!(batch::batch_checksum(record), header.batch_checksum);
    }
    Ok(())
}

/// Validates `record` both ways; whatever passes must hold what [`check_accepted`] checks.
fn validate_both(record: &[u8]) -> TestCaseResult {
    let structure = fuzz::allocation::bounded(record.len(), || batch::validate(record, Verify::STRUCTURE))?;
    let all = fuzz::allocation::bounded(record.len(), || batch::validate(record, Verify::ALL))?;
    if let Ok(header) = &structure {
        check_accepted(record, header, false)?;
    }
    if let Ok(header) = &all {
        prop_assert_eq!(structure.as_ref().ok(), Some(header), "checksums passed where the structure did not");
        check_accepted(record, header, true)?;
    }
    Ok(())
}

mod validate {
    use super::*;

    #[test]
    fn bad_input_never_panics() {
        fuzz::check(fuzz::fuzzed(records()), |record| validate_both(&record));
    }

    /// Built records validate, and their frames give back each message as pushed.
    #[test]
    fn built_records_validate() {
        fuzz::check(batch(), |batch| {
            let record = batch.record();
            let header = batch::validate(&record, Verify::ALL);
            prop_assert!(header.is_ok(), "{header:?}");
            let Ok(header) = header else { return Ok(()) };
            prop_assert_eq!(header.message_count as usize, batch.messages.len());
            prop_assert_eq!(header.origin_timestamp, batch.origin_timestamp);
            prop_assert_eq!((header.partition_id, header.base_offset, header.base_timestamp), (0, 0, 0));
            check_accepted(&record, &header, true)?;
            for (frame, message) in Frames::new(&record).zip(&batch.messages) {
                prop_assert_eq!(frame.id, message.id);
                prop_assert_eq!(u64::from(frame.timestamp_delta), message.after_origin.min(u64::from(u32::MAX)));
                prop_assert_eq!(frame.payload(&record), &message.payload[..]);
                prop_assert_eq!(frame.user_headers(&record), &message.user_headers[..]);
            }
            Ok(())
        });
    }

    /// Every byte of a record is covered by a check: the header fields and frame checksums
    /// by the batch checksum, the reserved bytes by the zero rule, the rest of each frame by
    /// its checksum. Any one changed byte is refused with checksums verified; without them,
    /// whatever still passes keeps its frames within bounds.
    #[test]
    fn any_changed_byte_is_refused() {
        fuzz::check((records(), any::<Index>(), 1u8..=255), |(mut record, at, mask)| {
            let at = at.index(record.len());
            record[at] ^= mask;
            let result = batch::validate(&record, Verify::ALL);
            prop_assert!(result.is_err(), "flipping byte {at} with {mask:#04x} went unnoticed: {result:?}");
            validate_both(&record)
        });
    }

    /// The SDK's own record, mutated.
    #[test]
    fn sdk_record_mutations_never_panic() {
        fuzz::check(fuzz::mutated(Just(sdk_record())), |record| validate_both(&record));
    }
}

/// The frame walker and the header reader take any bytes: frames stay within the record and
/// never outnumber the count.
#[test]
fn frames_stay_in_bounds() {
    fuzz::check(fuzz::fuzzed(records()), |record| {
        let header = BatchHeader::read(&record);
        prop_assert_eq!(header.is_ok(), record.len() >= BATCH_HEADER_SIZE);
        let mut end = BATCH_HEADER_SIZE;
        let mut count = 0u32;
        for frame in Frames::new(&record) {
            prop_assert_eq!(frame.start, end);
            prop_assert!(frame.end <= record.len());
            frame.payload(&record);
            frame.user_headers(&record);
            end = frame.end;
            count += 1;
        }
        prop_assert!(header.is_ok_and(|header| count <= header.message_count) || count == 0);
        Ok(())
    });
}

/// `end_offset` of a header read from untrusted bytes (a poll reply, a damaged segment),
/// with the base offset often near the top of its range.
#[test]
fn end_offset_never_panics() {
    let base_offset = prop_oneof![u64::MAX - 16..=u64::MAX, any::<u64>()];
    fuzz::check((fuzz::fuzzed(records()), base_offset), |(mut record, base_offset)| {
        if record.len() >= 16 {
            record[8..16].copy_from_slice(&base_offset.to_le_bytes());
        }
        if let Ok(header) = BatchHeader::read(&record) {
            header.end_offset();
        }
        Ok(())
    });
}

/// The smallest header that makes `end_offset` overflow: base offset `u64::MAX`, one message.
#[test]
fn end_offset_minimal_reproducer() {
    let mut record = [0u8; BATCH_HEADER_SIZE];
    record[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    record[48..52].copy_from_slice(&1u32.to_le_bytes());
    let header = BatchHeader::read(&record).expect("a 256-byte header reads");
    assert_eq!(header.end_offset(), u64::MAX, "saturates instead of overflowing");
}

/// A valid record stamped by the server, and a range of its offset deltas.
fn stamped() -> impl Strategy<Value = (Batch, Bytes, u32, u32)> {
    (batch(), any::<u64>(), any::<u64>(), any::<u64>(), any::<Index>(), any::<Index>()).prop_map(
        |(batch, partition_id, base_offset, base_timestamp, from, to)| {
            let mut record = batch.record();
            batch::stamp(&mut record, partition_id, base_offset, base_timestamp);
            let bound = batch.messages.len() + 2;
            let (from, to) = (from.index(bound) as u32, to.index(bound) as u32);
            (batch, record.freeze(), from, to)
        },
    )
}

mod slice {
    use super::*;

    /// A slice of a valid record holds exactly the messages asked for, with their original
    /// offset deltas (so absolute offsets stay right), in bounds, with a length, count and
    /// batch checksum recomputed for them. `validate` wants deltas from 0, so it accepts
    /// exactly the slices that start at the first message.
    #[test]
    fn slices_of_valid_records_are_valid() {
        fuzz::check(stamped(), |(batch, record, from, to)| {
            let original = batch::validate(&record, Verify::ALL);
            prop_assert!(original.is_ok(), "stamping broke the record: {original:?}");
            let Ok(original) = original else { return Ok(()) };
            let kept: Vec<(u32, &Message)> =
                (0u32..).zip(&batch.messages).filter(|(delta, _)| (from..to).contains(delta)).collect();
            let Some(sliced) = batch::slice(&record, from, to) else {
                prop_assert!(kept.is_empty(), "slice {from}..{to} came back empty");
                return Ok(());
            };
            let joined = [&sliced.header[..], &sliced.frames[..]].concat();
            let header = BatchHeader::read(&joined).map_err(|error| TestCaseError::fail(error.to_string()))?;
            prop_assert_eq!(header.batch_length, joined.len() as u64);
            prop_assert_eq!(header.message_count as usize, kept.len());
            prop_assert_eq!(
                (header.partition_id, header.base_offset, header.base_timestamp, header.origin_timestamp),
                (original.partition_id, original.base_offset, original.base_timestamp, original.origin_timestamp)
            );
            prop_assert_eq!(batch::batch_checksum(&joined), header.batch_checksum);
            let mut end = BATCH_HEADER_SIZE;
            let mut frames = 0;
            for (frame, (delta, message)) in Frames::new(&joined).zip(&kept) {
                prop_assert_eq!((frame.start, frame.offset_delta, frame.id), (end, *delta, message.id));
                prop_assert_eq!(frame.payload(&joined), &message.payload[..]);
                prop_assert_eq!(frame_checksum(&joined[frame.start..frame.end]), frame.checksum);
                end = frame.end;
                frames += 1;
            }
            prop_assert_eq!((end, frames), (joined.len(), kept.len()));
            prop_assert_eq!(batch::validate(&joined, Verify::ALL).is_ok(), kept[0].0 == 0);
            Ok(())
        });
    }

    /// Slicing expects a validated record; it still must not panic on anything else.
    #[test]
    fn bad_input_never_panics() {
        fuzz::check((fuzz::fuzzed(records()), any::<u32>(), any::<u32>()), |(record, from, to)| {
            let record = Bytes::from(record);
            if let Some(sliced) = fuzz::allocation::bounded(record.len(), || batch::slice(&record, from, to))? {
                prop_assert!(sliced.frames.len() <= record.len());
            }
            Ok(())
        });
    }
}

/// Stamping the server fields and moving the origin keep a record valid and touch only the
/// header.
#[test]
fn stamping_keeps_records_valid() {
    fuzz::check((batch(), any::<[u64; 4]>()), |(batch, [partition_id, base_offset, base_timestamp, origin])| {
        let built = batch.record();
        let mut record = built.clone();
        batch::stamp(&mut record, partition_id, base_offset, base_timestamp);
        batch::restamp_origin(&mut record, origin);
        let header = batch::validate(&record, Verify::ALL);
        prop_assert!(header.is_ok(), "{header:?}");
        let Ok(header) = header else { return Ok(()) };
        prop_assert_eq!(
            (header.partition_id, header.base_offset, header.base_timestamp, header.origin_timestamp),
            (partition_id, base_offset, base_timestamp, origin)
        );
        prop_assert_eq!(&record[BATCH_HEADER_SIZE..], &built[BATCH_HEADER_SIZE..]);
        Ok(())
    });
}

// --- the SendMessages body: metadata, then the record (§5.6, §6.1) ---

const SDK_SEND_BODY: &str = include_str!("../src/batch/sdk_send_messages_0.11.hex");

fn sdk_record() -> Vec<u8> {
    let body = fuzz::hex(SDK_SEND_BODY);
    let header = SendMessagesHeader::decode(&body).expect("the SDK's SendMessages body decodes");
    body[header.batch_start..].to_vec()
}

fn send_body() -> impl Strategy<Value = Vec<u8>> {
    (identifier(), identifier(), partitioning(), batch()).prop_map(|(stream, topic, partitioning, batch)| {
        let header = SendMessagesHeader::new(stream, topic, partitioning, batch.messages.len() as u32);
        let mut body = fuzz::encoded(&header, SendMessagesHeader::encode);
        body.extend_from_slice(&batch.record());
        body
    })
}

/// A SendMessages body as the server takes it apart: metadata, then the record after it,
/// whose count must match.
fn take_apart(body: &[u8]) -> TestCaseResult {
    let Ok(header) = fuzz::allocation::bounded(body.len(), || SendMessagesHeader::decode(body))? else {
        return Ok(());
    };
    prop_assert!(header.batch_start <= body.len());
    validate_both(&body[header.batch_start..])
}

mod send_messages_body {
    use super::*;

    #[test]
    fn bad_input_never_panics() {
        fuzz::check(fuzz::fuzzed_with(send_body(), vec![fuzz::hex(SDK_SEND_BODY)]), |body| take_apart(&body));
    }

    #[test]
    fn valid_bodies_take_apart() {
        fuzz::check(send_body(), |body| {
            let header = SendMessagesHeader::decode(&body);
            prop_assert!(header.is_ok(), "{header:?}");
            let Ok(header) = header else { return Ok(()) };
            let record = batch::validate(&body[header.batch_start..], Verify::ALL);
            prop_assert_eq!(record.map(|record| record.message_count), Ok(header.messages_count));
            Ok(())
        });
    }
}
