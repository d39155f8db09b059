use super::*;
use crate::test_support::{hex, strategies};
use proptest::prelude::*;

/// `TopicCreateOptions::default().to_wire()` from the real SDK 0.11.0
/// (../shared/protocol-vectors-0.11.txt): what every CreateTopic of that SDK carries.
const SDK_TOPIC_OPTIONS: &str = include_str!("sdk_topic_create_options_0.11.hex");

fn encoded(write: impl FnOnce(&mut BytesMut)) -> BytesMut {
    let mut buffer = BytesMut::new();
    write(&mut buffer);
    buffer
}

fn read_all<T>(bytes: &[u8], read: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>) -> Result<T, DecodeError> {
    let mut reader = Reader::new(bytes);
    let value = read(&mut reader)?;
    reader.finish()?;
    Ok(value)
}

#[test]
fn identifiers_match_the_reference_encoding() {
    assert_eq!(&encoded(|b| Identifier::Numeric(0).encode(b))[..], &[1, 4, 0, 0, 0, 0]);
    assert_eq!(&encoded(|b| Identifier::Name("orders".into()).encode(b))[..], b"\x02\x06orders");
    assert_eq!(read_all(b"\x02\x06orders", Identifier::read), Ok(Identifier::Name("orders".into())));
    assert_eq!(read_all(&[1, 4, 7, 0, 0, 0], Identifier::read), Ok(Identifier::Numeric(7)));
    assert_eq!(Identifier::Numeric(1).encoded_len(), 6);
}

#[test]
fn malformed_identifiers_are_invalid_identifier() {
    let cases: [&[u8]; 4] = [&[1, 3, 0, 0, 0], &[2, 0], &[3, 4, 0, 0, 0, 0], &[2, 2, 0xff, 0xfe]];
    for bytes in cases {
        let error = read_all(bytes, Identifier::read).unwrap_err();
        assert!(matches!(error, DecodeError::InvalidIdentifier { .. }), "{bytes:?}: {error:?}");
        assert_eq!(error.code(), crate::status::ErrorCode::InvalidIdentifier);
    }
    assert_eq!(read_all(&[1, 4, 0], Identifier::read), Err(DecodeError::Truncated { needed: 4, available: 1 }));
    assert!(Identifier::named("").is_err());
    assert!(Identifier::named("x".repeat(256)).is_err());
}

#[test]
fn consumers_partitioning_and_strategies_decode_each_kind() {
    assert_eq!(
        read_all(&[2, 1, 4, 3, 0, 0, 0], Consumer::read),
        Ok(Consumer { kind: ConsumerKind::Group, id: Identifier::Numeric(3) })
    );
    assert_eq!(
        read_all(&[9, 1, 4, 3, 0, 0, 0], Consumer::read),
        Err(DecodeError::InvalidKind { what: "consumer", value: 9 })
    );
    assert_eq!(read_all(&[1, 0], Partitioning::read), Ok(Partitioning::Balanced));
    assert_eq!(read_all(&[2, 4, 5, 0, 0, 0], Partitioning::read), Ok(Partitioning::PartitionId(5)));
    assert_eq!(read_all(b"\x03\x03key", Partitioning::read), Ok(Partitioning::MessagesKey(b"key".to_vec())));
    for bad in [&[1u8, 1, 0][..], &[2, 3, 0, 0, 0], &[3, 0]] {
        assert!(matches!(read_all(bad, Partitioning::read), Err(DecodeError::InvalidLength { .. })), "{bad:?}");
    }
    assert_eq!(read_all(&[4, 0], Partitioning::read), Err(DecodeError::InvalidKind { what: "partitioning", value: 4 }));
    let mut next = vec![5];
    next.extend_from_slice(&77u64.to_le_bytes());
    assert_eq!(read_all(&next, PollingStrategy::read), Ok(PollingStrategy::Next), "value of Next is ignored");
    next[0] = 6;
    assert!(matches!(read_all(&next, PollingStrategy::read), Err(DecodeError::InvalidKind { .. })));
}

#[test]
fn the_optional_partition_is_always_five_bytes() {
    assert_eq!(&encoded(|b| put_optional_partition(b, None))[..], &[0, 0, 0, 0, 0]);
    assert_eq!(&encoded(|b| put_optional_partition(b, Some(2)))[..], &[1, 2, 0, 0, 0]);
    assert_eq!(read_all(&[1, 2, 0, 0, 0], read_optional_partition), Ok(Some(2)));
    assert_eq!(read_all(&[0, 2, 0, 0, 0], read_optional_partition), Ok(None));
    assert_eq!(read_all(&[7, 2, 0, 0, 0], read_optional_partition), Ok(None), "only flag 1 means present");
}

#[test]
fn sdk_default_topic_options_are_two_string_options() {
    let block = hex(SDK_TOPIC_OPTIONS);
    let options = Options::decode(&block).unwrap();
    assert_eq!(options.len(), 2);
    assert_eq!(options.0[0].0, "consumer_offset_durability");
    assert_eq!(options.0[1].0, "durability");
    assert_eq!(options.get_str("durability"), Some("replicated"));
    assert_eq!(options.get_str("consumer_offset_durability"), Some("replicated"));
    assert_eq!(options.get_str("segment_size"), None);
    assert_eq!(&encoded(|b| options.encode(b))[..], &block[..]);
    assert_eq!(options.encoded_len(), block.len());
}

#[test]
fn the_response_form_carries_a_length_prefix() {
    let options = Options(vec![("message_expiry".into(), OptionValue::string("1h"))]);
    let bytes = encoded(|b| options.encode_prefixed(b));
    assert_eq!(u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize, bytes.len() - 4);
    assert_eq!(read_all(&bytes, Options::read_prefixed), Ok(options));
    assert_eq!(&encoded(|b| Options::new().encode_prefixed(b))[..], &[0, 0, 0, 0]);
    assert_eq!(read_all(&[0, 0, 0, 0], Options::read_prefixed), Ok(Options::new()));
}

fn field(kind: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
    out
}

#[test]
fn options_contract_is_enforced() {
    let duplicate = [field(2, b"k"), field(2, b"v"), field(2, b"k"), field(2, b"w")].concat();
    assert_eq!(Options::decode(&duplicate), Err(DecodeError::DuplicateOptionKey { key: "k".into() }));
    let numeric_key = [field(12, &[1; 8]), field(2, b"v")].concat();
    assert_eq!(Options::decode(&numeric_key), Err(DecodeError::OptionKeyNotString { kind: 12 }));
    let lone_key = field(2, b"k");
    assert!(matches!(Options::decode(&lone_key), Err(DecodeError::Truncated { .. })));
    let reserved_kind = [field(2, b"k"), field(0, b"v")].concat();
    assert!(matches!(Options::decode(&reserved_kind), Err(DecodeError::InvalidKind { value: 0, .. })));
    let empty_value = [field(2, b"k"), field(2, b"")].concat();
    assert!(matches!(Options::decode(&empty_value), Err(DecodeError::InvalidLength { value: 0, .. })));
    let future_kind = [field(2, b"k"), field(200, b"opaque")].concat();
    assert_eq!(Options::decode(&future_kind).unwrap().0[0].1.kind, 200, "unknown value kinds pass through");
    assert_eq!(Options::decode(&vec![0; 100_001]), Err(DecodeError::OptionsTooLarge { length: 100_001 }));
    let many: Vec<u8> =
        (0..1025u32).flat_map(|i| [field(2, i.to_string().as_bytes()), field(2, b"v")].concat()).collect();
    assert_eq!(Options::decode(&many), Err(DecodeError::TooManyOptions { count: 1025 }));
    let mut oversized_prefix = BytesMut::new();
    oversized_prefix.put_u32_le(100_001);
    assert!(matches!(read_all(&oversized_prefix, Options::read_prefixed), Err(DecodeError::OptionsTooLarge { .. })));
}

#[test]
fn user_headers_share_the_tlv_walker() {
    assert_eq!(validate_user_headers(&hex("02010000006b020100000076")), Ok(1));
    assert_eq!(validate_user_headers(&[]), Ok(0));
    assert!(validate_user_headers(&field(2, b"k")).is_err());
    let numeric_key = [field(9, &[1]), field(2, b"v")].concat();
    assert_eq!(validate_user_headers(&numeric_key), Ok(1), "headers, unlike options, allow any key kind");
}

proptest! {
    #[test]
    fn readers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = read_all(&bytes, Identifier::read);
        let _ = read_all(&bytes, Consumer::read);
        let _ = read_all(&bytes, Partitioning::read);
        let _ = read_all(&bytes, PollingStrategy::read);
        let _ = read_all(&bytes, read_optional_partition);
        let _ = read_all(&bytes, AckLevel::read);
        let _ = read_all(&bytes, Options::read_prefixed);
        let _ = Options::decode(&bytes);
        let _ = validate_user_headers(&bytes);
    }

    #[test]
    fn identifiers_round_trip(identifier in strategies::identifier()) {
        let bytes = encoded(|b| identifier.encode(b));
        prop_assert_eq!(bytes.len(), identifier.encoded_len());
        prop_assert_eq!(read_all(&bytes, Identifier::read), Ok(identifier));
    }

    #[test]
    fn consumers_round_trip(consumer in strategies::consumer()) {
        let bytes = encoded(|b| consumer.encode(b));
        prop_assert_eq!(read_all(&bytes, Consumer::read), Ok(consumer));
    }

    #[test]
    fn partitioning_round_trips(partitioning in strategies::partitioning()) {
        let bytes = encoded(|b| partitioning.encode(b));
        prop_assert_eq!(bytes.len(), partitioning.encoded_len());
        prop_assert_eq!(read_all(&bytes, Partitioning::read), Ok(partitioning));
    }

    #[test]
    fn strategies_round_trip(strategy in strategies::polling_strategy()) {
        let bytes = encoded(|b| strategy.encode(b));
        prop_assert_eq!(bytes.len(), 9);
        prop_assert_eq!(read_all(&bytes, PollingStrategy::read), Ok(strategy));
    }

    #[test]
    fn optional_partitions_round_trip(partition in proptest::option::of(any::<u32>())) {
        let bytes = encoded(|b| put_optional_partition(b, partition));
        prop_assert_eq!(read_all(&bytes, read_optional_partition), Ok(partition));
    }

    #[test]
    fn options_round_trip(options in strategies::options()) {
        let bare = encoded(|b| options.encode(b));
        prop_assert_eq!(Options::decode(&bare), Ok(options.clone()));
        let prefixed = encoded(|b| options.encode_prefixed(b));
        prop_assert_eq!(read_all(&prefixed, Options::read_prefixed), Ok(options));
    }
}
