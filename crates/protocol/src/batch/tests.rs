use super::*;
use proptest::prelude::*;

/// SendMessages body produced by the real SDK 0.11.0 encoder (../shared/protocol-vectors-0.11.txt):
/// stream 0, topic "orders", PartitionId(0), messages id 1 "hello" at 1,000,000 µs and id 2
/// "world!" at 1,000,010 µs.
const SDK_SEND_BODY: &str = include_str!("sdk_send_messages_0.11.hex");

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

fn sdk_record() -> Bytes {
    let body = hex(SDK_SEND_BODY);
    assert_eq!(body.len(), 391);
    let metadata_length = u32::from_le_bytes(body[0..4].try_into().unwrap()) as usize;
    Bytes::copy_from_slice(&body[4 + metadata_length..])
}

fn two_messages() -> BytesMut {
    let mut builder = RecordBuilder::new(1_000_000);
    builder.push(1, 1_000_000, b"hello", b"").push(2, 1_000_010, b"world!", b"");
    builder.finish()
}

#[test]
fn decodes_the_sdk_batch_and_reproduces_its_checksums() {
    let record = sdk_record();
    let header = validate(&record, Verify::ALL).unwrap();
    assert_eq!(header.message_count, 2);
    assert_eq!(header.batch_length, 363);
    assert_eq!(header.origin_timestamp, 1_000_000);
    assert_eq!(header.batch_checksum, 0xaf72_022a_1dc7_1b41);
    assert_eq!(batch_checksum(&record), header.batch_checksum);

    let frames: Vec<Frame> = Frames::new(&record).collect();
    assert_eq!(frames.len(), 2);
    assert_eq!((frames[0].id, frames[1].id), (1, 2));
    assert_eq!((frames[0].timestamp_delta, frames[1].timestamp_delta), (0, 10));
    assert_eq!(frames[0].payload(&record), b"hello");
    assert_eq!(frames[1].payload(&record), b"world!");
    assert_eq!(frames[0].checksum, 0xb9bf_bddb_9ea5_5c8e);
    assert_eq!(frames[1].checksum, 0x5445_87a5_3f76_1b9b);
    for frame in &frames {
        assert_eq!(frame_checksum(&record[frame.start..frame.end]), frame.checksum);
    }
}

#[test]
fn builder_writes_the_same_bytes_as_the_sdk() {
    assert_eq!(&two_messages()[..], &sdk_record()[..]);
}

#[test]
fn stamping_keeps_the_record_valid_and_changes_only_server_fields() {
    let mut record = BytesMut::from(&sdk_record()[..]);
    stamp(&mut record, 7, 1_000, 1_700_000_000_000_000);
    let header = validate(&record, Verify::ALL).unwrap();
    assert_eq!((header.partition_id, header.base_offset), (7, 1_000));
    assert_eq!(header.base_timestamp, 1_700_000_000_000_000);
    assert_ne!(header.batch_checksum, 0xaf72_022a_1dc7_1b41);
    assert_eq!(&record[48..], &sdk_record()[48..]);
}

fn refused(mut record: BytesMut, edit: impl FnOnce(&mut BytesMut)) -> BatchError {
    edit(&mut record);
    validate(&record, Verify::ALL).unwrap_err()
}

#[test]
fn every_structural_fault_is_named() {
    assert_eq!(refused(two_messages(), |r| r.truncate(100)), BatchError::TooShort { length: 100 });
    assert!(matches!(refused(two_messages(), |r| r.truncate(300)), BatchError::LengthMismatch { .. }));
    assert_eq!(refused(two_messages(), |r| r[60] = 1), BatchError::HeaderReservedNotZero { at: 60 });
    assert_eq!(refused(two_messages(), |r| r[48..52].copy_from_slice(&0u32.to_le_bytes())), BatchError::Empty);
    assert_eq!(
        refused(two_messages(), |r| r[48..52].copy_from_slice(&3u32.to_le_bytes())),
        BatchError::FrameOutOfBounds { index: 2 }
    );
    assert_eq!(
        refused(two_messages(), |r| r[48..52].copy_from_slice(&1u32.to_le_bytes())),
        BatchError::TrailingBytes { trailing: 54 }
    );
    assert_eq!(refused(two_messages(), |r| r[256 + 24] = 5), BatchError::OffsetDelta { index: 0, found: 5 });
    assert_eq!(refused(two_messages(), |r| r[256 + 41] = 1), BatchError::FrameReservedNotZero { index: 0 });
    assert_eq!(refused(two_messages(), |r| r[256 + 50] ^= 1), BatchError::FrameChecksum { index: 0 });
    assert_eq!(refused(two_messages(), |r| r[0] = 1), BatchError::BatchChecksum);
    assert_eq!(
        refused(two_messages(), |r| r[256 + 36..256 + 40].copy_from_slice(&u32::MAX.to_le_bytes())),
        BatchError::FrameOutOfBounds { index: 0 }
    );
    let mut empty = RecordBuilder::new(0);
    empty.push(1, 0, b"", b"");
    assert_eq!(validate(&empty.finish(), Verify::ALL).unwrap_err(), BatchError::EmptyPayload { index: 0 });
}

fn record_of(count: u32) -> Bytes {
    let mut builder = RecordBuilder::new(500);
    for i in 0..count {
        let payload = vec![i as u8; 10 + i as usize];
        builder.push(u128::from(i) + 1, 500 + u64::from(i), &payload, b"\x02\x01\0\0\0k\x02\x01\0\0\0v");
    }
    let mut record = builder.finish();
    stamp(&mut record, 3, 40, 9_000);
    record.freeze()
}

#[test]
fn a_slice_keeps_base_fields_and_the_original_deltas() {
    let record = record_of(5);
    let sliced = slice(&record, 2, 4).unwrap();
    let mut joined = BytesMut::from(&sliced.header[..]);
    joined.extend_from_slice(&sliced.frames);
    let header = validate(&joined, Verify::ALL).unwrap_err();
    // A slice starts at offset_delta 2, which plain validation (made for sends) refuses;
    // everything else must hold, and the SDK walks it by batch_length.
    assert_eq!(header, BatchError::OffsetDelta { index: 0, found: 2 });
    let fields = BatchHeader::read(&joined).unwrap();
    assert_eq!((fields.base_offset, fields.partition_id, fields.base_timestamp), (40, 3, 9_000));
    assert_eq!(fields.message_count, 2);
    assert_eq!(fields.batch_length, joined.len() as u64);
    assert_eq!(fields.batch_checksum, batch_checksum(&joined));
    let deltas: Vec<u32> = Frames::new(&joined).map(|f| f.offset_delta).collect();
    assert_eq!(deltas, [2, 3]);
    assert!(slice(&record, 3, 3).is_none());
    assert!(slice(&record, 9, 12).is_none());
    let whole = slice(&record, 0, 5).unwrap();
    assert_eq!(&whole.frames[..], &record[BATCH_HEADER_SIZE..]);
}

proptest! {
    #[test]
    fn any_single_byte_change_is_detected(count in 1u32..6, at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let record = record_of(count);
        let mut damaged = BytesMut::from(&record[..]);
        let at = at.index(damaged.len());
        damaged[at] ^= flip;
        prop_assert!(validate(&damaged, Verify::ALL).is_err());
    }

    #[test]
    fn built_records_always_validate(sizes in prop::collection::vec((1usize..300, 0usize..40), 1..20)) {
        let mut builder = RecordBuilder::new(1);
        for (i, (payload, headers)) in sizes.iter().enumerate() {
            builder.push(i as u128, 1 + i as u64, &vec![7u8; *payload], &vec![1u8; *headers]);
        }
        let record = builder.finish();
        let header = validate(&record, Verify::ALL).unwrap();
        prop_assert_eq!(header.message_count as usize, sizes.len());
    }
}

#[test]
fn restamping_the_origin_keeps_the_record_valid_and_the_deltas() {
    let mut record = two_messages();
    restamp_origin(&mut record, 5_000_000);
    let header = validate(&record, Verify::ALL).unwrap();
    assert_eq!(header.origin_timestamp, 5_000_000);
    let deltas: Vec<u32> = Frames::new(&record).map(|frame| frame.timestamp_delta).collect();
    assert_eq!(deltas, [0, 10]);
    let mut original = two_messages();
    restamp_origin(&mut original, 1_000_000);
    assert_eq!(original, two_messages(), "restamping with the same origin is a no-op");
}
