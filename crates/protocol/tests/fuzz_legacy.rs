//! Fuzz targets for the legacy dialect (protocol.md §3.2, §6.2, §10.2): the request and
//! reply bodies that differ from 0.11, legacy messages and poll replies, and the converter
//! between legacy SendMessages bodies and 0.11 batch records in both directions.
//!
//! The converter's contract is checked from both ends: any legacy send it accepts becomes
//! records that pass `batch::validate(.., Verify::ALL)` holding the same messages, and any
//! record it reads back gives the legacy messages that were sent. A longer campaign:
//! `WHIPPET_FUZZ_CASES=1000000 cargo test -p whippet-protocol --release --test fuzz_legacy`
//! (see FUZZING.md).

mod fuzz;

use bytes::BytesMut;
use fuzz::codec_targets;
use fuzz::values::{consumer, identifier, name, partitioning};
use proptest::prelude::*;
use whippet_protocol::batch::{self, Frames, Verify};
use whippet_protocol::legacy::messages::restamp_origin;
use whippet_protocol::legacy::requests::{
    CreateTopic, TopicSettings, UpdateTopic, decode_create_stream, decode_delete_consumer_offset,
    decode_store_consumer_offset, decode_update_stream, encode_create_stream, encode_update_stream,
};
use whippet_protocol::legacy::responses::{
    decode_login_reply, decode_stream_details, decode_streams, decode_topic_details, decode_topics, encode_login_reply,
    encode_stream_details, encode_stream_header, encode_streams, encode_topic_details, encode_topic_header,
    encode_topics, read_stream_header, read_topic_header,
};
use whippet_protocol::legacy::{
    LegacyMessage, OutgoingMessage, decode_messages, decode_poll_reply, encode_send_body, legacy_messages_len,
    record_to_messages, send_to_record,
};
use whippet_protocol::requests::{
    CreateStream, DeleteConsumerOffset, SendMessagesHeader, StoreConsumerOffset, UpdateStream,
};
use whippet_protocol::responses::{
    COMPRESSION_GZIP, COMPRESSION_NONE, PartitionInfo, PollReplyPrefix, StreamDetails, StreamInfo, TopicDetails,
    TopicInfo,
};
use whippet_protocol::types::Options;
use whippet_protocol::wire::{DecodeError, Reader};

/// A decoder for one value read with `read` that must fill the whole input.
fn whole<T>(read: impl Fn(&mut Reader<'_>) -> Result<T, DecodeError>) -> impl Fn(&[u8]) -> Result<T, DecodeError> {
    move |bytes| {
        let mut reader = Reader::new(bytes);
        let value = read(&mut reader)?;
        reader.finish()?;
        Ok(value)
    }
}

/// Lists encoded as `encode(&[T], buffer)`, as a codec over `Vec<T>`.
fn list<T>(encode: impl Fn(&[T], &mut BytesMut)) -> impl Fn(&Vec<T>, &mut BytesMut) {
    move |values, buffer| encode(values, buffer)
}

fn few<T: std::fmt::Debug>(element: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<T>> {
    prop::collection::vec(element, 0..6)
}

fn compression() -> impl Strategy<Value = u8> {
    prop_oneof![Just(COMPRESSION_NONE), Just(COMPRESSION_GZIP)]
}

// --- requests (§5.3, §5.4, §5.7, L) ---

fn topic_settings() -> impl Strategy<Value = TopicSettings> {
    (compression(), any::<u64>(), any::<u64>(), prop::option::of(1u8..)).prop_map(
        |(compression_algorithm, message_expiry, max_topic_size, replication_factor)| TopicSettings {
            compression_algorithm,
            message_expiry,
            max_topic_size,
            replication_factor,
        },
    )
}

fn create_topic() -> impl Strategy<Value = CreateTopic> {
    (identifier(), any::<u32>(), topic_settings(), name())
        .prop_map(|(stream, partitions_count, settings, name)| CreateTopic { stream, partitions_count, settings, name })
}

fn update_topic() -> impl Strategy<Value = UpdateTopic> {
    (identifier(), identifier(), topic_settings(), name()).prop_map(|(stream, topic, settings, name)| UpdateTopic {
        stream,
        topic,
        settings,
        name,
    })
}

fn offset_target() -> impl Strategy<Value = DeleteConsumerOffset> {
    (consumer(), identifier(), identifier(), prop::option::of(any::<u32>())).prop_map(
        |(consumer, stream, topic, partition_id)| DeleteConsumerOffset {
            consumer,
            stream,
            topic,
            partition_id,
            ack: None,
        },
    )
}

fn store_consumer_offset() -> impl Strategy<Value = StoreConsumerOffset> {
    (offset_target(), any::<u64>()).prop_map(|(target, offset)| StoreConsumerOffset {
        consumer: target.consumer,
        stream: target.stream,
        topic: target.topic,
        partition_id: target.partition_id,
        offset,
        ack: None,
    })
}

codec_targets! {
    create_stream: name().prop_map(|name| CreateStream { name, options: Options::new() }),
        decode_create_stream, encode_create_stream;
    update_stream: (identifier(), name()).prop_map(|(stream, name)| UpdateStream { stream, name, options: Options::new() }),
        decode_update_stream, encode_update_stream;
    create_topic: create_topic(), CreateTopic::decode, CreateTopic::encode;
    update_topic: update_topic(), UpdateTopic::decode, UpdateTopic::encode;
    store_consumer_offset: store_consumer_offset(), decode_store_consumer_offset, StoreConsumerOffset::encode;
    delete_consumer_offset: offset_target(), decode_delete_consumer_offset, DeleteConsumerOffset::encode;
}

// --- replies (§7.1, §7.2, §5.2, L) ---

fn stream_header() -> impl Strategy<Value = StreamInfo> {
    (any::<u32>(), any::<u64>(), any::<u32>(), any::<u64>(), any::<u64>(), name()).prop_map(
        |(id, created_at, topics_count, size_bytes, messages_count, name)| StreamInfo {
            id,
            created_at,
            topics_count,
            size_bytes,
            messages_count,
            name,
            options: Options::new(),
        },
    )
}

fn topic_header() -> impl Strategy<Value = TopicInfo> {
    let numbers = (any::<u32>(), any::<u64>(), any::<u32>(), any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>());
    (numbers, compression(), name()).prop_map(
        |(
            (id, created_at, partitions_count, message_expiry, max_topic_size, size_bytes, messages_count),
            compression_algorithm,
            name,
        )| TopicInfo {
            id,
            created_at,
            partitions_count,
            message_expiry,
            compression_algorithm,
            max_topic_size,
            size_bytes,
            messages_count,
            name,
            options: Options::new(),
            derived_options: Options::new(),
        },
    )
}

fn partition_info() -> impl Strategy<Value = PartitionInfo> {
    (any::<u32>(), any::<u64>(), any::<u32>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(
        |(id, created_at, segments_count, current_offset, size_bytes, messages_count)| PartitionInfo {
            id,
            created_at,
            segments_count,
            current_offset,
            size_bytes,
            messages_count,
        },
    )
}

fn stream_details() -> impl Strategy<Value = StreamDetails> {
    (stream_header(), few(topic_header())).prop_map(|(mut stream, topics)| {
        stream.topics_count = topics.len() as u32;
        StreamDetails { stream, topics }
    })
}

fn topic_details() -> impl Strategy<Value = TopicDetails> {
    (topic_header(), prop::collection::vec(partition_info(), 0..12)).prop_map(|(mut topic, partitions)| {
        topic.partitions_count = partitions.len() as u32;
        TopicDetails { topic, partitions }
    })
}

codec_targets! {
    stream_header: stream_header(), whole(read_stream_header), encode_stream_header;
    stream_details: stream_details(), decode_stream_details, encode_stream_details;
    streams: few(stream_header()), decode_streams, list(encode_streams);
    topic_header: topic_header(), whole(read_topic_header), encode_topic_header;
    topic_details: topic_details(), decode_topic_details, encode_topic_details;
    topics: few(topic_header()), decode_topics, list(encode_topics);
    login_reply: any::<u32>(), decode_login_reply, |user_id: &u32, buffer: &mut BytesMut| encode_login_reply(*user_id, buffer);
}

// --- legacy messages and poll replies (§6.2) ---

fn legacy_message() -> impl Strategy<Value = LegacyMessage> {
    let numbers = (any::<u64>(), any::<u128>(), any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>());
    let bytes = |most| prop::collection::vec(any::<u8>(), 0..most);
    (numbers, bytes(64), bytes(24)).prop_map(
        |((checksum, id, offset, timestamp, origin_timestamp, reserved), payload, user_headers)| LegacyMessage {
            checksum,
            id,
            offset,
            timestamp,
            origin_timestamp,
            reserved,
            payload,
            user_headers,
        },
    )
}

fn encode_message_list(messages: &[LegacyMessage], buffer: &mut BytesMut) {
    for message in messages {
        message.encode(buffer);
    }
}

type PollReply = (PollReplyPrefix, Vec<LegacyMessage>);

fn poll_reply() -> impl Strategy<Value = PollReply> {
    let prefix =
        (any::<u32>(), any::<u64>(), any::<u32>()).prop_map(|(partition_id, current_offset, messages_count)| {
            PollReplyPrefix { partition_id, current_offset, messages_count }
        });
    (prefix, few(legacy_message()))
}

fn encode_poll_reply((prefix, messages): &PollReply, buffer: &mut BytesMut) {
    prefix.encode(buffer);
    encode_message_list(messages, buffer);
}

codec_targets! {
    legacy_message: legacy_message(), whole(LegacyMessage::read), LegacyMessage::encode;
    messages: few(legacy_message()), decode_messages, list(encode_message_list);
    poll_reply: poll_reply(), decode_poll_reply, encode_poll_reply;
}

/// Every field of a legacy message is kept as read, so decoding then encoding gives back
/// the exact bytes.
#[test]
fn decoded_messages_re_encode_byte_for_byte() {
    let valid = few(legacy_message()).prop_map(|messages| fuzz::encoded(&messages, list(encode_message_list)));
    fuzz::check(fuzz::fuzzed(valid), |bytes| {
        if let Ok(messages) = decode_messages(&bytes) {
            prop_assert_eq!(fuzz::encoded(&messages, list(encode_message_list)), bytes);
        }
        Ok(())
    });
}

// --- the converter: legacy SendMessages → 0.11 records (send_to_record) ---

/// One message of a legacy send, owned.
#[derive(Debug, Clone)]
struct Outgoing {
    id: u128,
    origin_timestamp: u64,
    payload: Vec<u8>,
    user_headers: Vec<u8>,
}

impl Outgoing {
    fn borrowed(&self) -> OutgoingMessage<'_> {
        OutgoingMessage {
            id: self.id,
            origin_timestamp: self.origin_timestamp,
            payload: &self.payload,
            user_headers: &self.user_headers,
        }
    }
}

fn outgoing() -> impl Strategy<Value = Outgoing> {
    // Mostly close together; 0 and far values force a record split (deltas are u32 µs).
    let origin = prop_oneof![
        8 => 1_700_000_000_000_000u64..1_700_000_001_000_000,
        1 => Just(0u64),
        1 => any::<u64>(),
    ];
    let id = prop_oneof![Just(0u128), any::<u128>()];
    let payload =
        prop_oneof![8 => prop::collection::vec(any::<u8>(), 1..64), 1 => prop::collection::vec(any::<u8>(), 1..2048)];
    (id, origin, payload, prop::collection::vec(any::<u8>(), 0..24)).prop_map(
        |(id, origin_timestamp, payload, user_headers)| Outgoing { id, origin_timestamp, payload, user_headers },
    )
}

fn outgoings() -> impl Strategy<Value = Vec<Outgoing>> {
    prop::collection::vec(outgoing(), 1..8)
}

/// The part of a legacy SendMessages body after `messages_count`: the index block, then
/// the messages.
fn send_section(messages: &[Outgoing]) -> Vec<u8> {
    let borrowed: Vec<OutgoingMessage<'_>> = messages.iter().map(Outgoing::borrowed).collect();
    let mut buffer = BytesMut::new();
    encode_send_body(&borrowed, &mut buffer);
    buffer.to_vec()
}

const FRESH_ID_FIRST: u128 = 0xF000_0000_0000_0000_0000_0000_0000_0001;

/// Fresh ids counting up from [`FRESH_ID_FIRST`], so they can be told from the client's.
fn fresh_ids() -> impl FnMut() -> u128 {
    let mut next = FRESH_ID_FIRST;
    move || {
        next += 1;
        next - 1
    }
}

/// Converts a section under the allocation guard; what comes back must be valid records
/// holding `count` messages in all.
fn convert(section: &[u8], count: u32) -> Result<Option<Vec<BytesMut>>, TestCaseError> {
    let converted = fuzz::allocation::bounded(section.len(), || send_to_record(section, count, &mut fresh_ids()))?;
    let Ok(records) = converted else { return Ok(None) };
    let mut total = 0u64;
    for record in &records {
        let header = batch::validate(record, Verify::ALL);
        prop_assert!(header.is_ok(), "the converter wrote a record that does not validate: {header:?}");
        total += header.map_or(0, |header| u64::from(header.message_count));
    }
    prop_assert_eq!(total, u64::from(count));
    Ok(Some(records))
}

mod send_to_record {
    use super::*;

    /// Valid sends become valid records holding the same messages in order: ids (fresh ones
    /// for 0), origin timestamps, payloads and user headers; one record unless the origin
    /// timestamps span more than a u32 of µs.
    #[test]
    fn valid_sends_convert_to_valid_records() {
        fuzz::check(outgoings(), |messages| {
            let section = send_section(&messages);
            let records = convert(&section, messages.len() as u32)?;
            prop_assert!(
                records.is_some(),
                "a valid send was refused: {:?}",
                send_to_record(&section, messages.len() as u32, &mut fresh_ids())
            );
            let Some(records) = records else { return Ok(()) };
            let lowest = messages.iter().map(|message| message.origin_timestamp).min().unwrap_or(0);
            let highest = messages.iter().map(|message| message.origin_timestamp).max().unwrap_or(0);
            if highest - lowest <= u64::from(u32::MAX) {
                prop_assert_eq!(records.len(), 1);
            }
            let mut fresh = FRESH_ID_FIRST;
            let mut sent = messages.iter();
            for record in &records {
                let header =
                    batch::BatchHeader::read(record).map_err(|error| TestCaseError::fail(error.to_string()))?;
                for frame in Frames::new(record) {
                    let message = sent.next();
                    prop_assert!(message.is_some(), "more frames than messages");
                    let Some(message) = message else { break };
                    let id = if message.id == 0 {
                        fresh += 1;
                        fresh - 1
                    } else {
                        message.id
                    };
                    prop_assert_eq!(frame.id, id);
                    prop_assert_eq!(
                        header.origin_timestamp + u64::from(frame.timestamp_delta),
                        message.origin_timestamp
                    );
                    prop_assert_eq!(frame.payload(record), &message.payload[..]);
                    prop_assert_eq!(frame.user_headers(record), &message.user_headers[..]);
                }
            }
            prop_assert!(sent.next().is_none(), "fewer frames than messages");
            Ok(())
        });
    }

    /// Mutated sections, with the right count or any other, never panic, never allocate out
    /// of proportion, and what is accepted is valid.
    #[test]
    fn bad_input_never_panics() {
        let valid = outgoings().prop_map(|messages| (send_section(&messages), messages.len() as u32));
        let count = prop_oneof![3 => Just(None), 1 => fuzz::inputs::length_u32().prop_map(Some)];
        let input = prop_oneof![
            1 => (fuzz::bytes(), fuzz::inputs::length_u32()),
            5 => (valid, count).prop_flat_map(|((section, sent), count)| {
                (fuzz::mutated(Just(section)), Just(count.unwrap_or(sent)))
            }),
        ];
        fuzz::check(input, |(section, count)| convert(&section, count).map(|_| ()));
    }

    /// A whole legacy SendMessages payload as the server takes it apart: metadata, then the
    /// section after it with the metadata's count.
    #[test]
    fn whole_payloads_never_panic() {
        let valid = (identifier(), identifier(), partitioning(), outgoings()).prop_map(
            |(stream, topic, partitioning, messages)| {
                let header = SendMessagesHeader::new(stream, topic, partitioning, messages.len() as u32);
                let mut payload = fuzz::encoded(&header, SendMessagesHeader::encode);
                payload.extend_from_slice(&send_section(&messages));
                payload
            },
        );
        fuzz::check(fuzz::fuzzed(valid), |payload| {
            let Ok(header) = SendMessagesHeader::decode(&payload) else { return Ok(()) };
            convert(&payload[header.batch_start..], header.messages_count).map(|_| ())
        });
    }
}

// --- the converter: stored records → legacy messages (record_to_messages) ---

/// A valid send, converted and stamped as the server stores it, with an offset range.
fn stored() -> impl Strategy<Value = (Vec<Outgoing>, Vec<BytesMut>, u64, u64, u64)> {
    (outgoings(), 0u64..u64::MAX / 2, any::<u64>(), any::<prop::sample::Index>(), any::<prop::sample::Index>())
        .prop_map(|(messages, base_offset, base_timestamp, from, to)| {
            let section = send_section(&messages);
            let mut records = send_to_record(&section, messages.len() as u32, &mut fresh_ids()).unwrap_or_default();
            let mut offset = base_offset;
            for record in &mut records {
                batch::stamp(record, 1, offset, base_timestamp);
                offset += Frames::new(record).count() as u64;
            }
            let bound = messages.len() + 2;
            let (from, to) = (base_offset + from.index(bound) as u64, base_offset + to.index(bound) as u64);
            (messages, records, base_timestamp, from, to)
        })
}

mod record_to_messages {
    use super::*;

    /// A legacy send read back through the stored records gives the messages that were sent,
    /// with the offsets, timestamps and checksums server 0.8 would have written; the size
    /// estimate matches what is written.
    #[test]
    fn stored_sends_read_back() {
        fuzz::check(stored(), |(messages, records, base_timestamp, from, to)| {
            prop_assert!(!records.is_empty(), "a valid send was refused");
            let base_offset =
                records.first().and_then(|record| batch::BatchHeader::read(record).ok()).map_or(0, |h| h.base_offset);
            let mut out = BytesMut::new();
            let mut expected = (0usize, 0u32);
            for record in &records {
                let (bytes, count) =
                    legacy_messages_len(record, from..to).map_err(|error| TestCaseError::fail(error.to_string()))?;
                let before = out.len();
                let written = record_to_messages(record, from..to, &mut out);
                prop_assert_eq!(written, Ok(count));
                prop_assert_eq!(out.len() - before, bytes);
                expected = (expected.0 + bytes, expected.1 + count);
            }
            let read = decode_messages(&out).map_err(|error| TestCaseError::fail(error.to_string()))?;
            prop_assert_eq!((out.len(), read.len() as u32), expected);
            let kept =
                messages.iter().enumerate().filter(|(index, _)| (from..to).contains(&(base_offset + *index as u64)));
            prop_assert_eq!(read.len(), kept.clone().count());
            for (message, (index, sent)) in read.iter().zip(kept) {
                prop_assert_eq!(message.offset, base_offset + index as u64);
                prop_assert_eq!(message.timestamp, base_timestamp);
                prop_assert_eq!(message.origin_timestamp, sent.origin_timestamp);
                prop_assert_eq!(&message.payload, &sent.payload);
                prop_assert_eq!(&message.user_headers, &sent.user_headers);
                prop_assert_eq!(message.checksum, message.expected_checksum());
                if sent.id != 0 {
                    prop_assert_eq!(message.id, sent.id);
                }
            }
            Ok(())
        });
    }

    /// Any record bytes: no panic, no out-of-proportion allocation, nothing written on
    /// refusal, and the size estimate agrees with what is written on success.
    #[test]
    fn bad_input_never_panics() {
        let valid =
            stored().prop_map(|(_, records, ..)| records.first().map(|record| record.to_vec()).unwrap_or_default());
        let offsets = (any::<u64>(), any::<u64>());
        fuzz::check((fuzz::fuzzed(valid), offsets), |(record, (from, to))| {
            let mut out = BytesMut::from(&b"kept"[..]);
            let written =
                fuzz::allocation::bounded(2 * record.len(), || record_to_messages(&record, from..to, &mut out))?;
            let estimate = legacy_messages_len(&record, from..to);
            match written {
                Err(_) => {
                    prop_assert_eq!(&out[..], b"kept");
                    prop_assert!(estimate.is_err());
                }
                Ok(count) => {
                    prop_assert_eq!(estimate.ok(), Some((out.len() - 4, count)));
                    let read = decode_messages(&out[4..]);
                    prop_assert_eq!(read.map(|messages| messages.len() as u32), Ok(count));
                }
            }
            Ok(())
        });
    }
}

/// Restamping the origin of a legacy section in place: never panics on any bytes or count,
/// and on a valid section every message then carries the new origin.
#[test]
fn restamp_origin_never_panics() {
    let valid = outgoings().prop_map(|messages| (send_section(&messages), messages.len()));
    let input = prop_oneof![
        1 => (fuzz::bytes(), (0usize..16)),
        1 => (fuzz::bytes(), fuzz::inputs::length_u32().prop_map(|count| count as usize)),
        4 => valid.prop_flat_map(|(section, count)| (fuzz::mutated(Just(section)), Just(count))),
    ];
    fuzz::check((input, any::<u64>()), |((mut section, count), origin)| {
        restamp_origin(&mut section, count, origin);
        Ok(())
    });
    fuzz::check((outgoings(), any::<u64>()), |(messages, origin)| {
        let mut section = send_section(&messages);
        restamp_origin(&mut section, messages.len(), origin);
        let records = convert(&section, messages.len() as u32)?;
        prop_assert!(records.is_some(), "restamping broke the section");
        for record in records.unwrap_or_default() {
            let header = batch::BatchHeader::read(&record).map_err(|error| TestCaseError::fail(error.to_string()))?;
            prop_assert_eq!(header.origin_timestamp, origin);
            prop_assert!(Frames::new(&record).all(|frame| frame.timestamp_delta == 0));
        }
        Ok(())
    });
}
