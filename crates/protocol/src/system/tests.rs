use super::*;
use crate::test_support::{hex, strategies};
use crate::types::{KIND_STRING, OptionValue};
use proptest::prelude::*;

const VECTORS: &str = include_str!("../admin_vectors_0.11.txt");

/// A vector of `admin_vectors_0.11.txt` by name.
fn vector(name: &str) -> Vec<u8> {
    let line = VECTORS.lines().find(|line| line.split(' ').next() == Some(name)).expect("vector exists");
    hex(&line[name.len() + 1..])
}

fn encoded(write: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut buffer = BytesMut::new();
    write(&mut buffer);
    buffer.to_vec()
}

/// Every strict prefix of `bytes` fails to decode, and so does `bytes` plus one byte.
fn assert_exact(bytes: &[u8], decode: impl Fn(&[u8]) -> Result<(), DecodeError>) {
    for end in 0..bytes.len() {
        assert!(decode(&bytes[..end]).is_err(), "prefix of {end} bytes decoded");
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(decode(&longer).is_err(), "a trailing byte was accepted");
}

/// The stats the vector was generated from.
fn sample_stats() -> Stats {
    Stats {
        process_id: 4242,
        cpu_usage: 12.5,
        total_cpu_usage: 50.25,
        memory_usage: 1 << 20,
        total_memory: 1 << 34,
        available_memory: 1 << 33,
        run_time: 3_000_000,
        start_time: 1_700_000_000_000_000,
        read_bytes: 100,
        written_bytes: 200,
        messages_size_bytes: 300,
        streams_count: 1,
        topics_count: 2,
        partitions_count: 3,
        segments_count: 4,
        messages_count: 5,
        clients_count: 6,
        consumer_groups_count: 7,
        hostname: "host".into(),
        os_name: "Linux".into(),
        os_version: "6.8".into(),
        kernel_version: "6.8.0".into(),
        iggy_server_version: "0.9.0".into(),
        iggy_server_semver: Some(9000),
        cache_metrics: vec![CacheMetric {
            stream_id: 1,
            topic_id: 2,
            partition_id: 0,
            hits: 10,
            misses: 3,
            hit_ratio: 0.75,
        }],
        threads_count: 16,
        free_disk_space: 1 << 30,
        total_disk_space: 1 << 40,
    }
}

#[test]
fn stats_match_the_real_encoder() {
    let bytes = vector("stats");
    assert_eq!(Stats::decode(&bytes), Ok(sample_stats()));
    assert_eq!(encoded(|b| sample_stats().encode(b)), bytes);
    // The strings start right after the 108 fixed bytes of §7.9.
    assert_eq!(&bytes[108..116], &hex("04000000686f7374")[..]);
    assert_exact(&bytes, |bytes| Stats::decode(bytes).map(drop));
}

#[test]
fn a_zero_semver_is_absent() {
    let stats = Stats { iggy_server_semver: None, cache_metrics: vec![], ..sample_stats() };
    let bytes = encoded(|b| stats.encode(b));
    assert_eq!(Stats::decode(&bytes), Ok(stats));
}

#[test]
fn a_huge_cache_metrics_count_fails_without_allocating() {
    let stats = Stats { cache_metrics: vec![], ..sample_stats() };
    let mut bytes = encoded(|b| stats.encode(b));
    let count_at = bytes.len() - 4 - 8 - 8 - 4;
    bytes[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(Stats::decode(&bytes), Err(DecodeError::Truncated { .. })));
}

#[test]
fn get_client() {
    let request = GetClient { client_id: 1 };
    let bytes = encoded(|b| request.encode(b));
    assert_eq!(bytes, [1, 0, 0, 0], "[P11] get_client.rs layout test");
    assert_eq!(GetClient::decode(&bytes), Ok(request));
    assert_exact(&bytes, |bytes| GetClient::decode(bytes).map(drop));
}

#[test]
fn describe_options_requests() {
    for (byte, scope) in [(1, OptionsScope::Topic), (2, OptionsScope::Stream), (3, OptionsScope::User)] {
        assert_eq!(DescribeOptions::decode(&[byte]), Ok(DescribeOptions { scope }));
        assert_eq!(encoded(|b| DescribeOptions { scope }.encode(b)), [byte]);
    }
    for byte in [0, 4, 255] {
        assert_eq!(
            DescribeOptions::decode(&[byte]),
            Err(DecodeError::InvalidKind { what: "options scope", value: byte })
        );
    }
    assert_exact(&[1], |bytes| DescribeOptions::decode(bytes).map(drop));
}

#[test]
fn describe_options_reply_matches_the_real_encoder() {
    let bytes = vector("describe_options");
    let entries = decode_option_descriptors(&bytes).unwrap();
    let expected = vec![
        OptionDescriptor {
            key: "durability".into(),
            kind: KIND_STRING,
            default_value: b"replicated".to_vec(),
            description: "Message completion policy".into(),
        },
        OptionDescriptor {
            key: "segment_size".into(),
            kind: KIND_UINT64,
            default_value: (1u64 << 30).to_le_bytes().to_vec(),
            description: String::new(),
        },
    ];
    assert_eq!(entries, expected);
    assert_eq!(encoded(|b| encode_option_descriptors(&entries, b)), bytes);
    assert_exact(&bytes, |bytes| decode_option_descriptors(bytes).map(drop));
    assert_eq!(decode_option_descriptors(&[0, 0, 0, 0]), Ok(vec![]));
}

#[test]
fn the_topic_catalog() {
    let catalog = option_catalog(OptionsScope::Topic);
    let keys: Vec<&str> = catalog.iter().map(|entry| entry.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "compression_algorithm",
            "message_expiry",
            "max_topic_size",
            "segment_size",
            "durability",
            "consumer_offset_durability",
            "messages_required_to_save",
            "size_of_messages_required_to_save",
            "preallocate_segments",
        ]
    );
    assert!(option_catalog(OptionsScope::Stream).is_empty());
    assert!(option_catalog(OptionsScope::User).is_empty());
    for key in UPDATABLE_TOPIC_OPTION_KEYS {
        assert!(keys.contains(&key));
    }
    // Every default decodes as its kind, and the whole reply round-trips.
    for entry in &catalog {
        let expected_length = match entry.kind {
            KIND_STRING => entry.default_value.len(),
            KIND_BOOL => 1,
            KIND_UINT32 => 4,
            KIND_UINT64 => 8,
            kind => panic!("unexpected kind {kind}"),
        };
        assert_eq!(entry.default_value.len(), expected_length, "{}", entry.key);
        assert!(!entry.default_value.is_empty() && !entry.description.is_empty(), "{}", entry.key);
        assert!(!entry.description.contains("  "), "{}: continuation lines join with one space", entry.key);
    }
    let durability = &catalog[4];
    assert_eq!(
        OptionValue { kind: durability.kind, bytes: durability.default_value.clone() }.as_str(),
        Some("replicated")
    );
    let bytes = encoded(|b| encode_option_descriptors(&catalog, b));
    assert_eq!(decode_option_descriptors(&bytes), Ok(catalog));
}

#[test]
fn partition_and_segment_requests_match_the_real_encoder() {
    let bytes = vector("create_partitions");
    let request = PartitionsChange::decode(&bytes).unwrap();
    let expected =
        PartitionsChange { stream: Identifier::Numeric(1), topic: Identifier::Numeric(2), partitions_count: 3 };
    assert_eq!(request, expected);
    assert_eq!(encoded(|b| request.encode(b)), bytes);
    assert_exact(&bytes, |bytes| PartitionsChange::decode(bytes).map(drop));

    let bytes = vector("delete_segments");
    let request = DeleteSegments::decode(&bytes).unwrap();
    let expected = DeleteSegments {
        stream: Identifier::Numeric(1),
        topic: Identifier::Name("orders".into()),
        partition_id: 0,
        segments_count: 2,
    };
    assert_eq!(request, expected);
    assert_eq!(encoded(|b| request.encode(b)), bytes);
    assert_exact(&bytes, |bytes| DeleteSegments::decode(bytes).map(drop));
}

#[test]
fn flush_matches_the_real_encoder() {
    let bytes = vector("flush");
    assert_eq!(bytes, [1, 4, 1, 0, 0, 0, 1, 4, 2, 0, 0, 0, 3, 0, 0, 0, 1], "[P11] flush_unsaved_buffer.rs layout test");
    let request = FlushUnsavedBuffer::decode(&bytes).unwrap();
    let expected = FlushUnsavedBuffer {
        stream: Identifier::Numeric(1),
        topic: Identifier::Numeric(2),
        partition_id: 3,
        fsync: true,
    };
    assert_eq!(request, expected);
    assert_eq!(encoded(|b| request.encode(b)), bytes);
    assert_exact(&bytes, |bytes| FlushUnsavedBuffer::decode(bytes).map(drop));
    let mut any_non_zero = bytes.clone();
    any_non_zero[16] = 7;
    assert!(FlushUnsavedBuffer::decode(&any_non_zero).unwrap().fsync);
}

#[test]
fn update_topic_matches_the_real_encoder() {
    let bytes = vector("update_topic");
    let request = UpdateTopic::decode(&bytes).unwrap();
    let expiry = OptionValue { kind: KIND_UINT64, bytes: 60_000_000u64.to_le_bytes().to_vec() };
    let expected = UpdateTopic {
        stream: Identifier::Numeric(1),
        topic: Identifier::Numeric(2),
        name: "orders-v2".into(),
        options: Options(vec![("message_expiry".into(), expiry)]),
    };
    assert_eq!(request, expected);
    assert_eq!(encoded(|b| request.encode(b)), bytes);
    // The fixed part must be whole; a cut inside the options block is refused too.
    let options_at = bytes.len() - expected.options.encoded_len();
    for end in 0..bytes.len() {
        if end != options_at {
            assert!(UpdateTopic::decode(&bytes[..end]).is_err(), "prefix of {end} bytes decoded");
        }
    }
    assert!(UpdateTopic::decode(&[&bytes[..], &[0]].concat()).is_err());
}

fn cache_metric() -> impl Strategy<Value = CacheMetric> {
    (any::<[u32; 3]>(), any::<u64>(), any::<u64>(), any::<u32>()).prop_map(|(ids, hits, misses, ratio)| CacheMetric {
        stream_id: ids[0],
        topic_id: ids[1],
        partition_id: ids[2],
        hits,
        misses,
        // Finite, so that equality holds after the round trip.
        hit_ratio: ratio as f32 / u32::MAX as f32,
    })
}

proptest! {
    #[test]
    fn stats_round_trip(
        numbers in any::<[u64; 8]>(),
        counts in any::<[u32; 7]>(),
        texts in prop::collection::vec(strategies::short_text(), 5),
        semver in any::<u32>(),
        cache_metrics in prop::collection::vec(cache_metric(), 0..4),
    ) {
        let stats = Stats {
            process_id: counts[0],
            cpu_usage: 1.5,
            total_cpu_usage: 99.0,
            memory_usage: numbers[0],
            total_memory: numbers[1],
            available_memory: numbers[2],
            run_time: numbers[3],
            start_time: numbers[4],
            read_bytes: numbers[5],
            written_bytes: numbers[6],
            messages_size_bytes: numbers[7],
            streams_count: counts[1],
            topics_count: counts[2],
            partitions_count: counts[3],
            segments_count: counts[4],
            messages_count: numbers[0] ^ numbers[1],
            clients_count: counts[5],
            consumer_groups_count: counts[6],
            hostname: texts[0].clone(),
            os_name: texts[1].clone(),
            os_version: texts[2].clone(),
            kernel_version: texts[3].clone(),
            iggy_server_version: texts[4].clone(),
            iggy_server_semver: Some(semver).filter(|&semver| semver != 0),
            cache_metrics,
            threads_count: counts[0] ^ 1,
            free_disk_space: numbers[2] ^ 7,
            total_disk_space: numbers[3] ^ 7,
        };
        prop_assert_eq!(Stats::decode(&encoded(|b| stats.encode(b))), Ok(stats));
    }

    #[test]
    fn requests_round_trip(
        stream in strategies::identifier(),
        topic in strategies::identifier(),
        name in strategies::name(),
        options in strategies::options(),
        numbers in any::<[u32; 3]>(),
        fsync in any::<bool>(),
    ) {
        let change = PartitionsChange { stream: stream.clone(), topic: topic.clone(), partitions_count: numbers[0] };
        prop_assert_eq!(PartitionsChange::decode(&encoded(|b| change.encode(b))), Ok(change));
        let segments = DeleteSegments {
            stream: stream.clone(),
            topic: topic.clone(),
            partition_id: numbers[1],
            segments_count: numbers[2],
        };
        prop_assert_eq!(DeleteSegments::decode(&encoded(|b| segments.encode(b))), Ok(segments));
        let flush =
            FlushUnsavedBuffer { stream: stream.clone(), topic: topic.clone(), partition_id: numbers[1], fsync };
        prop_assert_eq!(FlushUnsavedBuffer::decode(&encoded(|b| flush.encode(b))), Ok(flush));
        let update = UpdateTopic { stream, topic, name, options };
        prop_assert_eq!(UpdateTopic::decode(&encoded(|b| update.encode(b))), Ok(update));
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..160)) {
        let _ = Stats::decode(&bytes);
        let _ = decode_option_descriptors(&bytes);
        let _ = UpdateTopic::decode(&bytes);
        let _ = DeleteSegments::decode(&bytes);
    }
}

#[test]
fn snapshot_request_round_trips_and_refuses_unknown_codes() {
    let request = GetSnapshot { compression: 2, types: vec![1, 6, 100] };
    let mut buffer = BytesMut::new();
    request.encode(&mut buffer);
    assert_eq!(&buffer[..], [2, 3, 1, 6, 100]);
    assert_eq!(GetSnapshot::decode(&buffer).unwrap(), request);
    assert!(GetSnapshot::decode(&[7, 1, 1]).is_err());
    assert!(GetSnapshot::decode(&[1, 1, 7]).is_err());
    assert!(GetSnapshot::decode(&[1, 2, 1]).is_err());
    assert!(GetSnapshot::decode(&[1, 1, 1, 0]).is_err());
}
