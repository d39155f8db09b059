//! Unit tests of `Metadata::decide` and `Metadata::apply`: ids, names, limits, error codes.

mod common;

use common::{commit, create_stream, create_topic, create_user, name};
use whippet_metadata::{Command, Event, Metadata, MetadataError, NameKind, Ref};

fn stream_ids(metadata: &Metadata) -> Vec<u32> {
    metadata.streams().keys().copied().collect()
}

#[test]
fn stream_ids_are_the_smallest_free_from_zero() {
    let mut metadata = Metadata::new();
    for stream in ["a", "b", "c", "d"] {
        commit(&mut metadata, create_stream(stream));
    }
    assert_eq!(stream_ids(&metadata), [0, 1, 2, 3]);
    commit(&mut metadata, Command::DeleteStream { stream: Ref::Id(1) });
    commit(&mut metadata, Command::DeleteStream { stream: name("a") });
    assert_eq!(stream_ids(&metadata), [2, 3]);
    let event = commit(&mut metadata, create_stream("e"));
    assert!(matches!(event, Event::StreamCreated { id: 0, .. }));
    let event = commit(&mut metadata, create_stream("f"));
    assert!(matches!(event, Event::StreamCreated { id: 1, .. }));
    let event = commit(&mut metadata, create_stream("g"));
    assert!(matches!(event, Event::StreamCreated { id: 4, .. }));
    assert_eq!(metadata.version(), 9);
    assert_eq!(metadata.stream(&name("e")).unwrap().id, 0);
}

#[test]
fn stream_errors_carry_iggy_codes() {
    let mut metadata = Metadata::new();
    commit(&mut metadata, create_stream("orders"));
    let error = metadata.decide(&create_stream("orders"), 5).unwrap_err();
    assert_eq!(error, MetadataError::StreamNameAlreadyExists("orders".into()));
    assert_eq!(error.iggy_code(), 1012);
    let error = metadata.decide(&Command::DeleteStream { stream: Ref::Id(7) }, 5).unwrap_err();
    assert_eq!((error.clone(), error.iggy_code()), (MetadataError::StreamIdNotFound(7), 1009));
    let error = metadata.decide(&Command::DeleteStream { stream: name("nope") }, 5).unwrap_err();
    assert_eq!(error.iggy_code(), 1010);
    let error = metadata.decide(&create_stream(""), 5).unwrap_err();
    assert_eq!(error, MetadataError::InvalidName { kind: NameKind::Stream, length_bytes: 0 });
    assert_eq!(error.iggy_code(), 1013);
    assert_eq!(metadata.decide(&create_stream(&"x".repeat(256)), 5).unwrap_err().iggy_code(), 1013);
    assert!(metadata.decide(&create_stream(&"x".repeat(255)), 5).is_ok());
    // Names are bytes: 128 two-byte characters are 256 bytes.
    assert_eq!(metadata.decide(&create_stream(&"é".repeat(128)), 5).unwrap_err().iggy_code(), 1013);
}

#[test]
fn stream_rename_checks_other_streams_only() {
    let mut metadata = Metadata::new();
    commit(&mut metadata, create_stream("a"));
    commit(&mut metadata, create_stream("b"));
    let rename = |stream: Ref, to: &str| Command::UpdateStream { stream, name: to.into() };
    assert_eq!(metadata.decide(&rename(Ref::Id(0), "b"), 1).unwrap_err().iggy_code(), 1012);
    commit(&mut metadata, rename(Ref::Id(0), "a"));
    commit(&mut metadata, rename(name("a"), "c"));
    assert!(metadata.stream_by_name("a").is_none());
    assert_eq!(metadata.stream_by_name("c").unwrap().id, 0);
    commit(&mut metadata, create_stream("a"));
    assert_eq!(metadata.stream_by_name("a").unwrap().id, 2);
}

#[test]
fn topics_get_their_own_ids_per_stream_and_unique_names_per_stream() {
    let mut metadata = Metadata::new();
    commit(&mut metadata, create_stream("s0"));
    commit(&mut metadata, create_stream("s1"));
    commit(&mut metadata, create_topic(Ref::Id(0), "t", 3));
    commit(&mut metadata, create_topic(Ref::Id(0), "u", 1));
    let event = commit(&mut metadata, create_topic(name("s1"), "t", 2));
    assert!(matches!(event, Event::TopicCreated { stream_id: 1, id: 0, .. }));
    let error = metadata.decide(&create_topic(Ref::Id(0), "u", 1), 1).unwrap_err();
    assert_eq!(error, MetadataError::TopicNameAlreadyExists { stream_id: 0, name: "u".into() });
    assert_eq!(error.iggy_code(), 2013);
    commit(&mut metadata, Command::DeleteTopic { stream: Ref::Id(0), topic: name("t") });
    let event = commit(&mut metadata, create_topic(Ref::Id(0), "v", 1));
    assert!(matches!(event, Event::TopicCreated { stream_id: 0, id: 0, .. }));
    let topic = metadata.topic(&name("s1"), &name("t")).unwrap();
    assert_eq!((topic.id, topic.partitions_count, topic.option("durability")), (0, 2, Some("replicated")));
    let missing = Command::DeleteTopic { stream: Ref::Id(0), topic: Ref::Id(9) };
    assert_eq!(metadata.decide(&missing, 1).unwrap_err().iggy_code(), 2010);
    let missing = Command::DeleteTopic { stream: Ref::Id(0), topic: name("t") };
    assert_eq!(metadata.decide(&missing, 1).unwrap_err().iggy_code(), 2011);
    assert_eq!(metadata.decide(&create_topic(Ref::Id(5), "t", 1), 1).unwrap_err().iggy_code(), 1009);
    assert_eq!(metadata.decide(&create_topic(Ref::Id(0), "", 1), 1).unwrap_err().iggy_code(), 2014);
}

#[test]
fn topic_fields_are_validated_and_normalised() {
    let mut metadata = Metadata::new();
    commit(&mut metadata, create_stream("s"));
    let error = metadata.decide(&create_topic(Ref::Id(0), "t", 1001), 1).unwrap_err();
    assert_eq!(error, MetadataError::TooManyPartitions { requested: 1001, max_count: 1000 });
    assert_eq!(error.iggy_code(), 2015);
    commit(&mut metadata, create_topic(Ref::Id(0), "max", 1000));
    commit(&mut metadata, create_topic(Ref::Id(0), "none", 0));
    let mut command = create_topic(Ref::Id(0), "t", 1);
    if let Command::CreateTopic { compression, .. } = &mut command {
        *compression = 3;
    }
    assert_eq!(metadata.decide(&command, 1).unwrap_err(), MetadataError::InvalidCompression(3));
    if let Command::CreateTopic { compression, replication_factor, message_expiry, max_topic_size, .. } = &mut command {
        (*compression, *replication_factor, *message_expiry, *max_topic_size) = (2, 0, u64::MAX, 0);
    }
    commit(&mut metadata, command);
    let topic = metadata.topic(&Ref::Id(0), &name("t")).unwrap();
    assert_eq!((topic.compression, topic.replication_factor, topic.message_expiry), (2, 1, u64::MAX));
}

#[test]
fn update_topic_keeps_absent_fields_and_merges_options() {
    let mut metadata = Metadata::new();
    commit(&mut metadata, create_stream("s"));
    commit(&mut metadata, create_topic(Ref::Id(0), "t", 4));
    commit(&mut metadata, create_topic(Ref::Id(0), "other", 1));
    let update = |name: &str, options: Vec<(String, String)>| Command::UpdateTopic {
        stream: Ref::Id(0),
        topic: Ref::Id(0),
        name: name.into(),
        message_expiry: Some(60_000_000),
        max_topic_size: None,
        compression: None,
        replication_factor: None,
        options,
    };
    assert_eq!(metadata.decide(&update("other", vec![]), 1).unwrap_err().iggy_code(), 2013);
    let options = vec![("durability".into(), "none".into()), ("message_expiry".into(), "60s".into())];
    commit(&mut metadata, update("renamed", options));
    let topic = metadata.topic(&Ref::Id(0), &name("renamed")).unwrap();
    assert_eq!((topic.partitions_count, topic.message_expiry, topic.compression), (4, 60_000_000, 1));
    assert_eq!(topic.options, [("durability".into(), "none".into()), ("message_expiry".into(), "60s".into())]);
    assert!(metadata.topic(&Ref::Id(0), &name("t")).is_err());
}

#[test]
fn partitions_are_added_and_removed_at_the_end() {
    let mut metadata = Metadata::new();
    commit(&mut metadata, create_stream("s"));
    commit(&mut metadata, create_topic(Ref::Id(0), "t", 2));
    let create = |count| Command::CreatePartitions { stream: Ref::Id(0), topic: Ref::Id(0), count };
    let delete = |count| Command::DeletePartitions { stream: Ref::Id(0), topic: name("t"), count };
    commit(&mut metadata, create(3));
    assert_eq!(metadata.topic(&Ref::Id(0), &Ref::Id(0)).unwrap().partitions_count, 5);
    commit(&mut metadata, delete(4));
    assert_eq!(metadata.topic(&Ref::Id(0), &Ref::Id(0)).unwrap().partitions_count, 1);
    assert_eq!(metadata.decide(&delete(2), 1).unwrap_err(), MetadataError::InvalidPartitionsCount(2));
    assert_eq!(metadata.decide(&delete(0), 1).unwrap_err().iggy_code(), 2019);
    assert_eq!(metadata.decide(&create(0), 1).unwrap_err().iggy_code(), 2019);
    let error = metadata.decide(&create(1000), 1).unwrap_err();
    assert_eq!(error, MetadataError::TooManyPartitions { requested: 1001, max_count: 1000 });
    commit(&mut metadata, create(999));
    assert_eq!(metadata.counts().partitions, 1000);
}

#[test]
fn consumer_groups_live_in_their_topic() {
    let mut metadata = Metadata::new();
    commit(&mut metadata, create_stream("s"));
    commit(&mut metadata, create_topic(Ref::Id(0), "t", 1));
    let create =
        |group: &str| Command::CreateConsumerGroup { stream: Ref::Id(0), topic: Ref::Id(0), name: group.into() };
    let delete = |group| Command::DeleteConsumerGroup { stream: Ref::Id(0), topic: Ref::Id(0), group };
    commit(&mut metadata, create("g0"));
    commit(&mut metadata, create("g1"));
    assert_eq!(metadata.decide(&create("g1"), 1).unwrap_err().iggy_code(), 5004);
    assert_eq!(metadata.decide(&create(""), 1).unwrap_err().iggy_code(), 5005);
    assert_eq!(metadata.decide(&delete(Ref::Id(5)), 1).unwrap_err().iggy_code(), 5000);
    assert_eq!(metadata.decide(&delete(name("g5")), 1).unwrap_err().iggy_code(), 5003);
    commit(&mut metadata, delete(name("g0")));
    let event = commit(&mut metadata, create("g2"));
    assert!(matches!(event, Event::ConsumerGroupCreated { id: 0, .. }));
    assert_eq!(metadata.counts().consumer_groups, 2);
    commit(&mut metadata, Command::DeleteTopic { stream: Ref::Id(0), topic: Ref::Id(0) });
    assert_eq!(metadata.counts().consumer_groups, 0);
}

#[test]
fn users_root_and_limits() {
    let mut metadata = Metadata::new();
    metadata.apply(1, &Metadata::bootstrap_root("iggy", "$argon2id$root", 7));
    let root = metadata.user(&name("iggy")).unwrap();
    assert_eq!((root.id, root.status, root.created_at), (0, 1, 7));
    assert_eq!(root.permissions.as_deref(), Some(&whippet_metadata::root_permissions()[..]));
    let event = commit(&mut metadata, create_user("alice"));
    assert!(matches!(event, Event::UserCreated { id: 1, .. }));
    assert_eq!(metadata.decide(&create_user("alice"), 1).unwrap_err().iggy_code(), 46);
    assert_eq!(metadata.decide(&create_user("al"), 1).unwrap_err().iggy_code(), 43);
    assert_eq!(metadata.decide(&Command::DeleteUser { user: Ref::Id(0) }, 1).unwrap_err().iggy_code(), 48);
    let root_permissions = Command::UpdatePermissions { user: name("iggy"), permissions: None };
    assert_eq!(metadata.decide(&root_permissions, 1).unwrap_err().iggy_code(), 49);
    let rename = |to: &str, status| Command::UpdateUser { user: Ref::Id(1), username: Some(to.into()), status };
    assert_eq!(metadata.decide(&rename("iggy", None), 1).unwrap_err().iggy_code(), 46);
    assert_eq!(metadata.decide(&rename("bob", Some(3)), 1).unwrap_err().iggy_code(), 45);
    commit(&mut metadata, rename("bob", Some(2)));
    assert_eq!(metadata.user(&name("bob")).unwrap().status, 2);
    assert_eq!(metadata.user(&name("alice")).unwrap_err().iggy_code(), 20);
    commit(&mut metadata, Command::ChangePassword { user: Ref::Id(1), password_hash: "$new".into() });
    assert_eq!(metadata.user(&Ref::Id(1)).unwrap().password_hash, "$new");
    commit(&mut metadata, Command::DeleteUser { user: name("bob") });
    assert_eq!(metadata.decide(&Command::DeleteUser { user: Ref::Id(1) }, 1).unwrap_err().iggy_code(), 20);
}

#[test]
fn personal_access_tokens_belong_to_their_user() {
    let mut metadata = Metadata::new();
    metadata.apply(1, &Metadata::bootstrap_root("iggy", "$root", 0));
    let create = |name: &str, hash: &str| Command::CreatePersonalAccessToken {
        user_id: 0,
        name: name.into(),
        token_hash: hash.into(),
        expiry_at: Some(99),
    };
    commit(&mut metadata, create("ci-token", "h1"));
    assert_eq!(metadata.decide(&create("ci-token", "h2"), 1).unwrap_err().iggy_code(), 51);
    assert_eq!(metadata.decide(&create("ci", "h2"), 1).unwrap_err().iggy_code(), 50);
    let (user, token) = metadata.personal_access_token_by_hash("h1").unwrap();
    assert_eq!((user.id, token.name.as_str(), token.expiry_at), (0, "ci-token", Some(99)));
    for index in 1..100 {
        commit(&mut metadata, create(&format!("token-{index}"), &format!("hash-{index}")));
    }
    assert_eq!(metadata.decide(&create("one-more", "h"), 1).unwrap_err().iggy_code(), 52);
    let delete = |name: &str| Command::DeletePersonalAccessToken { user_id: 0, name: name.into() };
    commit(&mut metadata, delete("ci-token"));
    assert_eq!(metadata.decide(&delete("ci-token"), 1).unwrap_err().iggy_code(), 20);
    assert!(metadata.personal_access_token_by_hash("h1").is_none());
}

#[test]
fn refused_commands_change_nothing_and_deletes_cascade() {
    let mut metadata = Metadata::new();
    commit(&mut metadata, create_stream("s"));
    commit(&mut metadata, create_topic(name("s"), "t", 3));
    let before = metadata.clone();
    assert!(metadata.decide(&create_stream("s"), 1).is_err());
    assert_eq!(metadata, before);
    commit(&mut metadata, Command::DeleteStream { stream: name("s") });
    assert_eq!(metadata.counts(), whippet_metadata::Counts::default());
    commit(&mut metadata, create_stream("s"));
    assert!(metadata.stream(&name("s")).unwrap().topics.is_empty());
}

#[test]
#[should_panic(expected = "out of order")]
fn apply_refuses_a_version_out_of_order() {
    let mut metadata = Metadata::new();
    metadata.apply(2, &Event::StreamCreated { id: 0, name: "s".into(), created_at: 0 });
}

#[test]
#[should_panic(expected = "taken")]
fn apply_refuses_an_event_that_breaks_an_invariant() {
    let mut metadata = Metadata::new();
    metadata.apply(1, &Event::StreamCreated { id: 0, name: "s".into(), created_at: 0 });
    metadata.apply(2, &Event::StreamCreated { id: 1, name: "s".into(), created_at: 0 });
}

#[test]
fn every_event_round_trips_through_postcard() {
    let events = [
        Event::StreamCreated { id: 1, name: "s".into(), created_at: 2 },
        Event::StreamUpdated { id: 1, name: "r".into() },
        Event::StreamDeleted { id: 1 },
        Event::TopicCreated {
            stream_id: 1,
            id: 2,
            name: "t".into(),
            partitions_count: 3,
            message_expiry: u64::MAX,
            max_topic_size: 0,
            compression: 2,
            replication_factor: 1,
            options: vec![("k".into(), "v".into())],
            created_at: 9,
        },
        Event::TopicDeleted { stream_id: 1, id: 2 },
        Event::PartitionsCreated { stream_id: 1, topic_id: 2, count: 3 },
        Event::PartitionsDeleted { stream_id: 1, topic_id: 2, count: 3 },
        Event::ConsumerGroupCreated { stream_id: 1, topic_id: 2, id: 3, name: "g".into() },
        Event::ConsumerGroupDeleted { stream_id: 1, topic_id: 2, id: 3 },
        Metadata::bootstrap_root("iggy", "$h", 1),
        Event::UserDeleted { id: 4 },
        Event::PersonalAccessTokenCreated { user_id: 0, name: "n".into(), token_hash: "h".into(), expiry_at: None },
    ];
    for event in events {
        let bytes = postcard::to_stdvec(&event).unwrap();
        assert_eq!(postcard::from_bytes::<Event>(&bytes).unwrap(), event);
    }
}

#[test]
fn group_members_share_partitions_and_leave_on_disconnect() {
    let mut metadata = Metadata::new();
    commit(&mut metadata, create_stream("s"));
    commit(&mut metadata, create_topic(Ref::Id(0), "t", 6));
    commit(&mut metadata, Command::CreateConsumerGroup { stream: Ref::Id(0), topic: Ref::Id(0), name: "g".into() });
    let join =
        |client_id| Command::JoinConsumerGroup { stream: Ref::Id(0), topic: Ref::Id(0), group: name("g"), client_id };
    for client in [7, 3, 9] {
        commit(&mut metadata, join(client));
    }
    assert_eq!(metadata.decide(&join(3), 1).unwrap_err().iggy_code(), 5007);
    let group = |m: &Metadata| m.topic(&Ref::Id(0), &Ref::Id(0)).unwrap().consumer_groups[&0].clone();
    let g = group(&metadata);
    assert_eq!(g.members, [7, 3, 9]);
    assert_eq!(g.generation, 3);
    assert_eq!(g.assignment(7, 6), [0, 3]);
    assert_eq!(g.assignment(3, 6), [1, 4]);
    assert_eq!(g.assignment(9, 6), [2, 5]);
    assert_eq!(g.assignment(1, 6), Vec::<u32>::new());
    for partition in 0..6 {
        let owners: Vec<_> = [7, 3, 9].into_iter().filter(|m| g.assignment(*m, 6).contains(&partition)).collect();
        assert_eq!(owners, [g.owner_of(partition).unwrap()]);
    }
    let leave = Command::LeaveConsumerGroup { stream: Ref::Id(0), topic: Ref::Id(0), group: Ref::Id(0), client_id: 3 };
    commit(&mut metadata, leave.clone());
    assert_eq!(metadata.decide(&leave, 1).unwrap_err().iggy_code(), 5006);
    let g = group(&metadata);
    assert_eq!((g.assignment(7, 6), g.assignment(9, 6)), (vec![0, 2, 4], vec![1, 3, 5]));
    assert_eq!(metadata.memberships(9), [(0, 0, 0)]);
    commit(&mut metadata, Command::ClientGone { client_id: 9 });
    assert_eq!(group(&metadata).members, [7]);
    assert!(metadata.decide(&Command::ClientGone { client_id: 9 }, 1).is_err());
    commit(&mut metadata, Command::CreatePartitions { stream: Ref::Id(0), topic: Ref::Id(0), count: 2 });
    assert_eq!(group(&metadata).assignment(7, 8).len(), 8);
    let before = group(&metadata).generation;
    metadata.clear_memberships();
    assert!(group(&metadata).members.is_empty());
    assert!(group(&metadata).generation > before);
}
