use super::*;
use crate::test_support::strategies;
use proptest::prelude::*;

fn stream(topics_count: u32) -> StreamInfo {
    StreamInfo {
        id: 3,
        created_at: 1_700_000_000_000_000,
        topics_count,
        size_bytes: 4096,
        messages_count: 12,
        name: "orders".into(),
        options: Options::new(),
    }
}

fn topic(id: u32, partitions_count: u32) -> TopicInfo {
    TopicInfo {
        id,
        created_at: 1_700_000_000_000_001,
        partitions_count,
        message_expiry: u64::MAX,
        compression_algorithm: COMPRESSION_NONE,
        max_topic_size: 1 << 30,
        size_bytes: 77,
        messages_count: 5,
        name: format!("topic-{id}"),
        options: Options::new(),
        derived_options: Options::new(),
    }
}

fn partition(id: u32) -> PartitionInfo {
    PartitionInfo { id, created_at: 9, segments_count: 1, current_offset: 4, size_bytes: 300, messages_count: 5 }
}

#[test]
fn stream_header_has_no_options_block() {
    let mut buffer = BytesMut::new();
    encode_stream_header(&stream(0), &mut buffer);
    assert_eq!(buffer.len(), 32 + 1 + 6, "name at 32, nothing after it");
    assert_eq!(buffer[32], 6);
    assert_eq!(&buffer[33..], b"orders");
    assert_eq!(read_stream_header(&mut Reader::new(&buffer)), Ok(stream(0)));
    assert_eq!(decode_stream_details(&buffer), Ok(StreamDetails { stream: stream(0), topics: vec![] }));
}

#[test]
fn topic_header_puts_the_replication_factor_at_33() {
    let mut buffer = BytesMut::new();
    encode_topic_header(&topic(1, 2), &mut buffer);
    assert_eq!(buffer.len(), 50 + 1 + 7);
    assert_eq!(buffer[24], COMPRESSION_NONE);
    assert_eq!(&buffer[25..33], &(1u64 << 30).to_le_bytes());
    assert_eq!(buffer[33], REPLICATION_FACTOR);
    assert_eq!(&buffer[34..42], &77u64.to_le_bytes());
    assert_eq!(&buffer[42..50], &5u64.to_le_bytes());
    assert_eq!(buffer[50], 7);
    assert_eq!(read_topic_header(&mut Reader::new(&buffer)), Ok(topic(1, 2)));
    buffer[24] = 0;
    assert!(read_topic_header(&mut Reader::new(&buffer)).is_err(), "the SDK refuses compression 0");
}

#[test]
fn details_run_to_the_end_of_the_body_and_must_match_their_counts() {
    let details = StreamDetails { stream: stream(2), topics: vec![topic(0, 1), topic(1, 3)] };
    let mut buffer = BytesMut::new();
    encode_stream_details(&details, &mut buffer);
    assert_eq!(decode_stream_details(&buffer), Ok(details));

    let mut short = BytesMut::new();
    encode_stream_header(&stream(2), &mut short);
    encode_topic_header(&topic(0, 1), &mut short);
    assert_eq!(decode_stream_details(&short), Err(DecodeError::InvalidLength { what: "topics_count", value: 1 }));

    let details = TopicDetails { topic: topic(4, 2), partitions: vec![partition(0), partition(1)] };
    let mut buffer = BytesMut::new();
    encode_topic_details(&details, &mut buffer);
    assert_eq!(buffer.len(), 58 + 2 * 40);
    assert_eq!(decode_topic_details(&buffer), Ok(details));
    assert!(decode_topic_details(&buffer[..buffer.len() - 40]).is_err());
    assert!(decode_topic_details(&buffer[..buffer.len() - 1]).is_err());
}

#[test]
fn get_topics_has_no_count_prefix() {
    let mut buffer = BytesMut::new();
    encode_topics(&[], &mut buffer);
    assert!(buffer.is_empty());
    assert_eq!(decode_topics(&buffer), Ok(vec![]));
    encode_topics(&[topic(0, 1), topic(1, 1)], &mut buffer);
    assert_eq!(&buffer[..4], &0u32.to_le_bytes(), "starts with the first topic's id, not a count");
    assert_eq!(decode_topics(&buffer), Ok(vec![topic(0, 1), topic(1, 1)]));
    let mut streams = BytesMut::new();
    encode_streams(&[stream(0), stream(1)], &mut streams);
    assert_eq!(decode_streams(&streams), Ok(vec![stream(0), stream(1)]));
}

#[test]
fn login_reply_is_the_user_id() {
    let mut buffer = BytesMut::new();
    encode_login_reply(0, &mut buffer);
    assert_eq!(&buffer[..], &[0, 0, 0, 0]);
    assert_eq!(decode_login_reply(&buffer), Ok(0));
    assert!(decode_login_reply(&[1, 0, 0, 0, 0]).is_err());
}

proptest! {
    #[test]
    fn headers_round_trip(id in any::<u32>(), count in any::<u32>(), sizes in any::<(u64, u64, u64)>(), name in strategies::name()) {
        let stream = StreamInfo { id, created_at: sizes.0, topics_count: count, size_bytes: sizes.1, messages_count: sizes.2, name: name.clone(), options: Options::new() };
        let mut buffer = BytesMut::new();
        encode_streams(std::slice::from_ref(&stream), &mut buffer);
        prop_assert_eq!(decode_streams(&buffer), Ok(vec![stream]));
        let topic = TopicInfo { id, created_at: sizes.0, partitions_count: count, message_expiry: sizes.1, compression_algorithm: COMPRESSION_GZIP, max_topic_size: sizes.2, size_bytes: sizes.1, messages_count: sizes.0, name, options: Options::new(), derived_options: Options::new() };
        let mut buffer = BytesMut::new();
        encode_topics(std::slice::from_ref(&topic), &mut buffer);
        prop_assert_eq!(decode_topics(&buffer), Ok(vec![topic]));
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_stream_details(&bytes);
        let _ = decode_topic_details(&bytes);
        let _ = decode_streams(&bytes);
        let _ = decode_topics(&bytes);
        let _ = decode_login_reply(&bytes);
    }
}
