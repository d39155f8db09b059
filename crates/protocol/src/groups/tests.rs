use super::*;
use crate::test_support::{hex, strategies};
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

fn workers() -> GroupInfo {
    GroupInfo { id: 3, partitions_count: 4, members_count: 2, name: "workers".into() }
}

#[test]
fn group_refs() {
    let request = GroupRef {
        stream: Identifier::Numeric(1),
        topic: Identifier::Name("orders".into()),
        group: Identifier::Name("workers".into()),
    };
    let bytes = encoded(|b| request.encode(b));
    assert_eq!(bytes, hex("01040100000002066f72646572730207776f726b657273"));
    assert_eq!(GroupRef::decode(&bytes), Ok(request));
    assert_exact(&bytes, |bytes| GroupRef::decode(bytes).map(drop));

    let topic = TopicGroupsRef { stream: Identifier::Numeric(1), topic: Identifier::Numeric(2) };
    let bytes = encoded(|b| topic.encode(b));
    assert_eq!(TopicGroupsRef::decode(&bytes), Ok(topic));
}

#[test]
fn create_group_matches_the_real_encoder() {
    let bytes = vector("create_group");
    let request = CreateConsumerGroup::decode(&bytes).unwrap();
    let expected = CreateConsumerGroup {
        stream: Identifier::Numeric(1),
        topic: Identifier::Name("orders".into()),
        name: "workers".into(),
    };
    assert_eq!(request, expected);
    assert_eq!(encoded(|b| request.encode(b)), bytes);
    assert_exact(&bytes, |bytes| CreateConsumerGroup::decode(bytes).map(drop));
}

#[test]
fn group_details_match_the_real_encoder() {
    let bytes = vector("group_details");
    let details = GroupDetails::decode(&bytes).unwrap();
    let expected = GroupDetails {
        group: workers(),
        members: vec![GroupMember { id: 10, partitions: vec![0, 2, 3] }, GroupMember { id: 11, partitions: vec![1] }],
    };
    assert_eq!(details, expected);
    assert_eq!(encoded(|b| details.encode(b)), bytes);
    assert_exact(&bytes, |bytes| GroupDetails::decode(bytes).map(drop));
}

#[test]
fn a_huge_member_partition_count_fails_without_allocating() {
    let mut bytes = encoded(|b| GroupInfo { members_count: 1, ..workers() }.encode(b));
    bytes.extend_from_slice(&10u32.to_le_bytes());
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(GroupDetails::decode(&bytes), Err(DecodeError::Truncated { .. })));
}

#[test]
#[should_panic(expected = "members_count must match")]
fn encoding_details_with_a_wrong_member_count_panics() {
    let details = GroupDetails { group: workers(), members: vec![] };
    encoded(|b| details.encode(b));
}

#[test]
fn group_lists_match_the_real_encoder() {
    let bytes = vector("groups");
    let groups = decode_groups(&bytes).unwrap();
    let solo = GroupInfo { id: 4, partitions_count: 1, members_count: 0, name: "solo".into() };
    assert_eq!(groups, vec![workers(), solo.clone()]);
    assert_eq!(encoded(|b| encode_groups(&groups, b)), bytes);
    assert_eq!(decode_groups(&[]), Ok(vec![]));
    assert!(decode_groups(&bytes[..bytes.len() - 1]).is_err());
    // An L CREATE_CONSUMER_GROUP reply is a header read as details with no members.
    let header = encoded(|b| solo.encode(b));
    assert_eq!(GroupDetails::decode(&header), Ok(GroupDetails { group: solo, members: vec![] }));
}

#[test]
fn group_sync_matches_the_real_encoder() {
    let bytes = vector("group_sync");
    let sync = GroupSync::decode(&bytes).unwrap();
    assert_eq!(sync, GroupSync { generation: 7, partitions: vec![0, 2] });
    assert_eq!(encoded(|b| sync.encode(b)), bytes);
    assert_exact(&bytes, |bytes| GroupSync::decode(bytes).map(drop));
    let empty = GroupSync { generation: 1, partitions: vec![] };
    assert_eq!(encoded(|b| empty.encode(b)).len(), 12);
}

fn member() -> impl Strategy<Value = GroupMember> {
    (any::<u32>(), prop::collection::vec(any::<u32>(), 0..5))
        .prop_map(|(id, partitions)| GroupMember { id, partitions })
}

proptest! {
    #[test]
    fn round_trips(
        stream in strategies::identifier(),
        topic in strategies::identifier(),
        group in strategies::identifier(),
        name in strategies::name(),
        id in any::<u32>(),
        partitions_count in any::<u32>(),
        members in prop::collection::vec(member(), 0..4),
        generation in any::<u64>(),
    ) {
        let reference = GroupRef { stream: stream.clone(), topic: topic.clone(), group };
        prop_assert_eq!(GroupRef::decode(&encoded(|b| reference.encode(b))), Ok(reference));
        let create = CreateConsumerGroup { stream, topic, name: name.clone() };
        prop_assert_eq!(CreateConsumerGroup::decode(&encoded(|b| create.encode(b))), Ok(create));
        let group = GroupInfo { id, partitions_count, members_count: members.len() as u32, name };
        let details = GroupDetails { group: group.clone(), members: members.clone() };
        prop_assert_eq!(GroupDetails::decode(&encoded(|b| details.encode(b))), Ok(details));
        let groups = vec![group.clone(), group];
        prop_assert_eq!(decode_groups(&encoded(|b| encode_groups(&groups, b))), Ok(groups));
        let partitions = members.into_iter().flat_map(|member| member.partitions).collect();
        let sync = GroupSync { generation, partitions };
        prop_assert_eq!(GroupSync::decode(&encoded(|b| sync.encode(b))), Ok(sync));
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = GroupRef::decode(&bytes);
        let _ = CreateConsumerGroup::decode(&bytes);
        let _ = GroupDetails::decode(&bytes);
        let _ = decode_groups(&bytes);
        let _ = GroupSync::decode(&bytes);
    }
}
