//! Fuzz targets for every request decoder of protocol 0.11 (and the ones both dialects
//! share): streams, topics, messages, offsets, logins, users, tokens, groups, system
//! requests, and the building blocks they are made of.
//!
//! Each target holds two properties: bad input (arbitrary bytes, mutated valid encodings)
//! never panics, never allocates out of proportion, and re-encodes consistently when it
//! decodes; a valid value round-trips. Bounded by `WHIPPET_FUZZ_CASES` /
//! `WHIPPET_FUZZ_SECONDS`; a longer campaign:
//! `WHIPPET_FUZZ_CASES=1000000 cargo test -p whippet-protocol --release --test fuzz_requests`
//! (see FUZZING.md).

mod fuzz;

use bytes::BytesMut;
use fuzz::codec_targets;
use fuzz::values::{
    ack, consumer, identifier, long_text, name, optional_permissions, options, partitioning, permissions,
    polling_strategy, short_text,
};
use proptest::prelude::*;
use whippet_protocol::groups::{CreateConsumerGroup, GroupRef};
use whippet_protocol::permissions::Permissions;
use whippet_protocol::requests::{
    ClientVersionInfo, CreateStream, CreateTopic, DeleteConsumerOffset, GetConsumerOffset, Login, LoginRegister,
    LoginRegisterWithPat, PollMessages, SendMessagesHeader, StoreConsumerOffset, StreamRef, TopicRef, UpdateStream,
};
use whippet_protocol::system::{
    DeleteSegments, DescribeOptions, FlushUnsavedBuffer, GetClient, GetSnapshot, OptionsScope, PartitionsChange,
    SNAPSHOT_TYPES, UpdateTopic,
};
use whippet_protocol::types::{
    AckLevel, Consumer, Identifier, Options, Partitioning, PollingStrategy, put_optional_partition,
    read_optional_partition, validate_user_headers,
};
use whippet_protocol::users::{
    ChangePassword, CreatePersonalAccessToken, CreateUser, DeletePersonalAccessToken, LoginUser,
    LoginWithPersonalAccessToken, UpdatePermissions, UpdateUser, UserRef,
};
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

// --- building blocks (protocol.md §2) ---

fn optional_partition() -> impl Strategy<Value = Option<u32>> {
    prop::option::of(any::<u32>())
}

codec_targets! {
    identifier: identifier(), whole(Identifier::read), Identifier::encode;
    consumer: consumer(), whole(Consumer::read), Consumer::encode;
    partitioning: partitioning(), whole(Partitioning::read), Partitioning::encode;
    polling_strategy: polling_strategy(), whole(PollingStrategy::read), PollingStrategy::encode;
    optional_partition: optional_partition(), whole(read_optional_partition),
        |partition: &Option<u32>, buffer: &mut BytesMut| put_optional_partition(buffer, *partition);
    ack_level: prop_oneof![Just(AckLevel::NoAck), Just(AckLevel::Quorum)], whole(AckLevel::read),
        |ack: &AckLevel, buffer: &mut BytesMut| buffer.extend_from_slice(&[*ack as u8]);
    options: options(), Options::decode, Options::encode;
    options_prefixed: options(), whole(Options::read_prefixed), Options::encode_prefixed;
    permissions: permissions(), Permissions::decode, Permissions::encode;
    permissions_optional: optional_permissions(), whole(Permissions::read_optional),
        |permissions: &Option<Permissions>, buffer: &mut BytesMut| Permissions::put_optional(buffer, permissions.as_ref());
}

/// The lengths the encoders put in front of blocks agree with what they write.
#[test]
fn encoded_lengths_match_encodings() {
    fuzz::check(
        (identifier(), partitioning(), options(), permissions()),
        |(identifier, partitioning, options, permissions)| {
            prop_assert_eq!(identifier.encoded_len(), fuzz::encoded(&identifier, Identifier::encode).len());
            prop_assert_eq!(partitioning.encoded_len(), fuzz::encoded(&partitioning, Partitioning::encode).len());
            prop_assert_eq!(options.encoded_len(), fuzz::encoded(&options, Options::encode).len());
            prop_assert_eq!(permissions.encoded_len(), fuzz::encoded(&permissions, Permissions::encode).len());
            Ok(())
        },
    );
}

mod user_headers {
    use super::*;

    /// A user-headers block has the options block's TLV layout (§2.7), any key kind.
    #[test]
    fn bad_input_never_panics() {
        let valid = options().prop_map(|options| fuzz::encoded(&options, Options::encode));
        fuzz::check(fuzz::fuzzed(valid), |bytes| {
            fuzz::allocation::bounded(bytes.len(), || validate_user_headers(&bytes))?.ok();
            Ok(())
        });
    }

    #[test]
    fn valid_blocks_count_their_pairs() {
        fuzz::check(options(), |options| {
            let block = fuzz::encoded(&options, Options::encode);
            prop_assert_eq!(validate_user_headers(&block), Ok(options.len()));
            Ok(())
        });
    }
}

// --- logins (§5.2) ---

fn client_version_info() -> impl Strategy<Value = ClientVersionInfo> {
    (any::<u32>(), name(), name()).prop_map(|(protocol_version, sdk_name, sdk_version)| ClientVersionInfo {
        protocol_version,
        sdk_name,
        sdk_version,
    })
}

fn login_register() -> impl Strategy<Value = LoginRegister> {
    (client_version_info(), name(), short_text(), long_text())
        .prop_map(|(version, username, password, context)| LoginRegister { version, username, password, context })
}

fn login_register_with_pat() -> impl Strategy<Value = LoginRegisterWithPat> {
    (client_version_info(), short_text(), long_text()).prop_map(|(version, token, context)| LoginRegisterWithPat {
        version,
        token,
        context,
    })
}

fn encode_login(login: &Login, buffer: &mut BytesMut) {
    match login {
        Login::Password(login) => login.encode(buffer),
        Login::Token(login) => login.encode(buffer),
    }
}

fn login() -> impl Strategy<Value = Login> {
    prop_oneof![login_register().prop_map(Login::Password), login_register_with_pat().prop_map(Login::Token)]
}

const SDK_LOGIN_BODY: &str = include_str!("../src/requests/sdk_login_register_0.11.hex");

codec_targets! {
    client_version_info: client_version_info(),
        |bytes: &[u8]| ClientVersionInfo::decode_prefix(bytes).map(|(info, _)| info), ClientVersionInfo::encode;
    login_register: login_register(), LoginRegister::decode, LoginRegister::encode;
    login_register_with_pat: login_register_with_pat(), LoginRegisterWithPat::decode, LoginRegisterWithPat::encode;
}

mod login {
    use super::*;

    /// The Register body decoder, which tries both login shapes, seeded with the SDK's bytes.
    #[test]
    fn bad_input_never_panics() {
        let valid = login().prop_map(|login| fuzz::encoded(&login, encode_login));
        let corpus = vec![fuzz::hex(SDK_LOGIN_BODY)];
        fuzz::check(fuzz::fuzzed_with(valid, corpus), |bytes| {
            fuzz::decodes_consistently(&bytes, Login::decode, encode_login)
        });
    }

    /// A password login is read as one; the prefix decoder sees the same version and length.
    #[test]
    fn password_logins_round_trip() {
        fuzz::check(login_register(), |login| {
            let bytes = fuzz::encoded(&login, LoginRegister::encode);
            let prefix = ClientVersionInfo::decode_prefix(&bytes);
            prop_assert_eq!(prefix.map(|(version, _)| version), Ok(login.version.clone()));
            prop_assert_eq!(Login::decode(&bytes), Ok(Login::Password(login)));
            Ok(())
        });
    }

    /// A token login is read as one. For its body to fit the password shape as well, the
    /// context's length field would have to double as the password length and the password
    /// as the start of a second length that ends the body exactly; with a UTF-8 context that
    /// takes a context of 16 MiB or more, so below that the shapes never overlap.
    #[test]
    fn token_logins_round_trip() {
        fuzz::check(login_register_with_pat(), |login| {
            let bytes = fuzz::encoded(&login, LoginRegisterWithPat::encode);
            prop_assert_eq!(Login::decode(&bytes), Ok(Login::Token(login)));
            Ok(())
        });
    }
}

// --- streams, topics, messages, offsets (§5.3–§5.7) ---

fn create_stream() -> impl Strategy<Value = CreateStream> {
    (name(), options()).prop_map(|(name, options)| CreateStream { name, options })
}

fn update_stream() -> impl Strategy<Value = UpdateStream> {
    (identifier(), name(), options()).prop_map(|(stream, name, options)| UpdateStream { stream, name, options })
}

fn create_topic() -> impl Strategy<Value = CreateTopic> {
    (identifier(), any::<u32>(), name(), options()).prop_map(|(stream, partitions_count, name, options)| CreateTopic {
        stream,
        partitions_count,
        name,
        options,
    })
}

fn topic_ref() -> impl Strategy<Value = TopicRef> {
    (identifier(), identifier()).prop_map(|(stream, topic)| TopicRef { stream, topic })
}

fn send_messages_header() -> impl Strategy<Value = SendMessagesHeader> {
    (identifier(), identifier(), partitioning(), any::<u32>())
        .prop_map(|(stream, topic, partitioning, count)| SendMessagesHeader::new(stream, topic, partitioning, count))
}

fn poll_messages() -> impl Strategy<Value = PollMessages> {
    (consumer(), identifier(), identifier(), optional_partition(), polling_strategy(), any::<u32>(), any::<bool>())
        .prop_map(|(consumer, stream, topic, partition_id, strategy, count, auto_commit)| PollMessages {
            consumer,
            stream,
            topic,
            partition_id,
            strategy,
            count,
            auto_commit,
        })
}

fn get_consumer_offset() -> impl Strategy<Value = GetConsumerOffset> {
    (consumer(), identifier(), identifier(), optional_partition())
        .prop_map(|(consumer, stream, topic, partition_id)| GetConsumerOffset { consumer, stream, topic, partition_id })
}

fn store_consumer_offset() -> impl Strategy<Value = StoreConsumerOffset> {
    (get_consumer_offset(), any::<u64>(), ack()).prop_map(|(target, offset, ack)| StoreConsumerOffset {
        consumer: target.consumer,
        stream: target.stream,
        topic: target.topic,
        partition_id: target.partition_id,
        offset,
        ack,
    })
}

fn delete_consumer_offset() -> impl Strategy<Value = DeleteConsumerOffset> {
    (get_consumer_offset(), ack()).prop_map(|(target, ack)| DeleteConsumerOffset {
        consumer: target.consumer,
        stream: target.stream,
        topic: target.topic,
        partition_id: target.partition_id,
        ack,
    })
}

codec_targets! {
    create_stream: create_stream(), CreateStream::decode, CreateStream::encode;
    stream_ref: identifier().prop_map(|stream| StreamRef { stream }), StreamRef::decode, StreamRef::encode;
    update_stream: update_stream(), UpdateStream::decode, UpdateStream::encode;
    create_topic: create_topic(), CreateTopic::decode, CreateTopic::encode;
    topic_ref: topic_ref(), TopicRef::decode, TopicRef::encode;
    send_messages_header: send_messages_header(), SendMessagesHeader::decode, SendMessagesHeader::encode;
    poll_messages: poll_messages(), PollMessages::decode, PollMessages::encode;
    get_consumer_offset: get_consumer_offset(), GetConsumerOffset::decode, GetConsumerOffset::encode;
    store_consumer_offset: store_consumer_offset(), StoreConsumerOffset::decode, StoreConsumerOffset::encode;
    delete_consumer_offset: delete_consumer_offset(), DeleteConsumerOffset::decode, DeleteConsumerOffset::encode;
}

/// SendMessages metadata is read from the front of the body: the record after it, any bytes
/// at all, changes neither the header nor where the record starts.
#[test]
fn send_messages_header_ignores_the_record() {
    fuzz::check((send_messages_header(), fuzz::bytes()), |(header, record)| {
        let mut body = fuzz::encoded(&header, SendMessagesHeader::encode);
        prop_assert_eq!(body.len(), header.batch_start);
        body.extend_from_slice(&record);
        prop_assert_eq!(SendMessagesHeader::decode(&body), Ok(header));
        Ok(())
    });
}

// --- users and tokens (§5.2, both dialects) ---

fn create_user(legacy: bool) -> impl Strategy<Value = CreateUser> {
    let options = if legacy { Just(Options::new()).boxed() } else { options().boxed() };
    (name(), short_text(), any::<u8>(), optional_permissions(), options).prop_map(
        |(username, password, status, permissions, options)| CreateUser {
            username,
            password,
            status,
            permissions,
            options,
        },
    )
}

fn update_user(legacy: bool) -> impl Strategy<Value = UpdateUser> {
    let options = if legacy { Just(Options::new()).boxed() } else { options().boxed() };
    (identifier(), prop::option::of(name()), prop::option::of(any::<u8>()), options)
        .prop_map(|(user, username, status, options)| UpdateUser { user, username, status, options })
}

fn update_permissions() -> impl Strategy<Value = UpdatePermissions> {
    (identifier(), optional_permissions()).prop_map(|(user, permissions)| UpdatePermissions { user, permissions })
}

fn change_password() -> impl Strategy<Value = ChangePassword> {
    (identifier(), short_text(), short_text()).prop_map(|(user, current_password, new_password)| ChangePassword {
        user,
        current_password,
        new_password,
    })
}

fn login_user() -> impl Strategy<Value = LoginUser> {
    // `Some("")` is written like `None`, so only non-empty texts are `Some`.
    let optional = || prop::option::of("\\PC{1,40}");
    (name(), short_text(), optional(), optional()).prop_map(|(username, password, version, context)| LoginUser {
        username,
        password,
        version,
        context,
    })
}

fn decode_create_user(legacy: bool) -> impl Fn(&[u8]) -> Result<CreateUser, DecodeError> {
    move |bytes| CreateUser::decode(bytes, legacy)
}

fn decode_update_user(legacy: bool) -> impl Fn(&[u8]) -> Result<UpdateUser, DecodeError> {
    move |bytes| UpdateUser::decode(bytes, legacy)
}

codec_targets! {
    user_ref: identifier().prop_map(|user| UserRef { user }), UserRef::decode, UserRef::encode;
    create_user: create_user(false), decode_create_user(false), CreateUser::encode;
    create_user_legacy: create_user(true), decode_create_user(true), CreateUser::encode;
    update_user: update_user(false), decode_update_user(false), UpdateUser::encode;
    update_user_legacy: update_user(true), decode_update_user(true), UpdateUser::encode;
    update_permissions: update_permissions(), UpdatePermissions::decode, UpdatePermissions::encode;
    change_password: change_password(), ChangePassword::decode, ChangePassword::encode;
    create_personal_access_token: (name(), any::<u64>()).prop_map(|(name, expiry)| CreatePersonalAccessToken { name, expiry }),
        CreatePersonalAccessToken::decode, CreatePersonalAccessToken::encode;
    delete_personal_access_token: name().prop_map(|name| DeletePersonalAccessToken { name }),
        DeletePersonalAccessToken::decode, DeletePersonalAccessToken::encode;
    login_user: login_user(), LoginUser::decode, LoginUser::encode;
    login_with_personal_access_token: name().prop_map(|token| LoginWithPersonalAccessToken { token }),
        LoginWithPersonalAccessToken::decode, LoginWithPersonalAccessToken::encode;
}

mod sdk_admin_requests {
    use super::*;

    /// The admin request decoders, seeded with the bytes the real 0.11 SDK wrote
    /// (`src/admin_vectors_0.11.txt`).
    #[test]
    fn bad_input_never_panics() {
        let names = [
            "permissions",
            "create_user",
            "create_user_no_perms",
            "update_user",
            "update_user_none",
            "update_permissions",
            "update_permissions_none",
            "change_password",
            "login_user",
            "create_pat",
            "create_group",
            "create_partitions",
            "delete_segments",
            "flush",
            "update_topic",
        ];
        let corpus: Vec<Vec<u8>> = names.iter().map(|name| fuzz::admin_vector(name)).collect();
        fuzz::check(fuzz::mutated(prop::sample::select(corpus)), |bytes| {
            fuzz::decodes_consistently(&bytes, Permissions::decode, Permissions::encode)?;
            fuzz::decodes_consistently(&bytes, decode_create_user(false), CreateUser::encode)?;
            fuzz::decodes_consistently(&bytes, decode_create_user(true), CreateUser::encode)?;
            fuzz::decodes_consistently(&bytes, decode_update_user(false), UpdateUser::encode)?;
            fuzz::decodes_consistently(&bytes, UpdatePermissions::decode, UpdatePermissions::encode)?;
            fuzz::decodes_consistently(&bytes, ChangePassword::decode, ChangePassword::encode)?;
            fuzz::decodes_consistently(&bytes, LoginUser::decode, LoginUser::encode)?;
            fuzz::decodes_consistently(&bytes, CreatePersonalAccessToken::decode, CreatePersonalAccessToken::encode)?;
            fuzz::decodes_consistently(&bytes, CreateConsumerGroup::decode, CreateConsumerGroup::encode)?;
            fuzz::decodes_consistently(&bytes, PartitionsChange::decode, PartitionsChange::encode)?;
            fuzz::decodes_consistently(&bytes, DeleteSegments::decode, DeleteSegments::encode)?;
            fuzz::decodes_consistently(&bytes, FlushUnsavedBuffer::decode, FlushUnsavedBuffer::encode)?;
            fuzz::decodes_consistently(&bytes, UpdateTopic::decode, UpdateTopic::encode)
        });
    }
}

// --- groups and system requests (§5.1, §5.4–§5.6, §5.8) ---

fn group_ref() -> impl Strategy<Value = GroupRef> {
    (identifier(), identifier(), identifier()).prop_map(|(stream, topic, group)| GroupRef { stream, topic, group })
}

fn create_consumer_group() -> impl Strategy<Value = CreateConsumerGroup> {
    (identifier(), identifier(), name()).prop_map(|(stream, topic, name)| CreateConsumerGroup { stream, topic, name })
}

fn describe_options() -> impl Strategy<Value = DescribeOptions> {
    prop_oneof![Just(OptionsScope::Topic), Just(OptionsScope::Stream), Just(OptionsScope::User)]
        .prop_map(|scope| DescribeOptions { scope })
}

fn partitions_change() -> impl Strategy<Value = PartitionsChange> {
    (identifier(), identifier(), any::<u32>()).prop_map(|(stream, topic, partitions_count)| PartitionsChange {
        stream,
        topic,
        partitions_count,
    })
}

fn delete_segments() -> impl Strategy<Value = DeleteSegments> {
    (identifier(), identifier(), any::<u32>(), any::<u32>()).prop_map(
        |(stream, topic, partition_id, segments_count)| DeleteSegments { stream, topic, partition_id, segments_count },
    )
}

fn flush_unsaved_buffer() -> impl Strategy<Value = FlushUnsavedBuffer> {
    (identifier(), identifier(), any::<u32>(), any::<bool>())
        .prop_map(|(stream, topic, partition_id, fsync)| FlushUnsavedBuffer { stream, topic, partition_id, fsync })
}

fn update_topic() -> impl Strategy<Value = UpdateTopic> {
    (identifier(), identifier(), name(), options()).prop_map(|(stream, topic, name, options)| UpdateTopic {
        stream,
        topic,
        name,
        options,
    })
}

fn get_snapshot() -> impl Strategy<Value = GetSnapshot> {
    (1u8..=6, prop::collection::vec(prop::sample::select(&SNAPSHOT_TYPES[..]), 0..=255))
        .prop_map(|(compression, types)| GetSnapshot { compression, types })
}

codec_targets! {
    group_ref: group_ref(), GroupRef::decode, GroupRef::encode;
    create_consumer_group: create_consumer_group(), CreateConsumerGroup::decode, CreateConsumerGroup::encode;
    get_client: any::<u32>().prop_map(|client_id| GetClient { client_id }), GetClient::decode, GetClient::encode;
    describe_options: describe_options(), DescribeOptions::decode, DescribeOptions::encode;
    partitions_change: partitions_change(), PartitionsChange::decode, PartitionsChange::encode;
    delete_segments: delete_segments(), DeleteSegments::decode, DeleteSegments::encode;
    flush_unsaved_buffer: flush_unsaved_buffer(), FlushUnsavedBuffer::decode, FlushUnsavedBuffer::encode;
    update_topic: update_topic(), UpdateTopic::decode, UpdateTopic::encode;
    get_snapshot: get_snapshot(), GetSnapshot::decode, GetSnapshot::encode;
}
