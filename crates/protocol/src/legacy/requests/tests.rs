use super::*;
use crate::test_support::{hex, strategies};
use crate::types::{AckLevel, Consumer, ConsumerKind};
use proptest::prelude::*;

fn encoded(write: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut buffer = BytesMut::new();
    write(&mut buffer);
    buffer.to_vec()
}

#[test]
fn create_stream_is_the_name_alone() {
    let request = decode_create_stream(&hex("0474657374")).unwrap();
    assert_eq!(request, CreateStream { name: "test".into(), options: Options::new() });
    assert_eq!(encoded(|b| encode_create_stream(&request, b)), hex("0474657374"));
    // A 0.11 body (name + options) or an old pre-0.10 body (stream id first) is refused.
    assert_eq!(decode_create_stream(&hex("047465737400")), Err(DecodeError::TrailingBytes { count: 1 }));
    assert_eq!(decode_create_stream(&hex("00")), Err(DecodeError::EmptyName));
}

#[test]
fn update_stream_is_id_then_name() {
    let request = decode_update_stream(&hex("0104070000000378797a")).unwrap();
    assert_eq!(request.stream, Identifier::Numeric(7));
    assert_eq!(request.name, "xyz");
    assert!(request.options.is_empty());
    assert_eq!(encoded(|b| encode_update_stream(&request, b)), hex("0104070000000378797a"));
    assert!(decode_update_stream(&hex("0104070000000378797a00")).is_err());
}

/// CreateTopic as SDK 0.10 sends it for the mock flow (§9.2): stream 1, 2 partitions,
/// compression none, expiry never, max size unlimited, replication factor unset, "orders".
const SDK_CREATE_TOPIC: &str =
    concat!("010401000000", "02000000", "01", "ffffffffffffffff", "ffffffffffffffff", "00", "066f7264657273");

#[test]
fn create_topic_carries_fixed_settings_and_no_topic_id() {
    let request = CreateTopic::decode(&hex(SDK_CREATE_TOPIC)).unwrap();
    assert_eq!(request.stream, Identifier::Numeric(1));
    assert_eq!(request.partitions_count, 2);
    assert_eq!(
        request.settings,
        TopicSettings {
            compression_algorithm: COMPRESSION_NONE,
            message_expiry: u64::MAX,
            max_topic_size: u64::MAX,
            replication_factor: None
        }
    );
    assert_eq!(request.name, "orders");
    assert_eq!(encoded(|b| request.encode(b)), hex(SDK_CREATE_TOPIC));

    let mut bytes = hex(SDK_CREATE_TOPIC);
    bytes[6 + 4 + 1 + 16] = 3;
    assert_eq!(CreateTopic::decode(&bytes).unwrap().settings.replication_factor, Some(3));
    bytes[6 + 4] = 3;
    assert_eq!(CreateTopic::decode(&bytes), Err(DecodeError::InvalidKind { what: "compression algorithm", value: 3 }));
    let mut long = hex(SDK_CREATE_TOPIC);
    long.push(0);
    assert_eq!(CreateTopic::decode(&long), Err(DecodeError::TrailingBytes { count: 1 }));
    assert!(CreateTopic::decode(&hex(SDK_CREATE_TOPIC)[..30]).is_err());
}

#[test]
fn update_topic_has_both_ids_and_the_same_settings() {
    let bytes =
        hex(concat!("010401000000", "0206746f70696331", "02", "1027000000000000", "0000000000000000", "01", "026e77"));
    let request = UpdateTopic::decode(&bytes).unwrap();
    assert_eq!(
        (request.stream.clone(), request.topic.clone()),
        (Identifier::Numeric(1), Identifier::Name("topic1".into()))
    );
    assert_eq!(request.settings.compression_algorithm, COMPRESSION_GZIP);
    assert_eq!((request.settings.message_expiry, request.settings.max_topic_size), (10_000, 0));
    assert_eq!(request.settings.replication_factor, Some(1));
    assert_eq!(request.name, "nw");
    assert_eq!(encoded(|b| request.encode(b)), bytes);
}

fn store_offset(ack: Option<AckLevel>) -> StoreConsumerOffset {
    StoreConsumerOffset {
        consumer: Consumer { kind: ConsumerKind::Consumer, id: Identifier::Numeric(1) },
        stream: Identifier::Numeric(0),
        topic: Identifier::Name("orders".into()),
        partition_id: Some(0),
        offset: 41,
        ack,
    }
}

#[test]
fn offset_writes_have_no_ack_byte() {
    let legacy = encoded(|b| store_offset(None).encode(b));
    assert_eq!(decode_store_consumer_offset(&legacy), Ok(store_offset(None)));
    let vsr = encoded(|b| store_offset(Some(AckLevel::Quorum)).encode(b));
    assert_eq!(vsr.len(), legacy.len() + 1);
    assert_eq!(decode_store_consumer_offset(&vsr), Err(DecodeError::TrailingBytes { count: 1 }));

    let delete = DeleteConsumerOffset {
        consumer: Consumer { kind: ConsumerKind::Group, id: Identifier::Name("g".into()) },
        stream: Identifier::Numeric(0),
        topic: Identifier::Numeric(0),
        partition_id: None,
        ack: None,
    };
    let legacy = encoded(|b| delete.encode(b));
    assert_eq!(decode_delete_consumer_offset(&legacy), Ok(delete.clone()));
    let mut vsr = legacy.clone();
    vsr.push(1);
    assert_eq!(decode_delete_consumer_offset(&vsr), Err(DecodeError::TrailingBytes { count: 1 }));
    assert!(decode_delete_consumer_offset(&legacy[..legacy.len() - 1]).is_err());
}

fn settings() -> impl Strategy<Value = TopicSettings> {
    (prop_oneof![Just(COMPRESSION_NONE), Just(COMPRESSION_GZIP)], any::<u64>(), any::<u64>(), any::<Option<u8>>())
        .prop_map(|(compression_algorithm, message_expiry, max_topic_size, replication_factor)| TopicSettings {
            compression_algorithm,
            message_expiry,
            max_topic_size,
            replication_factor: replication_factor.filter(|&factor| factor != 0),
        })
}

proptest! {
    #[test]
    fn topic_requests_round_trip(
        stream in strategies::identifier(),
        topic in strategies::identifier(),
        partitions_count in any::<u32>(),
        settings in settings(),
        name in strategies::name(),
    ) {
        let create = CreateTopic { stream: stream.clone(), partitions_count, settings, name: name.clone() };
        prop_assert_eq!(CreateTopic::decode(&encoded(|b| create.encode(b))), Ok(create));
        let update = UpdateTopic { stream, topic, settings, name };
        prop_assert_eq!(UpdateTopic::decode(&encoded(|b| update.encode(b))), Ok(update));
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_create_stream(&bytes);
        let _ = decode_update_stream(&bytes);
        let _ = CreateTopic::decode(&bytes);
        let _ = UpdateTopic::decode(&bytes);
        let _ = decode_store_consumer_offset(&bytes);
        let _ = decode_delete_consumer_offset(&bytes);
    }
}
