use super::*;
use crate::codes;
use proptest::prelude::*;

const VECTORS: &str = include_str!("../admin_vectors_0.11.txt");

/// A vector of `admin_vectors_0.11.txt` by name.
fn vector(name: &str) -> Vec<u8> {
    let line = VECTORS.lines().find(|line| line.split(' ').next() == Some(name)).expect("vector exists");
    crate::test_support::hex(&line[name.len() + 1..])
}

fn encoded(permissions: &Permissions) -> Vec<u8> {
    let mut buffer = BytesMut::new();
    permissions.encode(&mut buffer);
    buffer.to_vec()
}

/// The permission set of the vectors file, built by hand.
fn sample() -> Permissions {
    let global = GlobalPermissions {
        read_servers: true,
        read_users: true,
        read_streams: true,
        read_topics: true,
        poll_messages: true,
        ..GlobalPermissions::default()
    };
    let stream_1 = StreamPermissions {
        manage_stream: true,
        manage_topics: true,
        poll_messages: true,
        topics: BTreeMap::from([
            (2, TopicPermissions { read_topic: true, send_messages: true, ..TopicPermissions::default() }),
            (7, TopicPermissions { manage_topic: true, poll_messages: true, ..TopicPermissions::default() }),
        ]),
        ..StreamPermissions::default()
    };
    let stream_9 =
        StreamPermissions { read_stream: true, read_topics: true, send_messages: true, ..StreamPermissions::default() };
    Permissions { global, streams: BTreeMap::from([(1, stream_1), (9, stream_9)]) }
}

#[test]
fn matches_the_real_encoder() {
    let bytes = vector("permissions");
    assert_eq!(Permissions::decode(&bytes), Ok(sample()));
    assert_eq!(encoded(&sample()), bytes);
    assert_eq!(sample().encoded_len(), bytes.len());
}

#[test]
fn global_only_is_eleven_bytes() {
    let root = Permissions::root();
    assert_eq!(encoded(&root), [[1u8; 10].as_slice(), &[0]].concat());
    assert_eq!(root.encoded_len(), 11);
    assert_eq!(encoded(&Permissions::default()), [0u8; 11]);
}

#[test]
fn any_non_zero_byte_reads_as_true_like_the_sdk() {
    let mut bytes = vector("permissions");
    bytes[1] = 0x7f; // read_servers
    bytes[11 + 4 + 1] = 2; // stream 1 read_stream
    let decoded = Permissions::decode(&bytes).unwrap();
    assert!(decoded.global.read_servers);
    assert!(decoded.streams[&1].read_stream);
    assert_eq!(encoded(&decoded)[11 + 4 + 1], 1, "encoding writes 0 or 1");
}

#[test]
fn truncated_and_trailing_bytes_are_refused() {
    let bytes = vector("permissions");
    for end in 0..bytes.len() {
        assert!(matches!(Permissions::decode(&bytes[..end]), Err(DecodeError::Truncated { .. })), "truncated at {end}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(Permissions::decode(&longer), Err(DecodeError::TrailingBytes { count: 1 }));
}

#[test]
fn a_stream_listed_twice_keeps_the_last_entry() {
    let mut buffer = BytesMut::new();
    GlobalPermissions::default().encode(&mut buffer);
    buffer.put_u8(1);
    for (read_stream, has_next) in [(1, 1), (0, 0)] {
        buffer.put_u32_le(5);
        buffer.put_slice(&[0, read_stream, 0, 0, 0, 0, 0, has_next]);
    }
    let decoded = Permissions::decode(&buffer).unwrap();
    assert_eq!(decoded.streams.len(), 1);
    assert!(!decoded.streams[&5].read_stream);
}

#[test]
fn the_optional_request_form() {
    let mut buffer = BytesMut::new();
    Permissions::put_optional(&mut buffer, Some(&sample()));
    let mut reader = Reader::new(&buffer);
    assert_eq!(Permissions::read_optional(&mut reader), Ok(Some(sample())));
    assert_eq!(reader.remaining(), 0);

    // Only flag 1 means present, as in [P11]: any other flag leaves the bytes unread.
    for flag in [0, 2] {
        let bytes = [flag];
        let mut reader = Reader::new(&bytes);
        assert_eq!(Permissions::read_optional(&mut reader), Ok(None));
    }

    let mut wrong_length = buffer.to_vec();
    wrong_length[1] += 1;
    let declared = u64::from(wrong_length[1]);
    assert_eq!(
        Permissions::read_optional(&mut Reader::new(&wrong_length)),
        Err(DecodeError::InvalidLength { what: "permissions", value: declared })
    );
}

fn topic_permissions() -> impl Strategy<Value = TopicPermissions> {
    any::<[bool; 4]>().prop_map(|flags| TopicPermissions {
        manage_topic: flags[0],
        read_topic: flags[1],
        poll_messages: flags[2],
        send_messages: flags[3],
    })
}

fn stream_permissions() -> impl Strategy<Value = StreamPermissions> {
    (any::<[bool; 6]>(), prop::collection::btree_map(any::<u32>(), topic_permissions(), 0..4)).prop_map(
        |(flags, topics)| StreamPermissions {
            manage_stream: flags[0],
            read_stream: flags[1],
            manage_topics: flags[2],
            read_topics: flags[3],
            poll_messages: flags[4],
            send_messages: flags[5],
            topics,
        },
    )
}

pub(crate) fn permissions() -> impl Strategy<Value = Permissions> {
    (any::<[bool; 10]>(), prop::collection::btree_map(any::<u32>(), stream_permissions(), 0..4)).prop_map(
        |(flags, streams)| Permissions {
            global: GlobalPermissions {
                manage_servers: flags[0],
                read_servers: flags[1],
                manage_users: flags[2],
                read_users: flags[3],
                manage_streams: flags[4],
                read_streams: flags[5],
                manage_topics: flags[6],
                read_topics: flags[7],
                poll_messages: flags[8],
                send_messages: flags[9],
            },
            streams,
        },
    )
}

proptest! {
    #[test]
    fn round_trips(permissions in permissions()) {
        let bytes = encoded(&permissions);
        prop_assert_eq!(bytes.len(), permissions.encoded_len());
        prop_assert_eq!(Permissions::decode(&bytes), Ok(permissions));
    }

    #[test]
    fn never_panics_on_noise(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = Permissions::decode(&bytes);
    }
}

// --- Authorization -------------------------------------------------------------------------

const STREAM: u32 = 1;
const TOPIC: u32 = 2;
const OTHER: u32 = 3;

fn global(grant: impl FnOnce(&mut GlobalPermissions)) -> Permissions {
    let mut permissions = Permissions::default();
    grant(&mut permissions.global);
    permissions
}

fn on_stream(grant: impl FnOnce(&mut StreamPermissions)) -> Permissions {
    let mut stream = StreamPermissions::default();
    grant(&mut stream);
    Permissions { streams: BTreeMap::from([(STREAM, stream)]), ..Permissions::default() }
}

fn on_topic(topic: u32, grant: impl FnOnce(&mut TopicPermissions)) -> Permissions {
    let mut grants = TopicPermissions::default();
    grant(&mut grants);
    on_stream(|stream| {
        stream.topics.insert(topic, grants);
    })
}

/// Every action, scoped to (STREAM, TOPIC) where it takes ids.
fn every_action() -> Vec<Action> {
    let (stream, topic) = (STREAM, TOPIC);
    vec![
        Action::Ping,
        Action::GetMe,
        Action::GetClusterMetadata,
        Action::DescribeOptions,
        Action::GetSnapshot,
        Action::GetStats,
        Action::GetClients,
        Action::GetClient,
        Action::Logout,
        Action::GetUsers,
        Action::GetUser { own: false },
        Action::CreateUser,
        Action::DeleteUser,
        Action::UpdateUser,
        Action::UpdatePermissions,
        Action::ChangePassword { own: false },
        Action::GetPersonalAccessTokens,
        Action::CreatePersonalAccessToken,
        Action::DeletePersonalAccessToken,
        Action::GetStreams,
        Action::GetStream { stream },
        Action::CreateStream,
        Action::UpdateStream { stream },
        Action::DeleteStream { stream },
        Action::PurgeStream { stream },
        Action::GetTopics { stream },
        Action::GetTopic { stream, topic },
        Action::CreateTopic { stream },
        Action::UpdateTopic { stream, topic },
        Action::DeleteTopic { stream, topic },
        Action::PurgeTopic { stream, topic },
        Action::CreatePartitions { stream, topic },
        Action::DeletePartitions { stream, topic },
        Action::DeleteSegments { stream, topic },
        Action::PollMessages { stream, topic },
        Action::SendMessages { stream, topic },
        Action::FlushUnsavedBuffer { stream, topic },
        Action::GetConsumerOffset { stream, topic },
        Action::StoreConsumerOffset { stream, topic },
        Action::DeleteConsumerOffset { stream, topic },
        Action::GetConsumerGroups { stream, topic },
        Action::GetConsumerGroup { stream, topic },
        Action::CreateConsumerGroup { stream, topic },
        Action::DeleteConsumerGroup { stream, topic },
        Action::JoinConsumerGroup { stream, topic },
        Action::LeaveConsumerGroup { stream, topic },
        Action::SyncConsumerGroup { stream, topic },
    ]
}

/// The actions `permissions` allows, by code.
fn allowed(permissions: &Permissions) -> Vec<u32> {
    every_action().iter().filter(|action| permissions.allows(action)).map(Action::code).collect()
}

const UNGATED: [u32; 10] = [
    codes::PING,
    codes::GET_CLUSTER_METADATA,
    codes::DESCRIBE_OPTIONS,
    codes::GET_ME,
    codes::GET_SNAPSHOT_FILE,
    codes::LOGOUT_USER,
    codes::GET_PERSONAL_ACCESS_TOKENS,
    codes::CREATE_PERSONAL_ACCESS_TOKEN,
    codes::DELETE_PERSONAL_ACCESS_TOKEN,
    codes::SYNC_CONSUMER_GROUP,
];

fn with_ungated(codes: &[u32]) -> Vec<u32> {
    let mut expected: Vec<u32> = UNGATED.iter().chain(codes).copied().collect();
    expected.sort_unstable();
    expected
}

fn sorted(mut codes: Vec<u32>) -> Vec<u32> {
    codes.sort_unstable();
    codes
}

#[test]
fn every_command_that_needs_a_login_has_an_action() {
    let covered: Vec<u32> = every_action().iter().map(Action::code).collect();
    let outside = [
        codes::LOGIN_USER,
        codes::LOGIN_REGISTER,
        codes::LOGIN_WITH_PERSONAL_ACCESS_TOKEN,
        codes::LOGIN_REGISTER_WITH_PAT,
        codes::ATTACH_CONSUMER_SESSION,
        codes::GET_POLL_ROUTING,
        codes::POLL_MESSAGES_ON_PRIMARY,
        codes::GET_CONSUMER_OFFSET_ROUTING,
    ];
    for (code, name) in codes::ALL {
        assert_eq!(covered.contains(&code), !outside.contains(&code), "{name}");
    }
    assert_eq!(covered.len(), codes::ALL.len() - outside.len(), "one action per code");
}

#[test]
fn no_permissions_allow_only_the_ungated_commands() {
    assert_eq!(sorted(allowed(&Permissions::default())), with_ungated(&[]));
    assert!(Permissions::default().allows(&Action::GetUser { own: true }));
    assert!(Permissions::default().allows(&Action::ChangePassword { own: true }));
}

#[test]
fn root_allows_everything() {
    assert_eq!(allowed(&Permissions::root()).len(), every_action().len());
}

#[test]
fn server_info_rules() {
    let expected = with_ungated(&[codes::GET_STATS, codes::GET_CLIENTS, codes::GET_CLIENT]);
    assert_eq!(sorted(allowed(&global(|g| g.read_servers = true))), expected);
    assert_eq!(sorted(allowed(&global(|g| g.manage_servers = true))), expected);
}

#[test]
fn user_rules() {
    let read = [codes::GET_USERS, codes::GET_USER];
    assert_eq!(sorted(allowed(&global(|g| g.read_users = true))), with_ungated(&read));
    let manage = [
        codes::GET_USERS,
        codes::GET_USER,
        codes::CREATE_USER,
        codes::DELETE_USER,
        codes::UPDATE_USER,
        codes::UPDATE_PERMISSIONS,
        codes::CHANGE_PASSWORD,
    ];
    assert_eq!(sorted(allowed(&global(|g| g.manage_users = true))), with_ungated(&manage));
}

#[test]
fn global_stream_rules() {
    let read = [
        codes::GET_STREAMS,
        codes::GET_STREAM,
        codes::GET_TOPICS,
        codes::GET_TOPIC,
        codes::GET_CONSUMER_GROUPS,
        codes::GET_CONSUMER_GROUP,
        codes::CREATE_CONSUMER_GROUP,
        codes::DELETE_CONSUMER_GROUP,
        codes::JOIN_CONSUMER_GROUP,
        codes::LEAVE_CONSUMER_GROUP,
    ];
    // Reading streams does not allow polling (messages.rs checks only `poll_messages`).
    assert_eq!(sorted(allowed(&global(|g| g.read_streams = true))), with_ungated(&read));
    let manage = [
        &read[..],
        &[
            codes::CREATE_STREAM,
            codes::UPDATE_STREAM,
            codes::DELETE_STREAM,
            codes::PURGE_STREAM,
            codes::CREATE_TOPIC,
            codes::UPDATE_TOPIC,
            codes::DELETE_TOPIC,
            codes::PURGE_TOPIC,
            codes::CREATE_PARTITIONS,
            codes::DELETE_PARTITIONS,
            codes::DELETE_SEGMENTS,
        ],
    ]
    .concat();
    // Managing streams allows neither polling nor sending.
    assert_eq!(sorted(allowed(&global(|g| g.manage_streams = true))), with_ungated(&manage));
}

#[test]
fn global_topic_rules() {
    let read = [
        codes::GET_TOPICS,
        codes::GET_TOPIC,
        codes::GET_CONSUMER_GROUPS,
        codes::GET_CONSUMER_GROUP,
        codes::CREATE_CONSUMER_GROUP,
        codes::DELETE_CONSUMER_GROUP,
        codes::JOIN_CONSUMER_GROUP,
        codes::LEAVE_CONSUMER_GROUP,
    ];
    assert_eq!(sorted(allowed(&global(|g| g.read_topics = true))), with_ungated(&read));
    let manage = [
        &read[..],
        &[
            codes::CREATE_TOPIC,
            codes::UPDATE_TOPIC,
            codes::DELETE_TOPIC,
            codes::PURGE_TOPIC,
            codes::CREATE_PARTITIONS,
            codes::DELETE_PARTITIONS,
            codes::DELETE_SEGMENTS,
        ],
    ]
    .concat();
    assert_eq!(sorted(allowed(&global(|g| g.manage_topics = true))), with_ungated(&manage));
}

#[test]
fn global_message_rules() {
    let poll =
        [codes::POLL_MESSAGES, codes::GET_CONSUMER_OFFSET, codes::STORE_CONSUMER_OFFSET, codes::DELETE_CONSUMER_OFFSET];
    assert_eq!(sorted(allowed(&global(|g| g.poll_messages = true))), with_ungated(&poll));
    let send = [codes::SEND_MESSAGES, codes::FLUSH_UNSAVED_BUFFER];
    assert_eq!(sorted(allowed(&global(|g| g.send_messages = true))), with_ungated(&send));
}

#[test]
fn stream_level_rules() {
    let read_topics = [
        codes::GET_TOPICS,
        codes::GET_TOPIC,
        codes::GET_CONSUMER_GROUPS,
        codes::GET_CONSUMER_GROUP,
        codes::CREATE_CONSUMER_GROUP,
        codes::DELETE_CONSUMER_GROUP,
        codes::JOIN_CONSUMER_GROUP,
        codes::LEAVE_CONSUMER_GROUP,
    ];
    let poll =
        [codes::POLL_MESSAGES, codes::GET_CONSUMER_OFFSET, codes::STORE_CONSUMER_OFFSET, codes::DELETE_CONSUMER_OFFSET];
    let send = [codes::SEND_MESSAGES, codes::FLUSH_UNSAVED_BUFFER];
    let manage_topic = [
        codes::UPDATE_TOPIC,
        codes::DELETE_TOPIC,
        codes::PURGE_TOPIC,
        codes::CREATE_PARTITIONS,
        codes::DELETE_PARTITIONS,
        codes::DELETE_SEGMENTS,
    ];

    // read_stream: the stream itself and polling, but not its topics' metadata.
    let read_stream = [&[codes::GET_STREAM][..], &poll].concat();
    assert_eq!(sorted(allowed(&on_stream(|s| s.read_stream = true))), with_ungated(&read_stream));
    // manage_stream: manage the stream, read it, send to it; no topic metadata, no polling.
    let manage_stream =
        [&[codes::GET_STREAM, codes::UPDATE_STREAM, codes::DELETE_STREAM, codes::PURGE_STREAM][..], &send].concat();
    assert_eq!(sorted(allowed(&on_stream(|s| s.manage_stream = true))), with_ungated(&manage_stream));
    // read_topics: topic metadata, groups and polling.
    let read = [&read_topics[..], &poll].concat();
    assert_eq!(sorted(allowed(&on_stream(|s| s.read_topics = true))), with_ungated(&read));
    // manage_topics: all of that, creating and managing topics, and sending.
    let manage = [&read_topics[..], &poll, &send, &manage_topic, &[codes::CREATE_TOPIC]].concat();
    assert_eq!(sorted(allowed(&on_stream(|s| s.manage_topics = true))), with_ungated(&manage));
    assert_eq!(sorted(allowed(&on_stream(|s| s.poll_messages = true))), with_ungated(&poll));
    assert_eq!(sorted(allowed(&on_stream(|s| s.send_messages = true))), with_ungated(&send));
}

#[test]
fn stream_grants_do_not_leak_to_other_streams() {
    let everything = on_stream(|s| {
        *s = StreamPermissions {
            manage_stream: true,
            read_stream: true,
            manage_topics: true,
            read_topics: true,
            poll_messages: true,
            send_messages: true,
            topics: BTreeMap::new(),
        };
    });
    assert!(!everything.allows(&Action::GetStream { stream: OTHER }));
    assert!(!everything.allows(&Action::PollMessages { stream: OTHER, topic: TOPIC }));
    assert!(!everything.allows(&Action::SendMessages { stream: OTHER, topic: TOPIC }));
    assert!(!everything.allows(&Action::GetStreams), "listing streams needs a global grant");
    assert!(!everything.allows(&Action::CreateStream));
}

#[test]
fn topic_level_rules() {
    let read_topic = [
        codes::GET_TOPIC,
        codes::GET_CONSUMER_GROUPS,
        codes::GET_CONSUMER_GROUP,
        codes::CREATE_CONSUMER_GROUP,
        codes::DELETE_CONSUMER_GROUP,
        codes::JOIN_CONSUMER_GROUP,
        codes::LEAVE_CONSUMER_GROUP,
    ];
    let poll =
        [codes::POLL_MESSAGES, codes::GET_CONSUMER_OFFSET, codes::STORE_CONSUMER_OFFSET, codes::DELETE_CONSUMER_OFFSET];
    let send = [codes::SEND_MESSAGES, codes::FLUSH_UNSAVED_BUFFER];
    let manage_topic = [
        codes::UPDATE_TOPIC,
        codes::DELETE_TOPIC,
        codes::PURGE_TOPIC,
        codes::CREATE_PARTITIONS,
        codes::DELETE_PARTITIONS,
        codes::DELETE_SEGMENTS,
    ];
    let read = [&read_topic[..], &poll].concat();
    assert_eq!(sorted(allowed(&on_topic(TOPIC, |t| t.read_topic = true))), with_ungated(&read));
    let manage = [&read_topic[..], &poll, &send, &manage_topic].concat();
    assert_eq!(sorted(allowed(&on_topic(TOPIC, |t| t.manage_topic = true))), with_ungated(&manage));
    assert_eq!(sorted(allowed(&on_topic(TOPIC, |t| t.poll_messages = true))), with_ungated(&poll));
    assert_eq!(sorted(allowed(&on_topic(TOPIC, |t| t.send_messages = true))), with_ungated(&send));

    // A grant on another topic of the stream allows nothing here.
    assert_eq!(sorted(allowed(&on_topic(OTHER, |t| t.manage_topic = true))), with_ungated(&[]));
}

#[test]
fn get_topics_looks_topic_grants_up_under_the_stream_id() {
    // Iggy's quirk: a topic grant counts for GetTopics only when its topic id is the stream id.
    let on_topic_two = on_topic(TOPIC, |t| t.read_topic = true);
    assert!(!on_topic_two.allows(&Action::GetTopics { stream: STREAM }));
    let on_topic_one = on_topic(STREAM, |t| t.read_topic = true);
    assert!(on_topic_one.allows(&Action::GetTopics { stream: STREAM }));
}

#[test]
fn self_exemptions() {
    let nobody = Permissions::default();
    assert!(nobody.allows(&Action::GetUser { own: true }));
    assert!(!nobody.allows(&Action::GetUser { own: false }));
    assert!(nobody.allows(&Action::ChangePassword { own: true }));
    assert!(!nobody.allows(&Action::ChangePassword { own: false }));
    let reader = global(|g| g.read_users = true);
    assert!(!reader.allows(&Action::ChangePassword { own: false }), "changing others' passwords needs manage_users");
}
