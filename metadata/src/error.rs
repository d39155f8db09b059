//! Why the leader refused a command. One precise enum for the metadata layer, mapped to Iggy's
//! numeric status codes (protocol.md §8) in one place, [`MetadataError::iggy_code`].

use thiserror::Error;

/// The kind of object a name belongs to: each has its own length bounds and its own Iggy code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Stream,
    Topic,
    ConsumerGroup,
    User,
    PersonalAccessToken,
}

impl NameKind {
    /// Allowed length in bytes (protocol.md §2.1: names 1..=255, usernames 3..=50, PAT names 3..=30).
    pub fn bounds_bytes(self) -> (usize, usize) {
        match self {
            NameKind::Stream | NameKind::Topic | NameKind::ConsumerGroup => (1, 255),
            NameKind::User => (3, 50),
            NameKind::PersonalAccessToken => (3, 30),
        }
    }

    fn iggy_code(self) -> u32 {
        match self {
            NameKind::Stream => 1013,
            NameKind::Topic => 2014,
            NameKind::ConsumerGroup => 5005,
            NameKind::User => 43,
            NameKind::PersonalAccessToken => 50,
        }
    }
}

/// A command the leader refused; the state is unchanged and no event was produced.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetadataError {
    #[error("invalid {kind:?} name: {length_bytes} bytes")]
    InvalidName { kind: NameKind, length_bytes: usize },
    #[error("stream with id {0} was not found")]
    StreamIdNotFound(u32),
    #[error("stream with name {0:?} was not found")]
    StreamNameNotFound(String),
    #[error("stream with name {0:?} already exists")]
    StreamNameAlreadyExists(String),
    #[error("topic with id {topic_id} was not found in stream {stream_id}")]
    TopicIdNotFound { stream_id: u32, topic_id: u32 },
    #[error("topic with name {name:?} was not found in stream {stream_id}")]
    TopicNameNotFound { stream_id: u32, name: String },
    #[error("topic with name {name:?} already exists in stream {stream_id}")]
    TopicNameAlreadyExists { stream_id: u32, name: String },
    #[error("too many partitions: {requested} requested, at most {max_count} per topic")]
    TooManyPartitions { requested: u64, max_count: u32 },
    #[error("invalid partitions count {0}")]
    InvalidPartitionsCount(u32),
    #[error("invalid compression algorithm {0} (1 none, 2 gzip)")]
    InvalidCompression(u8),
    #[error("too many options: {0}")]
    TooManyOptions(usize),
    #[error("consumer group with id {group_id} was not found in topic {topic_id} of stream {stream_id}")]
    ConsumerGroupIdNotFound { stream_id: u32, topic_id: u32, group_id: u32 },
    #[error("consumer group with name {name:?} was not found in topic {topic_id} of stream {stream_id}")]
    ConsumerGroupNameNotFound { stream_id: u32, topic_id: u32, name: String },
    #[error("consumer group with name {name:?} already exists in topic {topic_id} of stream {stream_id}")]
    ConsumerGroupNameAlreadyExists { stream_id: u32, topic_id: u32, name: String },
    #[error("client {client_id} is already a member of consumer group {group_id}")]
    AlreadyMember { group_id: u32, client_id: u32 },
    #[error("client {client_id} is not a member of consumer group {group_id}")]
    NotMember { group_id: u32, client_id: u32 },
    #[error("user with id {0} was not found")]
    UserIdNotFound(u32),
    #[error("user with name {0:?} was not found")]
    UserNameNotFound(String),
    #[error("user {0:?} already exists")]
    UserAlreadyExists(String),
    #[error("invalid user status {0} (1 active, 2 inactive)")]
    InvalidUserStatus(u8),
    #[error("empty password hash")]
    InvalidPasswordHash,
    #[error("the root user (id {0}) cannot be deleted")]
    CannotDeleteRoot(u32),
    #[error("the permissions of the root user (id {0}) cannot be changed")]
    CannotChangeRootPermissions(u32),
    #[error("personal access token {name:?} of user {user_id} already exists")]
    PersonalAccessTokenAlreadyExists { user_id: u32, name: String },
    #[error("personal access token {name:?} of user {user_id} was not found")]
    PersonalAccessTokenNotFound { user_id: u32, name: String },
    #[error("user {user_id} already has the maximum of {max_count} personal access tokens")]
    PersonalAccessTokensLimitReached { user_id: u32, max_count: usize },
}

impl MetadataError {
    /// The Iggy status code a client receives for this error (protocol.md §8,
    /// `IggyError` discriminants).
    pub fn iggy_code(&self) -> u32 {
        match self {
            MetadataError::InvalidName { kind, .. } => kind.iggy_code(),
            MetadataError::StreamIdNotFound(_) => 1009,
            MetadataError::StreamNameNotFound(_) => 1010,
            MetadataError::StreamNameAlreadyExists(_) => 1012,
            MetadataError::TopicIdNotFound { .. } => 2010,
            MetadataError::TopicNameNotFound { .. } => 2011,
            MetadataError::TopicNameAlreadyExists { .. } => 2013,
            MetadataError::TooManyPartitions { .. } => 2015,
            MetadataError::InvalidPartitionsCount(_) => 2019,
            // Iggy's CompressionAlgorithm::from_code fails with InvalidCommand.
            MetadataError::InvalidCompression(_) => 3,
            MetadataError::TooManyOptions(_) => 4043,
            MetadataError::ConsumerGroupIdNotFound { .. } => 5000,
            MetadataError::ConsumerGroupNameNotFound { .. } => 5003,
            MetadataError::ConsumerGroupNameAlreadyExists { .. } => 5004,
            // Iggy's join is idempotent; the server answers success for it.
            MetadataError::AlreadyMember { .. } => 5007,
            MetadataError::NotMember { .. } => 5006,
            // Iggy reports a missing user or token as ResourceNotFound.
            MetadataError::UserIdNotFound(_)
            | MetadataError::UserNameNotFound(_)
            | MetadataError::PersonalAccessTokenNotFound { .. } => 20,
            MetadataError::UserAlreadyExists(_) => 46,
            MetadataError::InvalidUserStatus(_) => 45,
            MetadataError::InvalidPasswordHash => 44,
            MetadataError::CannotDeleteRoot(_) => 48,
            MetadataError::CannotChangeRootPermissions(_) => 49,
            MetadataError::PersonalAccessTokenAlreadyExists { .. } => 51,
            MetadataError::PersonalAccessTokensLimitReached { .. } => 52,
        }
    }
}
