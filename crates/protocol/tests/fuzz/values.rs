//! Strategies for valid values of the shared wire types (protocol.md §2): every value they
//! produce has an encoding, boundary lengths included (a 255-byte `Name`, a 255-byte key).

use proptest::prelude::*;
use whippet_protocol::permissions::{GlobalPermissions, Permissions, StreamPermissions, TopicPermissions};
use whippet_protocol::types::{
    AckLevel, Consumer, ConsumerKind, Identifier, OptionValue, Options, Partitioning, PollingStrategy,
};

/// A valid `Name`: 1..=255 bytes of UTF-8, multi-byte characters and the longest included.
pub fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z0-9_.é-]{1,40}",
        1 => "[a-z]{255}",
        1 => "[é]{1,127}",
    ]
}

/// u8-prefixed text that may be empty (passwords, tokens).
pub fn short_text() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[ -~]{0,40}", 1 => "[a-z]{255}", 1 => "[é]{0,127}"]
}

/// u32-prefixed text (contexts, addresses, host names).
pub fn long_text() -> impl Strategy<Value = String> {
    prop_oneof![1 => Just(String::new()), 4 => "\\PC{0,40}", 1 => "[a-z]{256,600}"]
}

pub fn identifier() -> impl Strategy<Value = Identifier> {
    prop_oneof![any::<u32>().prop_map(Identifier::Numeric), name().prop_map(Identifier::Name)]
}

pub fn consumer() -> impl Strategy<Value = Consumer> {
    (prop_oneof![Just(ConsumerKind::Consumer), Just(ConsumerKind::Group)], identifier())
        .prop_map(|(kind, id)| Consumer { kind, id })
}

pub fn partitioning() -> impl Strategy<Value = Partitioning> {
    prop_oneof![
        Just(Partitioning::Balanced),
        any::<u32>().prop_map(Partitioning::PartitionId),
        prop::collection::vec(any::<u8>(), 1..=255).prop_map(Partitioning::MessagesKey),
    ]
}

pub fn polling_strategy() -> impl Strategy<Value = PollingStrategy> {
    prop_oneof![
        any::<u64>().prop_map(PollingStrategy::Offset),
        any::<u64>().prop_map(PollingStrategy::Timestamp),
        Just(PollingStrategy::First),
        Just(PollingStrategy::Last),
        Just(PollingStrategy::Next),
    ]
}

pub fn ack() -> impl Strategy<Value = Option<AckLevel>> {
    prop_oneof![Just(None), Just(Some(AckLevel::NoAck)), Just(Some(AckLevel::Quorum))]
}

pub fn option_value() -> impl Strategy<Value = OptionValue> {
    let bytes =
        prop_oneof![4 => prop::collection::vec(any::<u8>(), 1..=40), 1 => prop::collection::vec(any::<u8>(), 255)];
    (1u8..=255, bytes).prop_map(|(kind, bytes)| OptionValue { kind, bytes })
}

/// An options block: distinct keys, each key and value 1..=255 bytes.
pub fn options() -> impl Strategy<Value = Options> {
    prop::collection::btree_map(name(), option_value(), 0..6).prop_map(|pairs| Options(pairs.into_iter().collect()))
}

pub fn permissions() -> impl Strategy<Value = Permissions> {
    let topic = any::<[bool; 4]>().prop_map(|[manage_topic, read_topic, poll_messages, send_messages]| {
        TopicPermissions { manage_topic, read_topic, poll_messages, send_messages }
    });
    let stream = (any::<[bool; 6]>(), prop::collection::btree_map(any::<u32>(), topic, 0..4)).prop_map(
        |([manage_stream, read_stream, manage_topics, read_topics, poll_messages, send_messages], topics)| {
            StreamPermissions {
                manage_stream,
                read_stream,
                manage_topics,
                read_topics,
                poll_messages,
                send_messages,
                topics,
            }
        },
    );
    (any::<[bool; 10]>(), prop::collection::btree_map(any::<u32>(), stream, 0..4))
        .prop_map(|(flags, streams)| Permissions { global: global_permissions(flags), streams })
}

fn global_permissions(flags: [bool; 10]) -> GlobalPermissions {
    let [
        manage_servers,
        read_servers,
        manage_users,
        read_users,
        manage_streams,
        read_streams,
        manage_topics,
        read_topics,
        poll_messages,
        send_messages,
    ] = flags;
    GlobalPermissions {
        manage_servers,
        read_servers,
        manage_users,
        read_users,
        manage_streams,
        read_streams,
        manage_topics,
        read_topics,
        poll_messages,
        send_messages,
    }
}

/// Permissions or none, the request form of CreateUser and UpdatePermissions.
pub fn optional_permissions() -> impl Strategy<Value = Option<Permissions>> {
    prop::option::of(permissions())
}
