//! Which grants allow which command: a copy of Iggy's server permissioner, rule for rule.
//!
//! Sources (apache/iggy): the legacy server's rules in
//! `core/server/src/streaming/users/permissioner_rules/{system,users,streams,topics,partitions,
//! segments,messages,consumer_offsets,consumer_groups}.rs` (the same rules were copied to
//! `core/metadata/src/permissioner/permissioner_rules/*.rs` for the VSR server), the call sites
//! in `core/server/src/shard/system/{users,clients,messages,snapshot/mod.rs}.rs` for the
//! commands that run no rule or exempt the caller, and the VSR gates
//! `core/metadata/src/stm/authz.rs` and `core/server/src/dispatch/authz.rs`.
//!
//! Stream and topic ids are the resolved numeric ids. Like Iggy, a server resolves the
//! identifiers first and answers a missing stream or topic with its NotFound code *before*
//! asking these rules (notfound-before-permission); only then does a `false` mean
//! Unauthorized (41).
//!
//! Rule families (every grant listed allows; anything else is refused):
//! * server info (GetStats, GetClients, GetClient): global `manage_servers` or `read_servers`.
//! * read users (GetUsers, GetUser of someone else): global `manage_users` or `read_users`.
//! * manage users (CreateUser, DeleteUser, UpdateUser, UpdatePermissions, ChangePassword of
//!   someone else): global `manage_users`.
//! * list streams (GetStreams): global `manage_streams` or `read_streams`.
//! * read stream (GetStream): global `manage_streams`/`read_streams`, or the stream's
//!   `manage_stream`/`read_stream`.
//! * create stream: global `manage_streams`.
//! * manage stream (UpdateStream, DeleteStream, PurgeStream): global `manage_streams` or the
//!   stream's `manage_stream`.
//! * read topic (GetTopic and all six consumer-group commands): global `read_streams`,
//!   `manage_streams`, `manage_topics` or `read_topics`; the stream's `manage_topics` or
//!   `read_topics`; the topic's `manage_topic` or `read_topic`.
//! * list topics (GetTopics): as read topic, but Iggy looks the topic grant up under the
//!   *stream* id (`get_topics` passes `stream_id` as the topic key; Iggy keeps it "for
//!   compatibility"), so topic-level grants only count when a topic id equals the stream id.
//! * create topic: global `manage_streams` or `manage_topics`, or the stream's `manage_topics`.
//! * manage topic (UpdateTopic, DeleteTopic, PurgeTopic, CreatePartitions, DeletePartitions,
//!   DeleteSegments): global `manage_streams` or `manage_topics`; the stream's
//!   `manage_topics`; the topic's `manage_topic`.
//! * poll (PollMessages, Get/Store/DeleteConsumerOffset): global `poll_messages`; the stream's
//!   `poll_messages`, `read_stream`, `manage_topics` or `read_topics`; the topic's
//!   `poll_messages`, `read_topic` or `manage_topic`. Global `read_streams` or
//!   `manage_streams` do *not* allow polling.
//! * send (SendMessages, FlushUnsavedBuffer): global `send_messages`; the stream's
//!   `send_messages`, `manage_stream` or `manage_topics`; the topic's `send_messages` or
//!   `manage_topic`. Global `manage_streams` does *not* allow sending.
//! * no grant, only a login: Ping, GetMe, GetClusterMetadata, DescribeOptions, Logout, the
//!   personal-access-token commands (self-scoped), GetSnapshot (Iggy runs no rule for it, so
//!   any logged-in user may download the server's logs and config; a server may want to be
//!   stricter) and SyncConsumerGroup (membership-scoped).
//!
//! Where Iggy itself deviates, we follow it and say so: the legacy `get_topic` rule unwraps a
//! stream entry's topic map and would panic for a stream grant without topics, which we read
//! as "no topic grant" like the refactored rule (`get_topic_permissions`) does. The VSR
//! server differs from the legacy one in three places, noted on the variants: it does not
//! gate GetClients/GetClient, it has no self-exemption for GetUser, and it short-circuits the
//! root user (id 0) in its apply-time gate, which [`Permissions::root`] reproduces because
//! root holds every global grant.

use super::{Permissions, StreamPermissions, TopicPermissions};
use crate::codes;

/// A command as the permissioner sees it, with the resolved ids it is scoped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    // System.
    Ping,
    GetMe,
    GetClusterMetadata,
    DescribeOptions,
    GetSnapshot,
    GetStats,
    /// The VSR server (`dispatch/authz.rs`) lets any logged-in user list clients; the legacy
    /// server and this rule require a server-info grant.
    GetClients,
    /// See [`Action::GetClients`].
    GetClient,
    // Users and tokens.
    Logout,
    GetUsers,
    /// `own`: the caller asks for itself, which the legacy server allows without a grant
    /// (`find_user`). The VSR dispatch gate runs `get_user` unconditionally: pass
    /// `own: false` to get that behaviour.
    GetUser {
        own: bool,
    },
    CreateUser,
    DeleteUser,
    UpdateUser,
    UpdatePermissions,
    /// `own`: the caller changes its own password, allowed without a grant by both servers.
    ChangePassword {
        own: bool,
    },
    GetPersonalAccessTokens,
    CreatePersonalAccessToken,
    DeletePersonalAccessToken,
    // Streams.
    GetStreams,
    GetStream {
        stream: u32,
    },
    CreateStream,
    UpdateStream {
        stream: u32,
    },
    DeleteStream {
        stream: u32,
    },
    PurgeStream {
        stream: u32,
    },
    // Topics, partitions, segments.
    GetTopics {
        stream: u32,
    },
    GetTopic {
        stream: u32,
        topic: u32,
    },
    CreateTopic {
        stream: u32,
    },
    UpdateTopic {
        stream: u32,
        topic: u32,
    },
    DeleteTopic {
        stream: u32,
        topic: u32,
    },
    PurgeTopic {
        stream: u32,
        topic: u32,
    },
    CreatePartitions {
        stream: u32,
        topic: u32,
    },
    DeletePartitions {
        stream: u32,
        topic: u32,
    },
    DeleteSegments {
        stream: u32,
        topic: u32,
    },
    // Messages and offsets.
    PollMessages {
        stream: u32,
        topic: u32,
    },
    SendMessages {
        stream: u32,
        topic: u32,
    },
    FlushUnsavedBuffer {
        stream: u32,
        topic: u32,
    },
    GetConsumerOffset {
        stream: u32,
        topic: u32,
    },
    StoreConsumerOffset {
        stream: u32,
        topic: u32,
    },
    DeleteConsumerOffset {
        stream: u32,
        topic: u32,
    },
    // Consumer groups.
    GetConsumerGroups {
        stream: u32,
        topic: u32,
    },
    GetConsumerGroup {
        stream: u32,
        topic: u32,
    },
    CreateConsumerGroup {
        stream: u32,
        topic: u32,
    },
    DeleteConsumerGroup {
        stream: u32,
        topic: u32,
    },
    JoinConsumerGroup {
        stream: u32,
        topic: u32,
    },
    LeaveConsumerGroup {
        stream: u32,
        topic: u32,
    },
    SyncConsumerGroup {
        stream: u32,
        topic: u32,
    },
}

impl Action {
    /// The command code this action stands for (both login codes of a generation and the
    /// cluster-routing codes have no action: they run before or outside authorization).
    pub fn code(&self) -> u32 {
        match self {
            Action::Ping => codes::PING,
            Action::GetMe => codes::GET_ME,
            Action::GetClusterMetadata => codes::GET_CLUSTER_METADATA,
            Action::DescribeOptions => codes::DESCRIBE_OPTIONS,
            Action::GetSnapshot => codes::GET_SNAPSHOT_FILE,
            Action::GetStats => codes::GET_STATS,
            Action::GetClients => codes::GET_CLIENTS,
            Action::GetClient => codes::GET_CLIENT,
            Action::Logout => codes::LOGOUT_USER,
            Action::GetUsers => codes::GET_USERS,
            Action::GetUser { .. } => codes::GET_USER,
            Action::CreateUser => codes::CREATE_USER,
            Action::DeleteUser => codes::DELETE_USER,
            Action::UpdateUser => codes::UPDATE_USER,
            Action::UpdatePermissions => codes::UPDATE_PERMISSIONS,
            Action::ChangePassword { .. } => codes::CHANGE_PASSWORD,
            Action::GetPersonalAccessTokens => codes::GET_PERSONAL_ACCESS_TOKENS,
            Action::CreatePersonalAccessToken => codes::CREATE_PERSONAL_ACCESS_TOKEN,
            Action::DeletePersonalAccessToken => codes::DELETE_PERSONAL_ACCESS_TOKEN,
            Action::GetStreams => codes::GET_STREAMS,
            Action::GetStream { .. } => codes::GET_STREAM,
            Action::CreateStream => codes::CREATE_STREAM,
            Action::UpdateStream { .. } => codes::UPDATE_STREAM,
            Action::DeleteStream { .. } => codes::DELETE_STREAM,
            Action::PurgeStream { .. } => codes::PURGE_STREAM,
            Action::GetTopics { .. } => codes::GET_TOPICS,
            Action::GetTopic { .. } => codes::GET_TOPIC,
            Action::CreateTopic { .. } => codes::CREATE_TOPIC,
            Action::UpdateTopic { .. } => codes::UPDATE_TOPIC,
            Action::DeleteTopic { .. } => codes::DELETE_TOPIC,
            Action::PurgeTopic { .. } => codes::PURGE_TOPIC,
            Action::CreatePartitions { .. } => codes::CREATE_PARTITIONS,
            Action::DeletePartitions { .. } => codes::DELETE_PARTITIONS,
            Action::DeleteSegments { .. } => codes::DELETE_SEGMENTS,
            Action::PollMessages { .. } => codes::POLL_MESSAGES,
            Action::SendMessages { .. } => codes::SEND_MESSAGES,
            Action::FlushUnsavedBuffer { .. } => codes::FLUSH_UNSAVED_BUFFER,
            Action::GetConsumerOffset { .. } => codes::GET_CONSUMER_OFFSET,
            Action::StoreConsumerOffset { .. } => codes::STORE_CONSUMER_OFFSET,
            Action::DeleteConsumerOffset { .. } => codes::DELETE_CONSUMER_OFFSET,
            Action::GetConsumerGroups { .. } => codes::GET_CONSUMER_GROUPS,
            Action::GetConsumerGroup { .. } => codes::GET_CONSUMER_GROUP,
            Action::CreateConsumerGroup { .. } => codes::CREATE_CONSUMER_GROUP,
            Action::DeleteConsumerGroup { .. } => codes::DELETE_CONSUMER_GROUP,
            Action::JoinConsumerGroup { .. } => codes::JOIN_CONSUMER_GROUP,
            Action::LeaveConsumerGroup { .. } => codes::LEAVE_CONSUMER_GROUP,
            Action::SyncConsumerGroup { .. } => codes::SYNC_CONSUMER_GROUP,
        }
    }
}

impl Permissions {
    /// Whether a logged-in user holding these permissions may run `action` (module docs list
    /// the rules). Being logged in is the caller's check: these rules assume it.
    pub fn allows(&self, action: &Action) -> bool {
        match *action {
            Action::Ping
            | Action::GetMe
            | Action::GetClusterMetadata
            | Action::DescribeOptions
            | Action::GetSnapshot
            | Action::Logout
            | Action::GetPersonalAccessTokens
            | Action::CreatePersonalAccessToken
            | Action::DeletePersonalAccessToken
            | Action::SyncConsumerGroup { .. } => true,
            Action::GetStats | Action::GetClients | Action::GetClient => self.read_servers(),
            Action::GetUsers => self.read_users(),
            Action::GetUser { own } => own || self.read_users(),
            Action::CreateUser | Action::DeleteUser | Action::UpdateUser | Action::UpdatePermissions => {
                self.global.manage_users
            }
            Action::ChangePassword { own } => own || self.global.manage_users,
            Action::GetStreams => self.global.manage_streams || self.global.read_streams,
            Action::GetStream { stream } => self.read_stream(stream),
            Action::CreateStream => self.global.manage_streams,
            Action::UpdateStream { stream } | Action::DeleteStream { stream } | Action::PurgeStream { stream } => {
                self.manage_stream(stream)
            }
            // Iggy's `get_topics` looks the topic grant up under the stream id (module docs).
            Action::GetTopics { stream } => self.read_topic(stream, stream),
            Action::GetTopic { stream, topic }
            | Action::GetConsumerGroups { stream, topic }
            | Action::GetConsumerGroup { stream, topic }
            | Action::CreateConsumerGroup { stream, topic }
            | Action::DeleteConsumerGroup { stream, topic }
            | Action::JoinConsumerGroup { stream, topic }
            | Action::LeaveConsumerGroup { stream, topic } => self.read_topic(stream, topic),
            Action::CreateTopic { stream } => self.create_topic(stream),
            Action::UpdateTopic { stream, topic }
            | Action::DeleteTopic { stream, topic }
            | Action::PurgeTopic { stream, topic }
            | Action::CreatePartitions { stream, topic }
            | Action::DeletePartitions { stream, topic }
            | Action::DeleteSegments { stream, topic } => self.manage_topic(stream, topic),
            Action::PollMessages { stream, topic }
            | Action::GetConsumerOffset { stream, topic }
            | Action::StoreConsumerOffset { stream, topic }
            | Action::DeleteConsumerOffset { stream, topic } => self.poll(stream, topic),
            Action::SendMessages { stream, topic } | Action::FlushUnsavedBuffer { stream, topic } => {
                self.send(stream, topic)
            }
        }
    }

    fn stream(&self, stream: u32) -> Option<&StreamPermissions> {
        self.streams.get(&stream)
    }

    fn topic(&self, stream: u32, topic: u32) -> Option<&TopicPermissions> {
        self.stream(stream).and_then(|grants| grants.topics.get(&topic))
    }

    /// `system.rs` `get_server_info`.
    fn read_servers(&self) -> bool {
        self.global.manage_servers || self.global.read_servers
    }

    /// `users.rs` `read_users`.
    fn read_users(&self) -> bool {
        self.global.manage_users || self.global.read_users
    }

    /// `streams.rs` `get_stream`.
    fn read_stream(&self, stream: u32) -> bool {
        self.global.manage_streams
            || self.global.read_streams
            || self.stream(stream).is_some_and(|grants| grants.manage_stream || grants.read_stream)
    }

    /// `streams.rs` `manage_stream`.
    fn manage_stream(&self, stream: u32) -> bool {
        self.global.manage_streams || self.stream(stream).is_some_and(|grants| grants.manage_stream)
    }

    /// `topics.rs` `get_topic` (and `get_topics` with `topic = stream`).
    fn read_topic(&self, stream: u32, topic: u32) -> bool {
        let global = &self.global;
        global.read_streams
            || global.manage_streams
            || global.manage_topics
            || global.read_topics
            || self.stream(stream).is_some_and(|grants| grants.manage_topics || grants.read_topics)
            || self.topic(stream, topic).is_some_and(|grants| grants.manage_topic || grants.read_topic)
    }

    /// `topics.rs` `create_topic`.
    fn create_topic(&self, stream: u32) -> bool {
        self.global.manage_streams
            || self.global.manage_topics
            || self.stream(stream).is_some_and(|grants| grants.manage_topics)
    }

    /// `topics.rs` `manage_topic`, reached by update/delete/purge topic, `partitions.rs` and
    /// `segments.rs`.
    fn manage_topic(&self, stream: u32, topic: u32) -> bool {
        self.global.manage_streams
            || self.global.manage_topics
            || self.stream(stream).is_some_and(|grants| grants.manage_topics)
            || self.topic(stream, topic).is_some_and(|grants| grants.manage_topic)
    }

    /// `messages.rs` `poll_messages`, reached by the consumer-offset commands too.
    fn poll(&self, stream: u32, topic: u32) -> bool {
        self.global.poll_messages
            || self.stream(stream).is_some_and(|grants| {
                grants.poll_messages || grants.read_stream || grants.manage_topics || grants.read_topics
            })
            || self
                .topic(stream, topic)
                .is_some_and(|grants| grants.poll_messages || grants.read_topic || grants.manage_topic)
    }

    /// `messages.rs` `append_messages`, reached by FlushUnsavedBuffer too.
    fn send(&self, stream: u32, topic: u32) -> bool {
        self.global.send_messages
            || self
                .stream(stream)
                .is_some_and(|grants| grants.send_messages || grants.manage_stream || grants.manage_topics)
            || self.topic(stream, topic).is_some_and(|grants| grants.send_messages || grants.manage_topic)
    }
}
