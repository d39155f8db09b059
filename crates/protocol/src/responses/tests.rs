use super::*;
use crate::test_support::{hex, strategies};
use crate::types::{OptionValue, Options};
use crate::vsr::{self, Operation, RequestHeader};
use proptest::prelude::*;

/// The GET_CLUSTER_METADATA reply the reference mock served to SDK 0.11.0 (protocol.md §7.10):
/// cluster "cluster", one node "node0" at 127.0.0.1, tcp 18095, Leader, Healthy.
const MOCK_CLUSTER_METADATA: &str = include_str!("mock_cluster_metadata.hex");

fn encoded(write: impl FnOnce(&mut BytesMut)) -> BytesMut {
    let mut buffer = BytesMut::new();
    write(&mut buffer);
    buffer
}

#[test]
fn cluster_metadata_matches_the_observed_bytes() {
    let bytes = hex(MOCK_CLUSTER_METADATA);
    let metadata = ClusterMetadata::decode(&bytes).unwrap();
    assert_eq!(metadata, ClusterMetadata::single_node("cluster", "node0", "127.0.0.1", 18095));
    assert_eq!(&encoded(|b| metadata.encode(b))[..], &bytes[..]);
    let mut unknown_status = bytes.clone();
    *unknown_status.last_mut().unwrap() = 5;
    assert_eq!(
        ClusterMetadata::decode(&unknown_status),
        Err(DecodeError::InvalidKind { what: "node status", value: 5 })
    );
}

#[test]
fn the_login_reply_the_sdk_accepted() {
    // The mock's reply body (§9.1): result prefix, user 0, session 42, 0.11.0, "0.9.0-mock".
    let body = hex("00000000000000002a00000000000000002c00000a302e392e302d6d6f636b");
    assert_eq!(body.len(), 287 - vsr::HEADER_SIZE);
    assert!(Operation::Register.reply_is_result_framed(body.len()));
    let ResultSection::Ok(payload) = split_result(&body).unwrap() else { panic!("a success") };
    let reply = LoginReply::decode(payload).unwrap();
    let expected =
        LoginReply { user_id: 0, session: 42, server_protocol_version: 0x2c00, server_version: "0.9.0-mock".into() };
    assert_eq!(reply, expected);
    let mut rebuilt = encoded(result_prefix_ok);
    expected.encode(&mut rebuilt);
    assert_eq!(&rebuilt[..], &body[..]);
}

#[test]
fn a_full_login_reply_frame() {
    let request = RequestHeader::parse(&{
        let mut header = RequestHeader { client: 9, operation: 1, size: 290, ..RequestHeader::default() }.encode();
        header[144] = 0x95;
        header
    })
    .unwrap();
    let mut body = encoded(result_prefix_ok);
    LoginReply {
        user_id: 0,
        session: 1,
        server_protocol_version: vsr::SERVER_PROTOCOL_VERSION,
        server_version: "0.1.0".into(),
    }
    .encode(&mut body);
    let header = vsr::encode_reply_header(&request, 0, body.len(), 1);
    let reply = vsr::ReplyHeader::parse(&header).unwrap();
    assert_eq!((reply.operation, reply.client, reply.request_checksum), (1, 9, 0x95));
    assert_eq!(reply.body_len(), body.len());
}

#[test]
fn result_sections_in_both_shapes() {
    assert_eq!(&encoded(result_prefix_ok)[..], &[0, 0, 0, 0]);
    let rejected = encoded(|b| result_error(b, ErrorCode::StreamNameAlreadyExists));
    assert_eq!(&rejected[..], &hex("0100000000000000f4030000")[..]);
    assert_eq!(split_result(&rejected), Ok(ResultSection::Rejected(1012)));
    assert_eq!(split_result(&[0, 0, 0, 0, 7]), Ok(ResultSection::Ok(&[7])));
    assert!(split_result(&[]).is_err(), "an empty body on a result-framed op is InvalidCommand to the SDK");
    assert!(split_result(&[1, 0, 0, 0, 0, 0, 0, 0]).is_err());
}

fn sample_topic(partitions_count: u32) -> TopicInfo {
    TopicInfo {
        id: 0,
        created_at: 1_700_000_000_000_000,
        partitions_count,
        message_expiry: 0,
        compression_algorithm: COMPRESSION_NONE,
        max_topic_size: 0,
        size_bytes: 0,
        messages_count: 0,
        name: "orders".into(),
        options: Options(vec![("durability".into(), OptionValue::string("replicated"))]),
        derived_options: Options(vec![("segment_size".into(), OptionValue::string("1 GiB"))]),
    }
}

fn sample_stream(topics_count: u32) -> StreamInfo {
    StreamInfo {
        id: 1,
        created_at: 2,
        topics_count,
        size_bytes: 3,
        messages_count: 4,
        name: "events".into(),
        options: Options::new(),
    }
}

#[test]
fn stream_header_layout_ends_with_an_empty_opts32() {
    let bytes = encoded(|b| sample_stream(0).encode(b));
    assert_eq!(bytes.len(), 32 + 1 + 6 + 4);
    assert_eq!(&bytes[32..39], b"\x06events");
    assert_eq!(&bytes[39..], &[0, 0, 0, 0]);
    let details = StreamDetails { stream: sample_stream(0), topics: vec![] };
    assert_eq!(StreamDetails::decode(&bytes), Ok(details));
}

#[test]
fn topic_header_layout_has_two_option_blocks() {
    let topic = sample_topic(0);
    let bytes = encoded(|b| topic.encode(b));
    assert_eq!(bytes[24], COMPRESSION_NONE, "compression at offset 24");
    assert_eq!(&bytes[49..56], b"\x06orders", "name at offset 49");
    let mut reader = Reader::new(&bytes[56..]);
    assert_eq!(Options::read_prefixed(&mut reader), Ok(topic.options.clone()));
    assert_eq!(Options::read_prefixed(&mut reader), Ok(topic.derived_options.clone()));
    assert_eq!(reader.remaining(), 0);
    let mut bad_compression = bytes.clone();
    bad_compression[24] = 3;
    assert!(TopicDetails::decode(&bad_compression).is_err(), "the SDK refuses compression 3 too");
}

#[test]
fn details_are_count_driven() {
    let partitions: Vec<PartitionInfo> = (0..3)
        .map(|id| PartitionInfo {
            id,
            created_at: 5,
            segments_count: 1,
            current_offset: 9,
            size_bytes: 10,
            messages_count: 11,
        })
        .collect();
    let details = TopicDetails { topic: sample_topic(3), partitions };
    let bytes = encoded(|b| details.encode(b));
    assert_eq!(TopicDetails::decode(&bytes), Ok(details.clone()));
    assert_eq!(
        TopicDetails::decode(&bytes[..bytes.len() - 40]).map(|_| ()),
        Err(DecodeError::Truncated { needed: 4, available: 0 })
    );
    let mut extra = bytes.clone();
    extra.put_u8(0);
    assert_eq!(TopicDetails::decode(&extra), Err(DecodeError::TrailingBytes { count: 1 }));

    let stream = StreamDetails { stream: sample_stream(2), topics: vec![sample_topic(0), sample_topic(0)] };
    assert_eq!(StreamDetails::decode(&encoded(|b| stream.encode(b))), Ok(stream));
}

#[test]
#[should_panic(expected = "partitions_count must match")]
fn details_with_a_wrong_count_are_a_bug() {
    encoded(|b| TopicDetails { topic: sample_topic(2), partitions: vec![] }.encode(b));
}

#[test]
fn lists_with_and_without_a_count() {
    let topics = vec![sample_topic(1), sample_topic(2)];
    let bytes = encoded(|b| encode_topics(&topics, b));
    assert_eq!(&bytes[..4], &[2, 0, 0, 0], "GET_TOPICS has a count prefix in V");
    assert_eq!(decode_topics(&bytes), Ok(topics));
    assert_eq!(decode_topics(&[]), Ok(vec![]));
    let streams = vec![sample_stream(0), sample_stream(7)];
    let bytes = encoded(|b| encode_streams(&streams, b));
    assert_eq!(decode_streams(&bytes), Ok(streams));
    assert_eq!(decode_streams(&[]), Ok(vec![]));
}

#[test]
fn client_details_for_get_me() {
    let me = ClientDetails {
        client: ClientInfo {
            client_id: 3,
            user_id: 0,
            transport: TRANSPORT_TCP,
            address: "127.0.0.1:50000".into(),
            consumer_groups_count: 1,
        },
        consumer_groups: vec![ClientGroup { stream_id: 0, topic_id: 0, group_id: 2 }],
    };
    let bytes = encoded(|b| me.encode(b));
    assert_eq!(bytes[8], 1, "transport at offset 8");
    assert_eq!(&bytes[9..13], &15u32.to_le_bytes(), "address length at 9");
    assert_eq!(bytes.len(), 17 + 15 + 12);
    assert_eq!(ClientDetails::decode(&bytes), Ok(me.clone()));
    let clients = encoded(|b| encode_clients(&[me.client.clone(), me.client.clone()], b));
    assert_eq!(decode_clients(&clients), Ok(vec![me.client.clone(), me.client]));
}

#[test]
fn poll_prefix_send_confirmations_and_offsets() {
    let prefix = PollReplyPrefix { partition_id: RESYNC_REQUIRED_PARTITION, current_offset: 5, messages_count: 0 };
    let bytes = encoded(|b| prefix.encode(b));
    assert_eq!(bytes.len(), POLL_PREFIX_SIZE);
    assert_eq!(PollReplyPrefix::decode(&bytes), Ok((prefix, &[][..])));
    let mut with_records = bytes.clone();
    with_records.put_slice(b"record");
    assert_eq!(PollReplyPrefix::decode(&with_records), Ok((prefix, &b"record"[..])));

    let confirmations = [SendConfirmation { stream_id: 0, topic_id: 1, partition_id: 2, base_offset: 3 }];
    let bytes = encoded(|b| encode_send_confirmations(&confirmations, b));
    assert_eq!(bytes.len(), 4 + 20);
    assert_eq!(decode_send_confirmations(&bytes), Ok(confirmations.to_vec()));
    assert_eq!(decode_send_confirmations(&[]), Ok(vec![]), "the SDK also accepts an empty body");
    assert_eq!(decode_send_confirmations(&bytes[..23]), Err(DecodeError::Truncated { needed: 20, available: 19 }));

    let offset = ConsumerOffsetInfo { partition_id: 0, current_offset: 9, stored_offset: 4 };
    let bytes = encoded(|b| offset.encode(b));
    assert_eq!(bytes.len(), 20);
    assert_eq!(ConsumerOffsetInfo::decode(&bytes), Ok(offset));
}

fn options() -> impl Strategy<Value = Options> {
    strategies::options()
}

fn topic() -> impl Strategy<Value = TopicInfo> {
    (
        (
            any::<u32>(),
            any::<u64>(),
            0u32..4,
            any::<u64>(),
            prop_oneof![Just(COMPRESSION_NONE), Just(COMPRESSION_GZIP)],
        ),
        (any::<u64>(), any::<u64>(), any::<u64>(), strategies::name(), options(), options()),
    )
        .prop_map(|((id, created_at, partitions_count, message_expiry, compression_algorithm), rest)| {
            let (max_topic_size, size_bytes, messages_count, name, options, derived_options) = rest;
            TopicInfo {
                id,
                created_at,
                partitions_count,
                message_expiry,
                compression_algorithm,
                max_topic_size,
                size_bytes,
                messages_count,
                name,
                options,
                derived_options,
            }
        })
}

fn partition() -> impl Strategy<Value = PartitionInfo> {
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

fn stream() -> impl Strategy<Value = StreamInfo> {
    (any::<u32>(), any::<u64>(), any::<u64>(), any::<u64>(), strategies::name(), options()).prop_map(
        |(id, created_at, size_bytes, messages_count, name, options)| StreamInfo {
            id,
            created_at,
            topics_count: 0,
            size_bytes,
            messages_count,
            name,
            options,
        },
    )
}

fn client() -> impl Strategy<Value = ClientInfo> {
    (any::<u32>(), any::<u32>(), 1u8..=4, "[0-9.:]{0,40}").prop_map(|(client_id, user_id, transport, address)| {
        ClientInfo { client_id, user_id, transport, address, consumer_groups_count: 0 }
    })
}

/// Runs every reply decoder over `bytes`; only a panic can fail.
fn decode_everything(bytes: &[u8]) {
    let _ = split_result(bytes);
    let _ = LoginReply::decode(bytes);
    let _ = PollReplyPrefix::decode(bytes);
    let _ = decode_send_confirmations(bytes);
    let _ = ConsumerOffsetInfo::decode(bytes);
    let _ = ClusterMetadata::decode(bytes);
    let _ = StreamDetails::decode(bytes);
    let _ = decode_streams(bytes);
    let _ = TopicDetails::decode(bytes);
    let _ = decode_topics(bytes);
    let _ = ClientDetails::decode(bytes);
    let _ = decode_clients(bytes);
}

/// Real replies to damage, so mutations reach the later fields.
fn valid_bodies() -> Vec<Vec<u8>> {
    let partition =
        PartitionInfo { id: 0, created_at: 1, segments_count: 1, current_offset: 0, size_bytes: 0, messages_count: 0 };
    let stream = StreamDetails { stream: sample_stream(1), topics: vec![sample_topic(1)] };
    vec![
        hex(MOCK_CLUSTER_METADATA),
        encoded(|b| TopicDetails { topic: sample_topic(1), partitions: vec![partition] }.encode(b)).to_vec(),
        encoded(|b| stream.encode(b)).to_vec(),
        encoded(|b| encode_topics(&[sample_topic(0), sample_topic(0)], b)).to_vec(),
    ]
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        decode_everything(&bytes);
    }

    #[test]
    fn damaged_real_replies_never_panic(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let bodies = valid_bodies();
        let mut body = bodies[which.index(bodies.len())].clone();
        for (at, value) in edits {
            let at = at.index(body.len());
            body[at] = value;
        }
        decode_everything(&body);
        body.truncate(cut.index(body.len() + 1));
        decode_everything(&body);
    }

    #[test]
    fn topics_round_trip(topic in topic(), partitions in prop::collection::vec(partition(), 4), others in prop::collection::vec(topic(), 0..4)) {
        let partitions = partitions[..topic.partitions_count as usize].to_vec();
        let details = TopicDetails { topic, partitions };
        prop_assert_eq!(TopicDetails::decode(&encoded(|b| details.encode(b))), Ok(details));
        prop_assert_eq!(decode_topics(&encoded(|b| encode_topics(&others, b))), Ok(others));
    }

    #[test]
    fn streams_round_trip(stream in stream(), topics in prop::collection::vec(topic(), 0..3), others in prop::collection::vec(stream(), 0..4)) {
        let details = StreamDetails { stream: StreamInfo { topics_count: topics.len() as u32, ..stream }, topics };
        prop_assert_eq!(StreamDetails::decode(&encoded(|b| details.encode(b))), Ok(details));
        prop_assert_eq!(decode_streams(&encoded(|b| encode_streams(&others, b))), Ok(others));
    }

    #[test]
    fn clients_round_trip(client in client(), groups in prop::collection::vec(any::<(u32, u32, u32)>(), 0..4), others in prop::collection::vec(client(), 0..4)) {
        let consumer_groups: Vec<ClientGroup> =
            groups.into_iter().map(|(stream_id, topic_id, group_id)| ClientGroup { stream_id, topic_id, group_id }).collect();
        let details = ClientDetails { client: ClientInfo { consumer_groups_count: consumer_groups.len() as u32, ..client }, consumer_groups };
        prop_assert_eq!(ClientDetails::decode(&encoded(|b| details.encode(b))), Ok(details));
        prop_assert_eq!(decode_clients(&encoded(|b| encode_clients(&others, b))), Ok(others));
    }

    #[test]
    fn small_replies_round_trip(
        (user_id, session, version) in any::<(u32, u64, u32)>(),
        server_version in strategies::name(),
        (partition_id, current_offset, count) in any::<(u32, u64, u32)>(),
        confirmations in prop::collection::vec(any::<(u32, u32, u32, u64)>(), 0..5),
        cluster in ("[a-z]{0,10}", prop::collection::vec(("[a-z0-9]{0,10}", "[0-9.]{0,15}", any::<[u16; 4]>(), 0u8..=1, 0u8..=4), 0..3)),
    ) {
        let login = LoginReply { user_id, session, server_protocol_version: version, server_version };
        prop_assert_eq!(LoginReply::decode(&encoded(|b| login.encode(b))), Ok(login));
        let prefix = PollReplyPrefix { partition_id, current_offset, messages_count: count };
        let prefix_bytes = encoded(|b| prefix.encode(b));
        prop_assert_eq!(PollReplyPrefix::decode(&prefix_bytes), Ok((prefix, &[][..])));
        let offset = ConsumerOffsetInfo { partition_id, current_offset, stored_offset: session };
        prop_assert_eq!(ConsumerOffsetInfo::decode(&encoded(|b| offset.encode(b))), Ok(offset));
        let confirmations: Vec<SendConfirmation> = confirmations
            .into_iter()
            .map(|(stream_id, topic_id, partition_id, base_offset)| SendConfirmation { stream_id, topic_id, partition_id, base_offset })
            .collect();
        prop_assert_eq!(decode_send_confirmations(&encoded(|b| encode_send_confirmations(&confirmations, b))), Ok(confirmations));
        let (name, nodes) = cluster;
        let nodes = nodes
            .into_iter()
            .map(|(name, ip, [tcp_port, quic_port, http_port, websocket_port], role, status)| ClusterNode {
                name, ip, tcp_port, quic_port, http_port, websocket_port, role, status,
            })
            .collect();
        let metadata = ClusterMetadata { name, nodes };
        prop_assert_eq!(ClusterMetadata::decode(&encoded(|b| metadata.encode(b))), Ok(metadata));
    }
}
