//! The events that change the metadata, and [`Metadata::apply`].
//!
//! An event is a decided fact: the leader validated it ([`Metadata::decide`]), assigned its
//! ids and timestamps, gave it the next version and made it durable before any shard sees it.
//! Applying is deterministic and cannot fail; a violated invariant (an id taken, a name
//! reused, an object missing) means the event stream itself is wrong, so it panics.
//!
//! Events are written to the event log with postcard, which encodes a variant by its index:
//! add new variants at the end, never reorder or remove one.

use serde::{Deserialize, Serialize};

use crate::model::{ConsumerGroup, Metadata, PersonalAccessToken, Stream, Topic, User};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    StreamCreated {
        id: u32,
        name: String,
        created_at: u64,
    },
    StreamUpdated {
        id: u32,
        name: String,
    },
    StreamDeleted {
        id: u32,
    },
    TopicCreated {
        stream_id: u32,
        id: u32,
        name: String,
        partitions_count: u32,
        message_expiry: u64,
        max_topic_size: u64,
        compression: u8,
        replication_factor: u8,
        options: Vec<(String, String)>,
        created_at: u64,
    },
    /// Every field carries the topic's new value (the leader resolved "unchanged").
    TopicUpdated {
        stream_id: u32,
        id: u32,
        name: String,
        message_expiry: u64,
        max_topic_size: u64,
        compression: u8,
        replication_factor: u8,
        options: Vec<(String, String)>,
    },
    TopicDeleted {
        stream_id: u32,
        id: u32,
    },
    /// `count` partitions appended after the existing ones.
    PartitionsCreated {
        stream_id: u32,
        topic_id: u32,
        count: u32,
    },
    /// The last `count` partitions removed.
    PartitionsDeleted {
        stream_id: u32,
        topic_id: u32,
        count: u32,
    },
    ConsumerGroupCreated {
        stream_id: u32,
        topic_id: u32,
        id: u32,
        name: String,
    },
    ConsumerGroupDeleted {
        stream_id: u32,
        topic_id: u32,
        id: u32,
    },
    UserCreated {
        id: u32,
        username: String,
        password_hash: String,
        status: u8,
        permissions: Option<Vec<u8>>,
        created_at: u64,
    },
    UserUpdated {
        id: u32,
        username: String,
        status: u8,
    },
    UserDeleted {
        id: u32,
    },
    PasswordChanged {
        id: u32,
        password_hash: String,
    },
    PermissionsUpdated {
        id: u32,
        permissions: Option<Vec<u8>>,
    },
    PersonalAccessTokenCreated {
        user_id: u32,
        name: String,
        token_hash: String,
        expiry_at: Option<u64>,
    },
    PersonalAccessTokenDeleted {
        user_id: u32,
        name: String,
    },
    ConsumerGroupMemberJoined {
        stream_id: u32,
        topic_id: u32,
        group_id: u32,
        client_id: u32,
    },
    ConsumerGroupMemberLeft {
        stream_id: u32,
        topic_id: u32,
        group_id: u32,
        client_id: u32,
    },
    /// The client left every group it was in.
    ClientGone {
        client_id: u32,
    },
}

impl Metadata {
    /// Applies the event of `version`, which must be the next one (`self.version() + 1`).
    ///
    /// # Panics
    /// When the version is not the next one or the event breaks an invariant: either means
    /// the event stream is not the leader's, and no replica may go on from there.
    pub fn apply(&mut self, version: u64, event: &Event) {
        assert_eq!(version, self.version + 1, "metadata event out of order: {event:?}");
        match event {
            Event::StreamCreated { .. } | Event::StreamUpdated { .. } | Event::StreamDeleted { .. } => {
                self.apply_stream(event)
            }
            Event::TopicCreated { .. }
            | Event::TopicUpdated { .. }
            | Event::TopicDeleted { .. }
            | Event::PartitionsCreated { .. }
            | Event::PartitionsDeleted { .. } => self.apply_topic(event),
            Event::ConsumerGroupCreated { .. }
            | Event::ConsumerGroupDeleted { .. }
            | Event::ConsumerGroupMemberJoined { .. }
            | Event::ConsumerGroupMemberLeft { .. }
            | Event::ClientGone { .. } => self.apply_group(event),
            Event::UserCreated { .. }
            | Event::UserUpdated { .. }
            | Event::UserDeleted { .. }
            | Event::PasswordChanged { .. }
            | Event::PermissionsUpdated { .. }
            | Event::PersonalAccessTokenCreated { .. }
            | Event::PersonalAccessTokenDeleted { .. } => self.apply_user(event),
        }
        self.version = version;
    }

    fn apply_stream(&mut self, event: &Event) {
        match event {
            Event::StreamCreated { id, name, created_at } => {
                assert!(!self.streams.contains_key(id), "stream id {id} taken");
                assert!(self.stream_ids.insert(name.clone(), *id).is_none(), "stream name {name:?} taken");
                self.streams.insert(*id, Stream::new(*id, name.clone(), *created_at));
            }
            Event::StreamUpdated { id, name } => {
                let stream = self.streams.get_mut(id).unwrap_or_else(|| panic!("stream {id} missing"));
                assert_eq!(self.stream_ids.remove(&stream.name), Some(*id));
                assert!(self.stream_ids.insert(name.clone(), *id).is_none(), "stream name {name:?} taken");
                stream.name.clone_from(name);
            }
            Event::StreamDeleted { id } => {
                let stream = self.streams.remove(id).unwrap_or_else(|| panic!("stream {id} missing"));
                assert_eq!(self.stream_ids.remove(&stream.name), Some(*id));
            }
            _ => unreachable!("not a stream event"),
        }
    }

    fn apply_topic(&mut self, event: &Event) {
        match event {
            Event::TopicCreated { stream_id, id, name, .. } => {
                let stream = self.stream_mut(*stream_id);
                assert!(!stream.topics.contains_key(id), "topic id {id} taken in stream {stream_id}");
                assert!(stream.topic_ids.insert(name.clone(), *id).is_none(), "topic name {name:?} taken");
                stream.topics.insert(*id, topic_from(event));
            }
            Event::TopicUpdated {
                stream_id,
                id,
                name,
                message_expiry,
                max_topic_size,
                compression,
                replication_factor,
                options,
            } => {
                let stream = self.stream_mut(*stream_id);
                let topic = stream.topics.get_mut(id).unwrap_or_else(|| panic!("topic {stream_id}/{id} missing"));
                assert_eq!(stream.topic_ids.remove(&topic.name), Some(*id));
                assert!(stream.topic_ids.insert(name.clone(), *id).is_none(), "topic name {name:?} taken");
                topic.name.clone_from(name);
                topic.message_expiry = *message_expiry;
                topic.max_topic_size = *max_topic_size;
                topic.compression = *compression;
                topic.replication_factor = *replication_factor;
                topic.options.clone_from(options);
            }
            Event::TopicDeleted { stream_id, id } => {
                let stream = self.stream_mut(*stream_id);
                let topic = stream.topics.remove(id).unwrap_or_else(|| panic!("topic {stream_id}/{id} missing"));
                assert_eq!(stream.topic_ids.remove(&topic.name), Some(*id));
            }
            Event::PartitionsCreated { stream_id, topic_id, count } => {
                let topic = self.topic_mut(*stream_id, *topic_id);
                topic.partitions_count = topic.partitions_count.checked_add(*count).expect("partitions overflow");
                assert!(topic.partitions_count <= crate::model::PARTITIONS_MAX);
                topic.consumer_groups.values_mut().for_each(|group| group.generation += 1);
            }
            Event::PartitionsDeleted { stream_id, topic_id, count } => {
                let topic = self.topic_mut(*stream_id, *topic_id);
                topic.partitions_count = topic.partitions_count.checked_sub(*count).expect("partitions underflow");
                topic.consumer_groups.values_mut().for_each(|group| group.generation += 1);
            }
            _ => unreachable!("not a topic event"),
        }
    }

    fn apply_group(&mut self, event: &Event) {
        match event {
            Event::ConsumerGroupCreated { stream_id, topic_id, id, name } => {
                let topic = self.topic_mut(*stream_id, *topic_id);
                assert!(!topic.consumer_groups.contains_key(id), "group id {id} taken");
                assert!(topic.group_ids.insert(name.clone(), *id).is_none(), "group name {name:?} taken");
                let group = ConsumerGroup { id: *id, name: name.clone(), members: Vec::new(), generation: 0 };
                topic.consumer_groups.insert(*id, group);
            }
            Event::ConsumerGroupDeleted { stream_id, topic_id, id } => {
                let topic = self.topic_mut(*stream_id, *topic_id);
                let group = topic.consumer_groups.remove(id).unwrap_or_else(|| panic!("group {id} missing"));
                assert_eq!(topic.group_ids.remove(&group.name), Some(*id));
            }
            Event::ConsumerGroupMemberJoined { stream_id, topic_id, group_id, client_id } => {
                let group = self.group_mut(*stream_id, *topic_id, *group_id);
                assert!(!group.members.contains(client_id), "client {client_id} already in group {group_id}");
                group.members.push(*client_id);
                group.generation += 1;
            }
            Event::ConsumerGroupMemberLeft { stream_id, topic_id, group_id, client_id } => {
                let group = self.group_mut(*stream_id, *topic_id, *group_id);
                let before = group.members.len();
                group.members.retain(|m| m != client_id);
                assert_ne!(before, group.members.len(), "client {client_id} not in group {group_id}");
                group.generation += 1;
            }
            Event::ClientGone { client_id } => {
                for group in self
                    .streams
                    .values_mut()
                    .flat_map(|s| s.topics.values_mut())
                    .flat_map(|t| t.consumer_groups.values_mut())
                {
                    let before = group.members.len();
                    group.members.retain(|m| m != client_id);
                    if before != group.members.len() {
                        group.generation += 1;
                    }
                }
            }
            _ => unreachable!("not a consumer group event"),
        }
    }

    fn apply_user(&mut self, event: &Event) {
        match event {
            Event::UserCreated { id, username, password_hash, status, permissions, created_at } => {
                assert!(!self.users.contains_key(id), "user id {id} taken");
                assert!(self.user_ids.insert(username.clone(), *id).is_none(), "username {username:?} taken");
                let user = User {
                    id: *id,
                    username: username.clone(),
                    password_hash: password_hash.clone(),
                    status: *status,
                    created_at: *created_at,
                    permissions: permissions.clone(),
                    personal_access_tokens: Default::default(),
                };
                self.users.insert(*id, user);
            }
            Event::UserUpdated { id, username, status } => {
                let user = self.users.get_mut(id).unwrap_or_else(|| panic!("user {id} missing"));
                assert_eq!(self.user_ids.remove(&user.username), Some(*id));
                assert!(self.user_ids.insert(username.clone(), *id).is_none(), "username {username:?} taken");
                user.username.clone_from(username);
                user.status = *status;
            }
            Event::UserDeleted { id } => {
                let user = self.users.remove(id).unwrap_or_else(|| panic!("user {id} missing"));
                assert_eq!(self.user_ids.remove(&user.username), Some(*id));
            }
            Event::PasswordChanged { id, password_hash } => self.user_mut(*id).password_hash.clone_from(password_hash),
            Event::PermissionsUpdated { id, permissions } => self.user_mut(*id).permissions.clone_from(permissions),
            Event::PersonalAccessTokenCreated { user_id, name, token_hash, expiry_at } => {
                let token =
                    PersonalAccessToken { name: name.clone(), token_hash: token_hash.clone(), expiry_at: *expiry_at };
                let previous = self.user_mut(*user_id).personal_access_tokens.insert(name.clone(), token);
                assert!(previous.is_none(), "token {name:?} of user {user_id} exists");
            }
            Event::PersonalAccessTokenDeleted { user_id, name } => {
                let removed = self.user_mut(*user_id).personal_access_tokens.remove(name);
                assert!(removed.is_some(), "token {name:?} of user {user_id} missing");
            }
            _ => unreachable!("not a user event"),
        }
    }

    fn stream_mut(&mut self, stream_id: u32) -> &mut Stream {
        self.streams.get_mut(&stream_id).unwrap_or_else(|| panic!("stream {stream_id} missing"))
    }

    fn topic_mut(&mut self, stream_id: u32, topic_id: u32) -> &mut Topic {
        let stream = self.stream_mut(stream_id);
        stream.topics.get_mut(&topic_id).unwrap_or_else(|| panic!("topic {stream_id}/{topic_id} missing"))
    }

    fn group_mut(&mut self, stream_id: u32, topic_id: u32, group_id: u32) -> &mut ConsumerGroup {
        let topic = self.topic_mut(stream_id, topic_id);
        topic.consumer_groups.get_mut(&group_id).unwrap_or_else(|| panic!("group {group_id} missing"))
    }

    fn user_mut(&mut self, user_id: u32) -> &mut User {
        self.users.get_mut(&user_id).unwrap_or_else(|| panic!("user {user_id} missing"))
    }
}

fn topic_from(event: &Event) -> Topic {
    let Event::TopicCreated {
        id,
        name,
        partitions_count,
        message_expiry,
        max_topic_size,
        compression,
        replication_factor,
        options,
        created_at,
        ..
    } = event
    else {
        unreachable!("not a TopicCreated event")
    };
    assert!(*partitions_count <= crate::model::PARTITIONS_MAX);
    Topic {
        id: *id,
        name: name.clone(),
        created_at: *created_at,
        partitions_count: *partitions_count,
        message_expiry: *message_expiry,
        max_topic_size: *max_topic_size,
        compression: *compression,
        replication_factor: *replication_factor,
        options: options.clone(),
        consumer_groups: Default::default(),
        group_ids: Default::default(),
    }
}
