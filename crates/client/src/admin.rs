//! Streams, topics, partitions, segments, consumer groups, users, permissions and personal
//! access tokens: the operator's commands, in both dialects.

use whippet_protocol::codes;
use whippet_protocol::groups::{CreateConsumerGroup, GroupDetails, GroupInfo, GroupRef, decode_groups};
use whippet_protocol::legacy::requests as legacy_requests;
use whippet_protocol::legacy::requests::TopicSettings;
use whippet_protocol::legacy::responses as legacy_responses;
use whippet_protocol::permissions::Permissions;
use whippet_protocol::requests::{CreateStream, CreateTopic, StreamRef, TopicRef, UpdateStream};
use whippet_protocol::responses::{
    COMPRESSION_GZIP, COMPRESSION_NONE, StreamDetails, StreamInfo, TopicDetails, TopicInfo, decode_streams,
    decode_topics,
};
use whippet_protocol::system::{DeleteSegments, PartitionsChange, UpdateTopic};
use whippet_protocol::types::{Identifier, OptionValue, Options};
use whippet_protocol::users::{
    ChangePassword, CreatePersonalAccessToken, CreateUser, DeletePersonalAccessToken, PersonalAccessTokenInfo,
    RawToken, UpdatePermissions, UpdateUser, UserDetails, UserInfo, UserRef, decode_personal_access_tokens,
    decode_users,
};

use crate::client::{Client, optional};
use crate::error::ClientError;
use crate::transport::Dialect;

/// What a new topic (or a topic update) asks for. Zero means "server default" for expiry and
/// size, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: u32,
    /// [`COMPRESSION_NONE`] or [`COMPRESSION_GZIP`].
    pub compression: u8,
    /// Microseconds; 0 = server default, `u64::MAX` = never.
    pub message_expiry: u64,
    /// Bytes; 0 = server default, `u64::MAX` = unlimited.
    pub max_topic_size: u64,
    /// Further 0.11 topic options as text (`durability`, `segment_size`, ...). The legacy
    /// dialect has no options block and refuses a spec that sets any.
    pub options: Vec<(String, String)>,
}

impl TopicSpec {
    pub fn new(name: impl Into<String>, partitions: u32) -> TopicSpec {
        TopicSpec {
            name: name.into(),
            partitions,
            compression: COMPRESSION_NONE,
            message_expiry: 0,
            max_topic_size: 0,
            options: Vec::new(),
        }
    }

    /// Adds a 0.11 topic option (`durability` = `always`, `never`, `interval:MS`, ...).
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> TopicSpec {
        self.options.push((key.into(), value.into()));
        self
    }

    fn wire_options(&self) -> Options {
        let mut options = Vec::new();
        let mut push = |key: &str, value: String| options.push((key.to_owned(), OptionValue::string(&value)));
        if self.compression == COMPRESSION_GZIP {
            push("compression_algorithm", "gzip".to_owned());
        }
        if self.message_expiry != 0 {
            push(
                "message_expiry",
                if self.message_expiry == u64::MAX { "none".into() } else { self.message_expiry.to_string() },
            );
        }
        if self.max_topic_size != 0 {
            push(
                "max_topic_size",
                if self.max_topic_size == u64::MAX { "unlimited".into() } else { self.max_topic_size.to_string() },
            );
        }
        for (key, value) in &self.options {
            push(key, value.clone());
        }
        Options(options)
    }

    fn legacy_settings(&self) -> Result<TopicSettings, ClientError> {
        if !self.options.is_empty() {
            return Err(ClientError::Unsupported { dialect: "legacy", what: "topic options" });
        }
        Ok(TopicSettings {
            compression_algorithm: self.compression,
            message_expiry: self.message_expiry,
            max_topic_size: self.max_topic_size,
            replication_factor: None,
        })
    }
}

/// A new user.
#[derive(Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub username: String,
    pub password: String,
    pub active: bool,
    pub permissions: Option<Permissions>,
}

impl std::fmt::Debug for UserSpec {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("UserSpec")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("active", &self.active)
            .field("permissions", &self.permissions)
            .finish()
    }
}

/// User status byte values (protocol.md §7.8).
pub const USER_STATUS_ACTIVE: u8 = 1;
pub const USER_STATUS_INACTIVE: u8 = 2;

impl Client {
    fn legacy(&self) -> bool {
        self.dialect() == Dialect::Legacy
    }

    // --- streams ---------------------------------------------------------------------------

    pub async fn streams(&mut self) -> Result<Vec<StreamInfo>, ClientError> {
        let body = self.call(codes::GET_STREAMS, |_| {}).await?;
        Ok(if self.legacy() { legacy_responses::decode_streams(&body)? } else { decode_streams(&body)? })
    }

    pub async fn stream(&mut self, stream: &Identifier) -> Result<Option<StreamDetails>, ClientError> {
        let request = StreamRef { stream: stream.clone() };
        let body = self.call(codes::GET_STREAM, |b| request.encode(b)).await?;
        if self.legacy() {
            optional(&body, legacy_responses::decode_stream_details)
        } else {
            optional(&body, StreamDetails::decode)
        }
    }

    pub async fn create_stream(&mut self, name: &str) -> Result<StreamDetails, ClientError> {
        let request = CreateStream { name: name.to_owned(), options: Options::new() };
        let legacy = self.legacy();
        let body = self
            .call(codes::CREATE_STREAM, |b| {
                if legacy { legacy_requests::encode_create_stream(&request, b) } else { request.encode(b) }
            })
            .await?;
        Ok(if legacy { legacy_responses::decode_stream_details(&body)? } else { StreamDetails::decode(&body)? })
    }

    pub async fn update_stream(&mut self, stream: &Identifier, name: &str) -> Result<(), ClientError> {
        let request = UpdateStream { stream: stream.clone(), name: name.to_owned(), options: Options::new() };
        let legacy = self.legacy();
        self.call(codes::UPDATE_STREAM, |b| {
            if legacy { legacy_requests::encode_update_stream(&request, b) } else { request.encode(b) }
        })
        .await
        .map(drop)
    }

    pub async fn delete_stream(&mut self, stream: &Identifier) -> Result<(), ClientError> {
        let request = StreamRef { stream: stream.clone() };
        self.call(codes::DELETE_STREAM, |b| request.encode(b)).await.map(drop)
    }

    pub async fn purge_stream(&mut self, stream: &Identifier) -> Result<(), ClientError> {
        let request = StreamRef { stream: stream.clone() };
        self.call(codes::PURGE_STREAM, |b| request.encode(b)).await.map(drop)
    }

    // --- topics ----------------------------------------------------------------------------

    pub async fn topics(&mut self, stream: &Identifier) -> Result<Vec<TopicInfo>, ClientError> {
        let request = StreamRef { stream: stream.clone() };
        let body = self.call(codes::GET_TOPICS, |b| request.encode(b)).await?;
        Ok(if self.legacy() { legacy_responses::decode_topics(&body)? } else { decode_topics(&body)? })
    }

    pub async fn topic(
        &mut self,
        stream: &Identifier,
        topic: &Identifier,
    ) -> Result<Option<TopicDetails>, ClientError> {
        let request = TopicRef { stream: stream.clone(), topic: topic.clone() };
        let body = self.call(codes::GET_TOPIC, |b| request.encode(b)).await?;
        if self.legacy() {
            optional(&body, legacy_responses::decode_topic_details)
        } else {
            optional(&body, TopicDetails::decode)
        }
    }

    pub async fn create_topic(&mut self, stream: &Identifier, spec: &TopicSpec) -> Result<TopicDetails, ClientError> {
        let body = if self.legacy() {
            let request = legacy_requests::CreateTopic {
                stream: stream.clone(),
                partitions_count: spec.partitions,
                settings: spec.legacy_settings()?,
                name: spec.name.clone(),
            };
            self.call(codes::CREATE_TOPIC, |b| request.encode(b)).await?
        } else {
            let request = CreateTopic {
                stream: stream.clone(),
                partitions_count: spec.partitions,
                name: spec.name.clone(),
                options: spec.wire_options(),
            };
            self.call(codes::CREATE_TOPIC, |b| request.encode(b)).await?
        };
        Ok(if self.legacy() { legacy_responses::decode_topic_details(&body)? } else { TopicDetails::decode(&body)? })
    }

    /// Renames a topic and replaces its updatable settings (compression, expiry, max size).
    pub async fn update_topic(
        &mut self,
        stream: &Identifier,
        topic: &Identifier,
        spec: &TopicSpec,
    ) -> Result<(), ClientError> {
        if self.legacy() {
            let request = legacy_requests::UpdateTopic {
                stream: stream.clone(),
                topic: topic.clone(),
                settings: spec.legacy_settings()?,
                name: spec.name.clone(),
            };
            self.call(codes::UPDATE_TOPIC, |b| request.encode(b)).await.map(drop)
        } else {
            let request = UpdateTopic {
                stream: stream.clone(),
                topic: topic.clone(),
                name: spec.name.clone(),
                options: spec.wire_options(),
            };
            self.call(codes::UPDATE_TOPIC, |b| request.encode(b)).await.map(drop)
        }
    }

    pub async fn delete_topic(&mut self, stream: &Identifier, topic: &Identifier) -> Result<(), ClientError> {
        let request = TopicRef { stream: stream.clone(), topic: topic.clone() };
        self.call(codes::DELETE_TOPIC, |b| request.encode(b)).await.map(drop)
    }

    pub async fn purge_topic(&mut self, stream: &Identifier, topic: &Identifier) -> Result<(), ClientError> {
        let request = TopicRef { stream: stream.clone(), topic: topic.clone() };
        self.call(codes::PURGE_TOPIC, |b| request.encode(b)).await.map(drop)
    }

    // --- partitions and segments -----------------------------------------------------------

    pub async fn create_partitions(
        &mut self,
        stream: &Identifier,
        topic: &Identifier,
        count: u32,
    ) -> Result<(), ClientError> {
        let request = PartitionsChange { stream: stream.clone(), topic: topic.clone(), partitions_count: count };
        self.call(codes::CREATE_PARTITIONS, |b| request.encode(b)).await.map(drop)
    }

    /// Deletes the last `count` partitions.
    pub async fn delete_partitions(
        &mut self,
        stream: &Identifier,
        topic: &Identifier,
        count: u32,
    ) -> Result<(), ClientError> {
        let request = PartitionsChange { stream: stream.clone(), topic: topic.clone(), partitions_count: count };
        self.call(codes::DELETE_PARTITIONS, |b| request.encode(b)).await.map(drop)
    }

    /// Deletes the oldest `count` segments of a partition.
    pub async fn delete_segments(
        &mut self,
        stream: &Identifier,
        topic: &Identifier,
        partition_id: u32,
        count: u32,
    ) -> Result<(), ClientError> {
        let request =
            DeleteSegments { stream: stream.clone(), topic: topic.clone(), partition_id, segments_count: count };
        self.call(codes::DELETE_SEGMENTS, |b| request.encode(b)).await.map(drop)
    }

    // --- consumer groups -------------------------------------------------------------------

    pub async fn groups(&mut self, stream: &Identifier, topic: &Identifier) -> Result<Vec<GroupInfo>, ClientError> {
        let request = TopicRef { stream: stream.clone(), topic: topic.clone() };
        let body = self.call(codes::GET_CONSUMER_GROUPS, |b| request.encode(b)).await?;
        Ok(decode_groups(&body)?)
    }

    pub async fn group(
        &mut self,
        stream: &Identifier,
        topic: &Identifier,
        group: &Identifier,
    ) -> Result<Option<GroupDetails>, ClientError> {
        let request = group_ref(stream, topic, group);
        let body = self.call(codes::GET_CONSUMER_GROUP, |b| request.encode(b)).await?;
        optional(&body, GroupDetails::decode)
    }

    pub async fn create_group(
        &mut self,
        stream: &Identifier,
        topic: &Identifier,
        name: &str,
    ) -> Result<GroupDetails, ClientError> {
        let request = CreateConsumerGroup { stream: stream.clone(), topic: topic.clone(), name: name.to_owned() };
        let body = self.call(codes::CREATE_CONSUMER_GROUP, |b| request.encode(b)).await?;
        Ok(GroupDetails::decode(&body)?)
    }

    pub async fn delete_group(
        &mut self,
        stream: &Identifier,
        topic: &Identifier,
        group: &Identifier,
    ) -> Result<(), ClientError> {
        let request = group_ref(stream, topic, group);
        self.call(codes::DELETE_CONSUMER_GROUP, |b| request.encode(b)).await.map(drop)
    }

    pub async fn join_group(
        &mut self,
        stream: &Identifier,
        topic: &Identifier,
        group: &Identifier,
    ) -> Result<(), ClientError> {
        let request = group_ref(stream, topic, group);
        self.call(codes::JOIN_CONSUMER_GROUP, |b| request.encode(b)).await.map(drop)
    }

    pub async fn leave_group(
        &mut self,
        stream: &Identifier,
        topic: &Identifier,
        group: &Identifier,
    ) -> Result<(), ClientError> {
        let request = group_ref(stream, topic, group);
        self.call(codes::LEAVE_CONSUMER_GROUP, |b| request.encode(b)).await.map(drop)
    }

    // --- users, permissions, tokens ---------------------------------------------------------

    pub async fn users(&mut self) -> Result<Vec<UserInfo>, ClientError> {
        let body = self.call(codes::GET_USERS, |_| {}).await?;
        Ok(decode_users(&body, self.legacy())?)
    }

    pub async fn user(&mut self, user: &Identifier) -> Result<Option<UserDetails>, ClientError> {
        let request = UserRef { user: user.clone() };
        let body = self.call(codes::GET_USER, |b| request.encode(b)).await?;
        let legacy = self.legacy();
        optional(&body, |payload| UserDetails::decode(payload, legacy))
    }

    pub async fn create_user(&mut self, spec: &UserSpec) -> Result<UserDetails, ClientError> {
        let request = CreateUser {
            username: spec.username.clone(),
            password: spec.password.clone(),
            status: if spec.active { USER_STATUS_ACTIVE } else { USER_STATUS_INACTIVE },
            permissions: spec.permissions.clone(),
            options: Options::new(),
        };
        let body = self.call(codes::CREATE_USER, |b| request.encode(b)).await?;
        Ok(UserDetails::decode(&body, self.legacy())?)
    }

    pub async fn update_user(
        &mut self,
        user: &Identifier,
        username: Option<&str>,
        active: Option<bool>,
    ) -> Result<(), ClientError> {
        let request = UpdateUser {
            user: user.clone(),
            username: username.map(str::to_owned),
            status: active.map(|active| if active { USER_STATUS_ACTIVE } else { USER_STATUS_INACTIVE }),
            options: Options::new(),
        };
        self.call(codes::UPDATE_USER, |b| request.encode(b)).await.map(drop)
    }

    pub async fn delete_user(&mut self, user: &Identifier) -> Result<(), ClientError> {
        let request = UserRef { user: user.clone() };
        self.call(codes::DELETE_USER, |b| request.encode(b)).await.map(drop)
    }

    pub async fn change_password(&mut self, user: &Identifier, current: &str, new: &str) -> Result<(), ClientError> {
        let request =
            ChangePassword { user: user.clone(), current_password: current.to_owned(), new_password: new.to_owned() };
        self.call(codes::CHANGE_PASSWORD, |b| request.encode(b)).await.map(drop)
    }

    /// Replaces a user's permissions; `None` removes every grant.
    pub async fn update_permissions(
        &mut self,
        user: &Identifier,
        permissions: Option<Permissions>,
    ) -> Result<(), ClientError> {
        let request = UpdatePermissions { user: user.clone(), permissions };
        self.call(codes::UPDATE_PERMISSIONS, |b| request.encode(b)).await.map(drop)
    }

    pub async fn personal_access_tokens(&mut self) -> Result<Vec<PersonalAccessTokenInfo>, ClientError> {
        let body = self.call(codes::GET_PERSONAL_ACCESS_TOKENS, |_| {}).await?;
        Ok(decode_personal_access_tokens(&body)?)
    }

    /// Creates a token for the logged-in user and returns its secret (shown once).
    /// `expiry` is in microseconds; 0 = server default, `u64::MAX` = never.
    pub async fn create_personal_access_token(&mut self, name: &str, expiry: u64) -> Result<String, ClientError> {
        let request = CreatePersonalAccessToken { name: name.to_owned(), expiry };
        let body = self.call(codes::CREATE_PERSONAL_ACCESS_TOKEN, |b| request.encode(b)).await?;
        Ok(RawToken::decode(&body)?.token)
    }

    pub async fn delete_personal_access_token(&mut self, name: &str) -> Result<(), ClientError> {
        let request = DeletePersonalAccessToken { name: name.to_owned() };
        self.call(codes::DELETE_PERSONAL_ACCESS_TOKEN, |b| request.encode(b)).await.map(drop)
    }
}

fn group_ref(stream: &Identifier, topic: &Identifier, group: &Identifier) -> GroupRef {
    GroupRef { stream: stream.clone(), topic: topic.clone(), group: group.clone() }
}
