use super::*;
use crate::batch::{self, Verify};
use crate::test_support::{hex, strategies};
use crate::types::{AckLevel, Consumer, ConsumerKind, Partitioning, PollingStrategy};
use proptest::prelude::*;

/// LOGIN_REGISTER body of the real SDK 0.11.0 for iggy/iggy (../shared/protocol-vectors-0.11.txt).
const SDK_LOGIN_BODY: &str = include_str!("sdk_login_register_0.11.hex");
/// SEND_MESSAGES body of the real SDK 0.11.0, the same vector the batch tests use: stream 0,
/// topic "orders", PartitionId(0), two messages.
const SDK_SEND_BODY: &str = include_str!("../batch/sdk_send_messages_0.11.hex");
/// The options block SDK 0.11.0 puts in every CreateTopic.
const SDK_TOPIC_OPTIONS: &str = include_str!("../types/sdk_topic_create_options_0.11.hex");

fn encoded(write: impl FnOnce(&mut BytesMut)) -> BytesMut {
    let mut buffer = BytesMut::new();
    write(&mut buffer);
    buffer
}

fn rust_sdk() -> ClientVersionInfo {
    ClientVersionInfo { protocol_version: 0x2c00, sdk_name: "rust-sdk".into(), sdk_version: "0.11.0".into() }
}

#[test]
fn decodes_the_sdk_login_body() {
    let body = hex(SDK_LOGIN_BODY);
    let login = LoginRegister::decode(&body).unwrap();
    assert_eq!(login.version, rust_sdk());
    assert!(login.version.is_compatible());
    assert_eq!((login.username.as_str(), login.password.as_str(), login.context.as_str()), ("iggy", "iggy", ""));
    assert_eq!(login.validate(), Ok(()));
    assert_eq!(&encoded(|b| login.encode(b))[..], &body[..]);
    assert_eq!(ClientVersionInfo::decode_prefix(&body), Ok((rust_sdk(), 20)));
    assert_eq!(Login::decode(&body), Ok(Login::Password(login.clone())));
    assert!(!format!("{login:?}").contains("password: \"iggy\""), "passwords stay out of logs");
}

#[test]
fn login_bounds_answer_their_own_codes() {
    let login = |username: &str, password: &str| LoginRegister {
        version: rust_sdk(),
        username: username.into(),
        password: password.into(),
        context: String::new(),
    };
    assert_eq!(login("ab", "secret").validate(), Err(ErrorCode::InvalidUsername));
    assert_eq!(login(&"u".repeat(51), "secret").validate(), Err(ErrorCode::InvalidUsername));
    assert_eq!(login(&"u".repeat(50), "secret").validate(), Ok(()));
    assert_eq!(login("iggy", "ab").validate(), Err(ErrorCode::InvalidPassword));
    assert_eq!(login("iggy", &"p".repeat(101)).validate(), Err(ErrorCode::InvalidPassword));
    assert_eq!(login("iggy", &"p".repeat(100)).validate(), Ok(()));
}

#[test]
fn a_token_login_is_told_apart_by_its_shape() {
    let token =
        LoginRegisterWithPat { version: rust_sdk(), token: "iggypat-0123456789abcdef".into(), context: String::new() };
    let body = encoded(|b| token.encode(b));
    assert_eq!(LoginRegisterWithPat::decode(&body), Ok(token.clone()));
    assert!(LoginRegister::decode(&body).is_err());
    assert_eq!(Login::decode(&body), Ok(Login::Token(token.clone())));
    assert_eq!(Login::decode(&body).unwrap().version(), &rust_sdk());
    assert!(!format!("{token:?}").contains("iggypat"));
    // A body with a version prefix but neither shape: the password shape's error comes back.
    let mut broken = encoded(|b| rust_sdk().encode(b));
    broken.put_u8(0);
    assert_eq!(Login::decode(&broken), Err(DecodeError::EmptyName));
    // No decodable prefix at all is what the server turns into Eviction MalformedLogin.
    assert!(ClientVersionInfo::decode_prefix(&[0, 0x2c, 0, 0, 0]).is_err());
}

#[test]
fn decodes_the_sdk_send_messages_body_without_touching_the_batch() {
    let body = hex(SDK_SEND_BODY);
    let header = SendMessagesHeader::decode(&body).unwrap();
    assert_eq!(header.stream, Identifier::Numeric(0));
    assert_eq!(header.topic, Identifier::Name("orders".into()));
    assert_eq!(header.partitioning, Partitioning::PartitionId(0));
    assert_eq!(header.messages_count, 2);
    assert_eq!(header.batch_start, 28, "4 + metadata_length 24");
    let record = batch::validate(&body[header.batch_start..], Verify::ALL).unwrap();
    assert_eq!(record.message_count, header.messages_count);
    assert_eq!(&encoded(|b| header.encode(b))[..], &body[..header.batch_start]);
    let rebuilt = SendMessagesHeader::new(header.stream.clone(), header.topic.clone(), header.partitioning.clone(), 2);
    assert_eq!(rebuilt, header);
}

#[test]
fn send_messages_metadata_length_must_agree() {
    let mut body = hex(SDK_SEND_BODY);
    body[0] = 25;
    assert_eq!(
        SendMessagesHeader::decode(&body),
        Err(DecodeError::MetadataLengthMismatch { declared: 25, parsed: 24 })
    );
    assert_eq!(SendMessagesHeader::decode(&body[..10]), Err(DecodeError::Truncated { needed: 1, available: 0 }));
}

#[test]
fn create_topic_carries_the_sdk_default_options() {
    let mut body = encoded(|b| Identifier::Numeric(0).encode(b));
    body.put_u32_le(3);
    body.put_slice(b"\x06orders");
    body.put_slice(&hex(SDK_TOPIC_OPTIONS));
    let topic = CreateTopic::decode(&body).unwrap();
    assert_eq!((topic.partitions_count, topic.name.as_str()), (3, "orders"));
    assert_eq!(topic.options.get_str("durability"), Some("replicated"));
    assert_eq!(topic.options.get_str("consumer_offset_durability"), Some("replicated"));
    assert_eq!(&encoded(|b| topic.encode(b))[..], &body[..]);
}

#[test]
fn options_run_to_the_end_of_the_payload() {
    let stream = CreateStream { name: "orders".into(), options: Options::new() };
    let body = encoded(|b| stream.encode(b));
    assert_eq!(&body[..], b"\x06orders", "SDK 0.11 sends empty options: nothing after the name");
    assert_eq!(CreateStream::decode(&body), Ok(stream));
    let mut garbage = body.clone();
    garbage.put_u8(2);
    assert!(CreateStream::decode(&garbage).is_err(), "a partial option is not ignored");
}

#[test]
fn fixed_layouts_refuse_trailing_bytes() {
    let mut body = encoded(|b| Identifier::Numeric(1).encode(b));
    assert!(StreamRef::decode(&body).is_ok());
    body.put_u8(0);
    assert_eq!(StreamRef::decode(&body), Err(DecodeError::TrailingBytes { count: 1 }));
    let poll = sample_poll();
    let mut body = encoded(|b| poll.encode(b));
    body.put_u8(0);
    assert_eq!(PollMessages::decode(&body), Err(DecodeError::TrailingBytes { count: 1 }));
}

fn sample_poll() -> PollMessages {
    PollMessages {
        consumer: Consumer { kind: ConsumerKind::Consumer, id: Identifier::Numeric(1) },
        stream: Identifier::Numeric(0),
        topic: Identifier::Name("orders".into()),
        partition_id: Some(0),
        strategy: PollingStrategy::Next,
        count: 10,
        auto_commit: true,
    }
}

#[test]
fn poll_messages_bytes_are_laid_out_as_documented() {
    let body = encoded(|b| sample_poll().encode(b));
    let expected = [
        &[1u8, 1, 4, 1, 0, 0, 0][..],
        &[1, 4, 0, 0, 0, 0],
        b"\x02\x06orders",
        &[1, 0, 0, 0, 0],
        &[5, 0, 0, 0, 0, 0, 0, 0, 0],
        &[10, 0, 0, 0],
        &[1],
    ]
    .concat();
    assert_eq!(&body[..], &expected[..]);
    let mut auto_commit_two = expected.clone();
    *auto_commit_two.last_mut().unwrap() = 2;
    assert!(PollMessages::decode(&auto_commit_two).unwrap().auto_commit, "any non-zero byte commits");
}

#[test]
fn offset_writes_accept_the_v_and_the_legacy_length() {
    let store = StoreConsumerOffset {
        consumer: Consumer { kind: ConsumerKind::Group, id: Identifier::Name("g".into()) },
        stream: Identifier::Numeric(0),
        topic: Identifier::Numeric(0),
        partition_id: Some(1),
        offset: 41,
        ack: Some(AckLevel::Quorum),
    };
    let v_body = encoded(|b| store.encode(b));
    assert_eq!(StoreConsumerOffset::decode(&v_body), Ok(store.clone()));
    let legacy = StoreConsumerOffset::decode(&v_body[..v_body.len() - 1]).unwrap();
    assert_eq!(legacy, StoreConsumerOffset { ack: None, ..store.clone() });
    let mut bad_ack = v_body.clone();
    *bad_ack.last_mut().unwrap() = 2;
    assert_eq!(StoreConsumerOffset::decode(&bad_ack), Err(DecodeError::InvalidKind { what: "ack level", value: 2 }));
    let mut long = v_body.clone();
    long.put_u8(1);
    assert_eq!(StoreConsumerOffset::decode(&long), Err(DecodeError::TrailingBytes { count: 1 }));

    let delete = DeleteConsumerOffset {
        consumer: store.consumer.clone(),
        stream: store.stream.clone(),
        topic: store.topic.clone(),
        partition_id: None,
        ack: Some(AckLevel::NoAck),
    };
    let v_body = encoded(|b| delete.encode(b));
    assert_eq!(DeleteConsumerOffset::decode(&v_body), Ok(delete.clone()));
    assert_eq!(DeleteConsumerOffset::decode(&v_body[..v_body.len() - 1]).unwrap().ack, None);
}

fn version() -> impl Strategy<Value = ClientVersionInfo> {
    (any::<u32>(), strategies::name(), strategies::name()).prop_map(|(protocol_version, sdk_name, sdk_version)| {
        ClientVersionInfo { protocol_version, sdk_name, sdk_version }
    })
}

fn ack() -> impl Strategy<Value = Option<AckLevel>> {
    prop_oneof![Just(None), Just(Some(AckLevel::NoAck)), Just(Some(AckLevel::Quorum))]
}

fn offset_target() -> impl Strategy<Value = (Consumer, Identifier, Identifier, Option<u32>)> {
    (strategies::consumer(), strategies::identifier(), strategies::identifier(), proptest::option::of(any::<u32>()))
}

/// Encodes, decodes, and checks both the value and that decoding consumed every byte.
macro_rules! assert_round_trip {
    ($value:expr) => {{
        let value = $value;
        let bytes = encoded(|b| value.encode(b));
        prop_assert_eq!(&decode_like(&value, &bytes)?, &value);
    }};
}

/// Picks the decoder from the value's type, so the macro stays one line per request.
trait Decode: Sized {
    fn decode_bytes(bytes: &[u8]) -> Result<Self, DecodeError>;
}

macro_rules! decodable {
    ($($type:ty),+) => {$(
        impl Decode for $type {
            fn decode_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
                <$type>::decode(bytes)
            }
        }
    )+};
}

decodable!(
    LoginRegister,
    LoginRegisterWithPat,
    CreateStream,
    StreamRef,
    UpdateStream,
    CreateTopic,
    TopicRef,
    SendMessagesHeader,
    PollMessages,
    GetConsumerOffset,
    StoreConsumerOffset,
    DeleteConsumerOffset
);

fn decode_like<T: Decode>(_: &T, bytes: &[u8]) -> Result<T, TestCaseError> {
    T::decode_bytes(bytes).map_err(|error| TestCaseError::fail(error.to_string()))
}

/// Runs every request decoder over `bytes`; only a panic can fail.
fn decode_everything(bytes: &[u8]) {
    let _ = ClientVersionInfo::decode_prefix(bytes);
    let _ = Login::decode(bytes);
    let _ = LoginRegister::decode(bytes).map(|login| login.validate());
    let _ = LoginRegisterWithPat::decode(bytes);
    let _ = CreateStream::decode(bytes);
    let _ = StreamRef::decode(bytes);
    let _ = UpdateStream::decode(bytes);
    let _ = CreateTopic::decode(bytes);
    let _ = TopicRef::decode(bytes);
    let _ = SendMessagesHeader::decode(bytes);
    let _ = PollMessages::decode(bytes);
    let _ = GetConsumerOffset::decode(bytes);
    let _ = StoreConsumerOffset::decode(bytes);
    let _ = DeleteConsumerOffset::decode(bytes);
}

/// Real bodies to damage: random bytes rarely get past the first field, these reach deep.
fn valid_bodies() -> Vec<Vec<u8>> {
    let mut topic = encoded(|b| Identifier::Numeric(0).encode(b));
    topic.put_u32_le(1);
    topic.put_slice(b"\x06orders");
    topic.put_slice(&hex(SDK_TOPIC_OPTIONS));
    let store = StoreConsumerOffset {
        consumer: Consumer { kind: ConsumerKind::Group, id: Identifier::Name("group".into()) },
        stream: Identifier::Name("stream".into()),
        topic: Identifier::Numeric(3),
        partition_id: Some(1),
        offset: 10,
        ack: Some(AckLevel::Quorum),
    };
    vec![
        hex(SDK_LOGIN_BODY),
        hex(SDK_SEND_BODY),
        topic.to_vec(),
        encoded(|b| sample_poll().encode(b)).to_vec(),
        encoded(|b| store.encode(b)).to_vec(),
    ]
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        decode_everything(&bytes);
    }

    #[test]
    fn damaged_real_bodies_never_panic(
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
    fn logins_round_trip(version in version(), username in strategies::name(), password in strategies::short_text(), context in "[ -~]{0,40}") {
        assert_round_trip!(LoginRegister { version: version.clone(), username, password: password.clone(), context: context.clone() });
        assert_round_trip!(LoginRegisterWithPat { version, token: password, context });
    }

    #[test]
    fn stream_and_topic_requests_round_trip(
        stream in strategies::identifier(),
        topic in strategies::identifier(),
        name in strategies::name(),
        options in strategies::options(),
        partitions_count in any::<u32>(),
    ) {
        assert_round_trip!(CreateStream { name: name.clone(), options: options.clone() });
        assert_round_trip!(StreamRef { stream: stream.clone() });
        assert_round_trip!(UpdateStream { stream: stream.clone(), name: name.clone(), options: options.clone() });
        assert_round_trip!(CreateTopic { stream: stream.clone(), partitions_count, name, options });
        assert_round_trip!(TopicRef { stream, topic });
    }

    #[test]
    fn message_requests_round_trip(
        (consumer, stream, topic, partition_id) in offset_target(),
        partitioning in strategies::partitioning(),
        strategy in strategies::polling_strategy(),
        (count, offset, auto_commit) in (any::<u32>(), any::<u64>(), any::<bool>()),
        ack in ack(),
    ) {
        assert_round_trip!(SendMessagesHeader::new(stream.clone(), topic.clone(), partitioning, count));
        assert_round_trip!(PollMessages {
            consumer: consumer.clone(), stream: stream.clone(), topic: topic.clone(), partition_id, strategy, count, auto_commit,
        });
        assert_round_trip!(GetConsumerOffset { consumer: consumer.clone(), stream: stream.clone(), topic: topic.clone(), partition_id });
        assert_round_trip!(StoreConsumerOffset {
            consumer: consumer.clone(), stream: stream.clone(), topic: topic.clone(), partition_id, offset, ack,
        });
        assert_round_trip!(DeleteConsumerOffset { consumer, stream, topic, partition_id, ack });
    }
}
