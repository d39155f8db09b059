//! The metadata model: streams, their topics (partitions are the ids `0..partitions_count`),
//! consumer groups, users and their personal access tokens.
//!
//! # Who owns what
//! The authoritative [`Metadata`] lives on the metadata leader (shard 0, inside
//! [`crate::Leader`]); every shard holds a read-only copy inside its [`crate::Replica`]. Both
//! change only through [`Metadata::apply`] of the leader's events, in version order, so a copy
//! at version `v` equals the leader's state at version `v`, byte for byte.
//!
//! Lookups go by [`Ref`] (an id or a name, as the wire's Identifier); names are unique per
//! scope (streams and users globally, topics per stream, groups per topic), and each scope
//! keeps a name index beside its id map. Ids are the smallest free one, 0-based, like the
//! `vacant_key` of Iggy's slabs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::MetadataError;

/// Most partitions one topic may have (Iggy's `MAX_PARTITIONS_COUNT`).
pub const PARTITIONS_MAX: u32 = 1000;
/// Most personal access tokens one user may hold.
pub const PERSONAL_ACCESS_TOKENS_MAX: usize = 100;
/// Most options a topic may carry (protocol.md §2.8).
pub const OPTIONS_MAX: usize = 1024;
/// Id of the root user created on the first start.
pub const ROOT_USER_ID: u32 = 0;
/// User status codes (protocol.md §2.10).
pub const USER_STATUS_ACTIVE: u8 = 1;
pub const USER_STATUS_INACTIVE: u8 = 2;

/// A reference to an object, as a client names it: by id or by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Ref {
    Id(u32),
    Name(String),
}

/// The whole metadata at one version. See the module doc for who holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub(crate) version: u64,
    pub(crate) streams: BTreeMap<u32, Stream>,
    pub(crate) stream_ids: BTreeMap<String, u32>,
    pub(crate) users: BTreeMap<u32, User>,
    pub(crate) user_ids: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stream {
    pub id: u32,
    pub name: String,
    /// Microseconds since the Unix epoch.
    pub created_at: u64,
    pub topics: BTreeMap<u32, Topic>,
    pub(crate) topic_ids: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    pub id: u32,
    pub name: String,
    pub created_at: u64,
    /// Partition ids are `0..partitions_count`.
    pub partitions_count: u32,
    /// µs; 0 = server default, `u64::MAX` = never (protocol.md §2.10).
    pub message_expiry: u64,
    /// Bytes; 0 = server default, `u64::MAX` = unlimited.
    pub max_topic_size: u64,
    /// 1 none, 2 gzip.
    pub compression: u8,
    pub replication_factor: u8,
    /// The options exactly as the client set them (protocol.md §2.8), in its order.
    pub options: Vec<(String, String)>,
    pub consumer_groups: BTreeMap<u32, ConsumerGroup>,
    pub(crate) group_ids: BTreeMap<String, u32>,
}

/// A consumer group and its members.
///
/// Members are client ids in join order. Membership goes through the leader like every other
/// change, so every shard computes the same assignment; it is session state all the same, so
/// [`Metadata::clear_memberships`] drops it when the server starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerGroup {
    pub id: u32,
    pub name: String,
    pub members: Vec<u32>,
    /// Bumped on every change of membership or of the topic's partition count; a member whose
    /// cached assignment is older re-syncs.
    pub generation: u64,
}

impl ConsumerGroup {
    /// The partitions `member` owns among `0..partitions_count`: partition `p` goes to the
    /// member at position `p % members`, so counts differ by at most one and each partition
    /// has exactly one member. Empty when `member` is not in the group.
    pub fn assignment(&self, member: u32, partitions_count: u32) -> Vec<u32> {
        let Some(index) = self.members.iter().position(|m| *m == member) else { return Vec::new() };
        let members = self.members.len() as u32;
        (0..partitions_count).filter(|p| p % members == index as u32).collect()
    }

    /// The member that owns `partition`, if any.
    pub fn owner_of(&self, partition: u32) -> Option<u32> {
        if self.members.is_empty() {
            return None;
        }
        self.members.get((partition % self.members.len() as u32) as usize).copied()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: u32,
    pub username: String,
    /// A PHC string (the server hashes; the metadata only stores).
    pub password_hash: String,
    /// [`USER_STATUS_ACTIVE`] or [`USER_STATUS_INACTIVE`].
    pub status: u8,
    pub created_at: u64,
    /// The permissions block as it travels on the wire (protocol.md §2.9); `None` = none.
    pub permissions: Option<Vec<u8>>,
    /// Personal access tokens by name.
    pub personal_access_tokens: BTreeMap<String, PersonalAccessToken>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalAccessToken {
    pub name: String,
    /// A hash of the raw token (the raw token is shown to the client once and never stored).
    pub token_hash: String,
    /// µs timestamp after which the token is refused; `None` = never expires.
    pub expiry_at: Option<u64>,
}

/// Object counts, for GET_STATS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub streams: u32,
    pub topics: u32,
    pub partitions: u32,
    pub consumer_groups: u32,
    pub users: u32,
}

impl Metadata {
    /// The empty metadata at version 0, before any event.
    pub fn new() -> Metadata {
        Metadata::default()
    }

    /// The version of the last event applied (0 = none).
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn streams(&self) -> &BTreeMap<u32, Stream> {
        &self.streams
    }

    pub fn users(&self) -> &BTreeMap<u32, User> {
        &self.users
    }

    pub fn stream_by_id(&self, id: u32) -> Option<&Stream> {
        self.streams.get(&id)
    }

    pub fn stream_by_name(&self, name: &str) -> Option<&Stream> {
        self.stream_ids.get(name).and_then(|id| self.streams.get(id))
    }

    /// The stream `stream` names, or StreamIdNotFound / StreamNameNotFound.
    pub fn stream(&self, stream: &Ref) -> Result<&Stream, MetadataError> {
        match stream {
            Ref::Id(id) => self.stream_by_id(*id).ok_or(MetadataError::StreamIdNotFound(*id)),
            Ref::Name(name) => self.stream_by_name(name).ok_or_else(|| MetadataError::StreamNameNotFound(name.clone())),
        }
    }

    /// The topic `topic` of the stream `stream` names.
    pub fn topic(&self, stream: &Ref, topic: &Ref) -> Result<&Topic, MetadataError> {
        self.stream(stream)?.topic(topic)
    }

    pub fn user_by_id(&self, id: u32) -> Option<&User> {
        self.users.get(&id)
    }

    pub fn user_by_name(&self, username: &str) -> Option<&User> {
        self.user_ids.get(username).and_then(|id| self.users.get(id))
    }

    /// The user `user` names, or UserIdNotFound / UserNameNotFound.
    pub fn user(&self, user: &Ref) -> Result<&User, MetadataError> {
        match user {
            Ref::Id(id) => self.user_by_id(*id).ok_or(MetadataError::UserIdNotFound(*id)),
            Ref::Name(name) => self.user_by_name(name).ok_or_else(|| MetadataError::UserNameNotFound(name.clone())),
        }
    }

    /// The user holding a token with this hash, and the token (a scan: logins are rare).
    pub fn personal_access_token_by_hash(&self, token_hash: &str) -> Option<(&User, &PersonalAccessToken)> {
        self.users.values().find_map(|user| {
            user.personal_access_tokens.values().find(|token| token.token_hash == token_hash).map(|token| (user, token))
        })
    }

    /// The groups `client_id` is a member of, as (stream, topic, group) ids.
    pub fn memberships(&self, client_id: u32) -> Vec<(u32, u32, u32)> {
        let mut found = Vec::new();
        for stream in self.streams.values() {
            for topic in stream.topics.values() {
                for group in topic.consumer_groups.values() {
                    if group.members.contains(&client_id) {
                        found.push((stream.id, topic.id, group.id));
                    }
                }
            }
        }
        found
    }

    /// Forgets every group member: clients do not survive a restart, and their ids are reused.
    /// The leader calls it after replaying its log, before any replica is made.
    pub fn clear_memberships(&mut self) {
        for group in
            self.streams.values_mut().flat_map(|s| s.topics.values_mut()).flat_map(|t| t.consumer_groups.values_mut())
        {
            if !group.members.is_empty() {
                group.members.clear();
                group.generation += 1;
            }
        }
    }

    pub fn counts(&self) -> Counts {
        let mut counts =
            Counts { streams: len_u32(self.streams.len()), users: len_u32(self.users.len()), ..Counts::default() };
        for topic in self.streams.values().flat_map(|stream| stream.topics.values()) {
            counts.topics = counts.topics.saturating_add(1);
            counts.partitions = counts.partitions.saturating_add(topic.partitions_count);
            counts.consumer_groups = counts.consumer_groups.saturating_add(len_u32(topic.consumer_groups.len()));
        }
        counts
    }
}

impl Stream {
    pub(crate) fn new(id: u32, name: String, created_at: u64) -> Stream {
        Stream { id, name, created_at, topics: BTreeMap::new(), topic_ids: BTreeMap::new() }
    }

    pub fn topic_by_name(&self, name: &str) -> Option<&Topic> {
        self.topic_ids.get(name).and_then(|id| self.topics.get(id))
    }

    /// The topic `topic` names, or TopicIdNotFound / TopicNameNotFound.
    pub fn topic(&self, topic: &Ref) -> Result<&Topic, MetadataError> {
        match topic {
            Ref::Id(id) => {
                self.topics.get(id).ok_or(MetadataError::TopicIdNotFound { stream_id: self.id, topic_id: *id })
            }
            Ref::Name(name) => self
                .topic_by_name(name)
                .ok_or_else(|| MetadataError::TopicNameNotFound { stream_id: self.id, name: name.clone() }),
        }
    }
}

impl Topic {
    pub fn consumer_group_by_name(&self, name: &str) -> Option<&ConsumerGroup> {
        self.group_ids.get(name).and_then(|id| self.consumer_groups.get(id))
    }

    /// The group `group` names, or ConsumerGroupIdNotFound / ConsumerGroupNameNotFound.
    pub fn consumer_group(&self, stream_id: u32, group: &Ref) -> Result<&ConsumerGroup, MetadataError> {
        match group {
            Ref::Id(id) => self.consumer_groups.get(id).ok_or(MetadataError::ConsumerGroupIdNotFound {
                stream_id,
                topic_id: self.id,
                group_id: *id,
            }),
            Ref::Name(name) => self.consumer_group_by_name(name).ok_or_else(|| {
                MetadataError::ConsumerGroupNameNotFound { stream_id, topic_id: self.id, name: name.clone() }
            }),
        }
    }

    /// The value the client set for an option key, if any.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The smallest key not in `map` (0-based): Iggy's slab `vacant_key`.
pub(crate) fn smallest_free_id<V>(map: &BTreeMap<u32, V>) -> u32 {
    let mut candidate = 0u32;
    for &key in map.keys() {
        if key != candidate {
            break;
        }
        candidate += 1;
    }
    candidate
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}
