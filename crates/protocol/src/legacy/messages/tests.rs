use super::*;
use crate::batch::{self, BatchError, Frames, RecordBuilder, Verify};
use crate::requests::SendMessagesHeader;
use crate::status::ErrorCode;
use crate::test_support::hex;
use crate::types::{Identifier, Partitioning};
use bytes::Bytes;
use proptest::prelude::*;

/// The 0.11 SDK's SendMessages body for id 1 "hello" at 1,000,000 µs and id 2 "world!" at
/// 1,000,010 µs (protocol-vectors-0.11.txt), the reference for what a converted send must be.
const SDK_SEND_BODY_0_11: &str = include_str!("../../batch/sdk_send_messages_0.11.hex");

fn message<'a>(id: u128, origin_timestamp: u64, payload: &'a [u8], user_headers: &'a [u8]) -> OutgoingMessage<'a> {
    OutgoingMessage { id, origin_timestamp, payload, user_headers }
}

fn body(messages: &[OutgoingMessage<'_>]) -> BytesMut {
    let mut buffer = BytesMut::new();
    encode_send_body(messages, &mut buffer);
    buffer
}

/// Fresh ids 0xF000…, counting up, so tests can tell them from the client's.
fn fresh_ids() -> impl FnMut() -> u128 {
    let mut next = 0xF000_0000_0000_0000_0000_0000_0000_0000u128;
    move || {
        next += 1;
        next
    }
}

fn convert(body: &[u8], count: u32) -> Result<Vec<BytesMut>, SendError> {
    send_to_record(body, count, &mut fresh_ids())
}

/// Stamps records as the server would: consecutive base offsets from `base_offset`.
fn stamp_all(records: &mut [BytesMut], base_offset: u64, base_timestamp: u64) {
    let mut offset = base_offset;
    for record in records {
        let count = batch::validate(record, Verify::ALL).unwrap().message_count;
        batch::stamp(record, 7, offset, base_timestamp);
        offset += u64::from(count);
    }
}

fn poll(records: &[BytesMut]) -> Vec<LegacyMessage> {
    let mut out = BytesMut::new();
    for record in records {
        record_to_messages(record, .., &mut out).unwrap();
    }
    decode_messages(&out).unwrap()
}

#[test]
fn two_five_byte_messages_index_at_69_and_138() {
    let header = SendMessagesHeader::new(
        Identifier::Numeric(0),
        Identifier::named("orders").unwrap(),
        Partitioning::Balanced,
        2,
    );
    let mut request = BytesMut::new();
    header.encode(&mut request);
    encode_send_body(&[message(0, 5, b"hello", b""), message(0, 6, b"world", b"")], &mut request);

    let decoded = SendMessagesHeader::decode(&request).unwrap();
    assert_eq!((decoded.messages_count, decoded.partitioning), (2, Partitioning::Balanced));
    let body = &request[decoded.batch_start..];
    assert_eq!(body.len(), 2 * INDEX_ENTRY_SIZE + 138);
    assert_eq!(&body[..16], &hex("00000000450000000000000000000000")[..], "offset 0, position 69, timestamp 0");
    assert_eq!(&body[16..32], &hex("000000008a0000000000000000000000")[..], "position 138");
    let first = &body[32..32 + 69];
    assert_eq!(&first[..8], &[0; 8], "the SDK leaves the checksum to the server");
    assert_eq!(&first[40..48], &5u64.to_le_bytes());
    assert_eq!(&first[48..56], &hex("0000000005000000")[..], "user headers length, then payload length");
    assert_eq!(&first[56..], b"\0\0\0\0\0\0\0\0hello");
}

#[test]
fn a_converted_send_is_byte_identical_to_the_0_11_sdk_record() {
    let body = body(&[message(1, 1_000_000, b"hello", b""), message(2, 1_000_010, b"world!", b"")]);
    let records = convert(&body, 2).unwrap();
    assert_eq!(records.len(), 1);
    let sdk = hex(SDK_SEND_BODY_0_11);
    let metadata_length = u32::from_le_bytes(sdk[0..4].try_into().unwrap()) as usize;
    assert_eq!(&records[0][..], &sdk[4 + metadata_length..]);
}

#[test]
fn ids_of_zero_get_fresh_ones_and_everything_else_is_kept() {
    let headers = hex("02010000006b020100000076");
    let body = body(&[message(0, 10, b"a", &headers), message(42, 30, b"bb", b""), message(0, 20, b"ccc", b"")]);
    let mut records = convert(&body, 3).unwrap();
    assert_eq!(records.len(), 1);
    let header = batch::validate(&records[0], Verify::ALL).unwrap();
    assert_eq!((header.origin_timestamp, header.message_count), (10, 3));
    assert_eq!((header.partition_id, header.base_offset, header.base_timestamp), (0, 0, 0), "left for the server");
    let frames: Vec<_> = Frames::new(&records[0]).collect();
    assert_eq!(
        frames.iter().map(|f| f.id).collect::<Vec<_>>(),
        vec![0xF000_0000_0000_0000_0000_0000_0000_0001, 42, 0xF000_0000_0000_0000_0000_0000_0000_0002]
    );
    assert_eq!(frames.iter().map(|f| f.timestamp_delta).collect::<Vec<_>>(), vec![0, 20, 10]);
    assert_eq!(frames[0].user_headers(&records[0]), &headers[..]);

    stamp_all(&mut records, 100, 5_000);
    let polled = poll(&records);
    assert_eq!(polled.iter().map(|m| m.offset).collect::<Vec<_>>(), vec![100, 101, 102]);
    assert_eq!(polled.iter().map(|m| m.origin_timestamp).collect::<Vec<_>>(), vec![10, 30, 20]);
    assert!(polled.iter().all(|m| m.timestamp == 5_000 && m.reserved == 0));
    assert_eq!(polled[1].id, 42);
    assert_eq!((&polled[0].payload[..], &polled[0].user_headers[..]), (&b"a"[..], &headers[..]));
    assert_eq!(&polled[2].payload[..], b"ccc");
}

#[test]
fn polled_messages_carry_the_checksum_server_0_8_stores() {
    let mut records =
        convert(&body(&[message(9, 1, b"payload", b"\x02\x01\x00\x00\x00k\x02\x01\x00\x00\x00v")]), 1).unwrap();
    stamp_all(&mut records, 0, 77);
    let mut out = BytesMut::new();
    assert_eq!(record_to_messages(&records[0], .., &mut out), Ok(1));
    assert_eq!(out.len(), 64 + 7 + 12);
    // xxh3 over header bytes 8..64 (reserved included), the payload and the user headers.
    assert_eq!(&out[..8], &xxh3_64(&out[8..]).to_le_bytes());
    let polled = decode_messages(&out).unwrap();
    assert_eq!(polled[0].checksum, polled[0].expected_checksum());
    let mut resealed = polled[0].clone();
    resealed.checksum = 0;
    resealed.seal();
    assert_eq!(resealed, polled[0]);
}

#[test]
fn a_sliced_record_keeps_absolute_offsets() {
    let payloads: [&[u8]; 5] = [b"0", b"1", b"2", b"3", b"4"];
    let messages: Vec<_> =
        payloads.iter().enumerate().map(|(i, p)| message(i as u128 + 1, 1_000 + i as u64, p, b"")).collect();
    let mut records = convert(&body(&messages), 5).unwrap();
    stamp_all(&mut records, 1_000, 9);
    let stored = Bytes::copy_from_slice(&records[0]);

    let sliced = batch::slice(&stored, 2, 4).unwrap();
    let mut record = BytesMut::from(&sliced.header[..]);
    record.extend_from_slice(&sliced.frames);
    let mut out = BytesMut::new();
    assert_eq!(record_to_messages(&record, .., &mut out), Ok(2));
    assert_eq!(legacy_messages_len(&record, ..), Ok((out.len(), 2)));
    let polled = decode_messages(&out).unwrap();
    assert_eq!(
        polled.iter().map(|m| (m.offset, m.id, m.origin_timestamp)).collect::<Vec<_>>(),
        vec![(1_002, 3, 1_002), (1_003, 4, 1_003)]
    );
    assert_eq!(&polled[0].payload[..], b"2");

    // The same through the offset range, on the whole record.
    let mut ranged = BytesMut::new();
    assert_eq!(record_to_messages(&stored, 1_002..1_004, &mut ranged), Ok(2));
    assert_eq!(ranged, out);
    assert_eq!(record_to_messages(&stored, 2_000.., &mut BytesMut::new()), Ok(0));
    assert_eq!(legacy_messages_len(&stored, ..), Ok((5 * (64 + 1), 5)));
}

#[test]
fn a_broken_record_writes_nothing() {
    let mut record = RecordBuilder::new(0);
    record.push(1, 0, b"x", b"").push(2, 0, b"y", b"");
    let record = record.finish();
    let mut out = BytesMut::from(&b"prefix"[..]);
    assert_eq!(
        record_to_messages(&record[..record.len() - 1], .., &mut out),
        Err(BatchError::FrameOutOfBounds { index: 1 })
    );
    assert_eq!(&out[..], b"prefix");
    assert_eq!(record_to_messages(&record[..100], .., &mut out), Err(BatchError::TooShort { length: 100 }));
    assert!(legacy_messages_len(&record[..300], ..).is_err());
}

#[test]
fn origin_timestamps_more_than_u32_micros_apart_start_a_new_record() {
    let late = 1_700_000_000_000_000;
    let messages = [
        message(1, late, b"a", b""),
        message(2, 0, b"b", b""),
        message(3, 5, b"c", b""),
        message(4, late + 1, b"d", b""),
    ];
    let mut records = convert(&body(&messages), 4).unwrap();
    assert_eq!(records.iter().map(|r| Frames::new(r).count()).collect::<Vec<_>>(), vec![1, 2, 1]);
    stamp_all(&mut records, 50, 1);
    let polled = poll(&records);
    assert_eq!(
        polled.iter().map(|m| (m.offset, m.id, m.origin_timestamp)).collect::<Vec<_>>(),
        vec![(50, 1, late), (51, 2, 0), (52, 3, 5), (53, 4, late + 1)]
    );

    let edge = [message(1, 0, b"a", b""), message(2, u64::from(u32::MAX), b"b", b"")];
    assert_eq!(convert(&body(&edge), 2).unwrap().len(), 1, "a delta of exactly u32::MAX fits");
}

#[test]
fn poll_reply_is_the_prefix_then_messages() {
    let mut records = convert(&body(&[message(5, 1, b"m", b"")]), 1).unwrap();
    stamp_all(&mut records, 3, 4);
    let mut reply = BytesMut::new();
    PollReplyPrefix { partition_id: 7, current_offset: 3, messages_count: 1 }.encode(&mut reply);
    record_to_messages(&records[0], .., &mut reply).unwrap();
    let (prefix, messages) = decode_poll_reply(&reply).unwrap();
    assert_eq!((prefix.partition_id, prefix.current_offset, prefix.messages_count), (7, 3, 1));
    assert_eq!((messages[0].offset, messages[0].id), (3, 5));
    assert_eq!(decode_poll_reply(&reply[..16]).unwrap().1, vec![]);
    assert!(decode_messages(&reply[16..reply.len() - 1]).is_err(), "a truncated message is an error");
}

fn refused(count: u32, edit: impl FnOnce(&mut BytesMut)) -> SendError {
    let mut body = body(&[message(0, 1, b"hello", b""), message(0, 2, b"world", b"")]);
    edit(&mut body);
    convert(&body, count).unwrap_err()
}

fn put_u32(body: &mut BytesMut, at: usize, value: u32) {
    body[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn every_validation_fault_has_its_status() {
    // Index entry i is at 16 i; message 0 at 32, message 1 at 32 + 69.
    let cases: Vec<(SendError, ErrorCode)> = vec![
        (refused(0, |_| {}), ErrorCode::InvalidMessagesCount),
        (refused(20, |_| {}), ErrorCode::InvalidIndexesCount),
        (refused(2, |b| put_u32(b, 16, 9)), ErrorCode::NonZeroOffset),
        (refused(2, |b| b[16 + 8] = 1), ErrorCode::NonZeroTimestamp),
        (refused(2, |b| put_u32(b, 20, 68)), ErrorCode::MissingIndex),
        (refused(2, |b| put_u32(b, 20, 139)), ErrorCode::MissingIndex),
        (refused(2, |b| put_u32(b, 4, 63)), ErrorCode::MissingIndex),
        (refused(2, |b| put_u32(b, 32 + 52, 6)), ErrorCode::InvalidMessagesSize),
        (refused(2, |b| b.truncate(b.len() - 1)), ErrorCode::MissingIndex),
        (refused(2, |b| b.extend_from_slice(b"x")), ErrorCode::InvalidMessagesSize),
        (refused(1, |_| {}), ErrorCode::InvalidMessagesSize),
    ];
    let expected_errors = [
        SendError::NoMessages,
        SendError::IndexesTruncated { count: 20, needed: 320, available: 170 },
        SendError::NonZeroOffset { index: 1, offset: 9 },
        SendError::NonZeroTimestamp { index: 1, timestamp: 1 },
        SendError::PositionDecreasing { index: 1, position: 68, previous: 69 },
        SendError::PositionOutOfBounds { index: 1, position: 139, section: 138 },
        SendError::MessageTooSmall { index: 0, size: 63 },
        SendError::MessageSizeMismatch { index: 0, declared: 70, indexed: 69 },
        SendError::PositionOutOfBounds { index: 1, position: 138, section: 137 },
        SendError::SectionSizeMismatch { indexed: 138, section: 139 },
        // With a count of 1 the second index entry is read as the start of message 0.
        SendError::MessageSizeMismatch { index: 0, declared: 64, indexed: 69 },
    ];
    for ((error, code), expected) in cases.into_iter().zip(expected_errors) {
        assert_eq!(error, expected);
        assert_eq!(ErrorCode::from(error), code);
    }

    let one = |payload: &[u8], user_headers: &[u8]| convert(&body(&[message(0, 0, payload, user_headers)]), 1);
    let empty = one(b"", b"").unwrap_err();
    assert_eq!(
        (empty.clone(), empty.code()),
        (SendError::EmptyPayload { index: 0 }, ErrorCode::InvalidMessagePayloadLength)
    );
    let headers = vec![1u8; batch::MAX_USER_HEADERS_SIZE as usize + 1];
    let error = one(b"p", &headers).unwrap_err();
    assert_eq!(
        (error.clone(), error.code()),
        (SendError::UserHeadersTooLarge { index: 0, length: 100_001 }, ErrorCode::TooBigUserHeaders)
    );
    assert!(one(b"p", &headers[1..]).is_ok(), "exactly 100,000 header bytes are allowed");
}

#[test]
fn an_oversized_payload_is_too_big_message_payload() {
    let payload = vec![7u8; batch::MAX_PAYLOAD_SIZE as usize + 1];
    let error = convert(&body(&[message(0, 0, &payload, b"")]), 1).unwrap_err();
    assert_eq!(error, SendError::PayloadTooLarge { index: 0, length: 64_000_001 });
    assert_eq!(error.code(), ErrorCode::TooBigMessagePayload);
}

/// A message as a test sends it: id (0 = let the server pick), origin timestamp, payload,
/// user headers.
type Sent = (u128, u64, Vec<u8>, Vec<u8>);

fn sent() -> impl Strategy<Value = Sent> {
    let id = prop_oneof![Just(0u128), 1u128..1_000, any::<u128>()];
    let base = 1_700_000_000_000_000u64;
    let timestamp = prop_oneof![
        4 => base..base + 10_000_000,
        1 => Just(0u64),
        1 => base + (1 << 33)..base + (1 << 34),
    ];
    (id, timestamp, prop::collection::vec(any::<u8>(), 1..40), prop::collection::vec(any::<u8>(), 0..24))
}

proptest! {
    #[test]
    fn send_then_poll_preserves_messages(messages in prop::collection::vec(sent(), 1..24), base_offset in 0u64..1 << 40) {
        let outgoing: Vec<_> = messages.iter().map(|(id, at, p, h)| message(*id, *at, p, h)).collect();
        let mut records = convert(&body(&outgoing), outgoing.len() as u32).unwrap();
        for record in &records {
            prop_assert!(batch::validate(record, Verify::ALL).is_ok());
        }
        stamp_all(&mut records, base_offset, 123);
        for record in &records {
            prop_assert!(batch::validate(record, Verify::ALL).is_ok(), "stamping keeps the record valid");
        }
        let polled = poll(&records);
        prop_assert_eq!(polled.len(), messages.len());
        let mut fresh = fresh_ids();
        for (index, ((id, at, payload, headers), got)) in messages.iter().zip(&polled).enumerate() {
            let expected_id = if *id == 0 { fresh() } else { *id };
            prop_assert_eq!(got.id, expected_id);
            prop_assert_eq!(got.offset, base_offset + index as u64);
            prop_assert_eq!(got.origin_timestamp, *at);
            prop_assert_eq!(got.timestamp, 123);
            prop_assert_eq!(&got.payload, payload);
            prop_assert_eq!(&got.user_headers, headers);
            prop_assert_eq!(got.checksum, got.expected_checksum());
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), count in 0u32..8) {
        let _ = convert(&bytes, count);
        let _ = decode_messages(&bytes);
        let _ = record_to_messages(&bytes, .., &mut BytesMut::new());
    }
}

#[test]
fn restamping_sets_every_origin_timestamp_and_nothing_else() {
    let messages = [message(1, 10, b"hello", b""), message(2, 20, b"world!", b"\x01")];
    let mut section = body(&messages);
    let before = section.clone();
    restamp_origin(&mut section, messages.len(), 777);
    let mut expected = body(&[message(1, 777, b"hello", b""), message(2, 777, b"world!", b"\x01")]);
    assert_eq!(section, expected);
    restamp_origin(&mut expected, messages.len(), 10);
    assert_ne!(expected, before, "only the first message had origin 10");
}
