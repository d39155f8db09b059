//! What a client asks the metadata leader for, and [`Metadata::decide`], which turns a request
//! into the event that fulfils it or the reason it cannot.
//!
//! Only the leader (shard 0) decides, against its own state, one command at a time; other
//! shards forward their clients' commands to it. Deciding reads the state and never changes
//! it: the state changes when the event, now durable, is applied. A command's own fields are
//! checked first (names, counts, codes), then the objects it refers to, then conflicts.
//!
//! The server does the work that is not deterministic before it builds a command: it hashes
//! passwords and tokens, resolves a PAT's relative expiry to a timestamp, and parses the
//! client's options block into the typed topic fields.

use crate::error::{MetadataError, NameKind};
use crate::event::Event;
use crate::model::{
    Metadata, OPTIONS_MAX, PARTITIONS_MAX, PERSONAL_ACCESS_TOKENS_MAX, ROOT_USER_ID, Ref, USER_STATUS_ACTIVE,
    USER_STATUS_INACTIVE, smallest_free_id,
};

/// A change a client requests. Objects are named by [`Ref`], as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    CreateStream {
        name: String,
    },
    UpdateStream {
        stream: Ref,
        name: String,
    },
    DeleteStream {
        stream: Ref,
    },
    /// A `replication_factor` of 0 (what SDK 0.10 sends for "none") is stored as 1.
    CreateTopic {
        stream: Ref,
        name: String,
        partitions_count: u32,
        message_expiry: u64,
        max_topic_size: u64,
        compression: u8,
        replication_factor: u8,
        options: Vec<(String, String)>,
    },
    /// `None` leaves a field as it is; `options` are merged into the topic's, key by key.
    UpdateTopic {
        stream: Ref,
        topic: Ref,
        name: String,
        message_expiry: Option<u64>,
        max_topic_size: Option<u64>,
        compression: Option<u8>,
        replication_factor: Option<u8>,
        options: Vec<(String, String)>,
    },
    DeleteTopic {
        stream: Ref,
        topic: Ref,
    },
    /// Adds `count` partitions after the existing ones.
    CreatePartitions {
        stream: Ref,
        topic: Ref,
        count: u32,
    },
    /// Removes the last `count` partitions.
    DeletePartitions {
        stream: Ref,
        topic: Ref,
        count: u32,
    },
    CreateConsumerGroup {
        stream: Ref,
        topic: Ref,
        name: String,
    },
    DeleteConsumerGroup {
        stream: Ref,
        topic: Ref,
        group: Ref,
    },
    CreateUser {
        username: String,
        password_hash: String,
        status: u8,
        permissions: Option<Vec<u8>>,
    },
    UpdateUser {
        user: Ref,
        username: Option<String>,
        status: Option<u8>,
    },
    DeleteUser {
        user: Ref,
    },
    /// The server checked the current password before it sent this.
    ChangePassword {
        user: Ref,
        password_hash: String,
    },
    UpdatePermissions {
        user: Ref,
        permissions: Option<Vec<u8>>,
    },
    CreatePersonalAccessToken {
        user_id: u32,
        name: String,
        token_hash: String,
        /// µs timestamp; `None` = never expires.
        expiry_at: Option<u64>,
    },
    DeletePersonalAccessToken {
        user_id: u32,
        name: String,
    },
    JoinConsumerGroup {
        stream: Ref,
        topic: Ref,
        group: Ref,
        client_id: u32,
    },
    LeaveConsumerGroup {
        stream: Ref,
        topic: Ref,
        group: Ref,
        client_id: u32,
    },
    /// A client went away: it leaves every group it was in.
    ClientGone {
        client_id: u32,
    },
}

impl Metadata {
    /// The event that carries out `command` on this state, or why it cannot be.
    /// Ids are the smallest free ones; `now_micros` stamps what is created.
    pub fn decide(&self, command: &Command, now_micros: u64) -> Result<Event, MetadataError> {
        match command {
            Command::CreateStream { .. } | Command::UpdateStream { .. } | Command::DeleteStream { .. } => {
                self.decide_stream(command, now_micros)
            }
            Command::CreateTopic { .. } => self.decide_create_topic(command, now_micros),
            Command::UpdateTopic { .. } => self.decide_update_topic(command),
            Command::DeleteTopic { .. } | Command::CreatePartitions { .. } | Command::DeletePartitions { .. } => {
                self.decide_topic(command)
            }
            Command::CreateConsumerGroup { .. }
            | Command::DeleteConsumerGroup { .. }
            | Command::JoinConsumerGroup { .. }
            | Command::LeaveConsumerGroup { .. }
            | Command::ClientGone { .. } => self.decide_group(command),
            Command::CreateUser { .. }
            | Command::UpdateUser { .. }
            | Command::DeleteUser { .. }
            | Command::ChangePassword { .. }
            | Command::UpdatePermissions { .. } => self.decide_user(command, now_micros),
            Command::CreatePersonalAccessToken { .. } | Command::DeletePersonalAccessToken { .. } => {
                self.decide_token(command)
            }
        }
    }

    /// The event that creates the root user (id 0, active, every global permission), for the
    /// first start, when the log is empty.
    ///
    /// # Panics
    /// When the username is not a valid one or the hash is empty: both come from the
    /// server's configuration, not from a client.
    pub fn bootstrap_root(username: &str, password_hash: &str, now_micros: u64) -> Event {
        check_name(NameKind::User, username).expect("root username");
        assert!(!password_hash.is_empty(), "root password hash");
        Event::UserCreated {
            id: ROOT_USER_ID,
            username: username.to_owned(),
            password_hash: password_hash.to_owned(),
            status: USER_STATUS_ACTIVE,
            permissions: Some(root_permissions()),
            created_at: now_micros,
        }
    }

    fn decide_stream(&self, command: &Command, now_micros: u64) -> Result<Event, MetadataError> {
        match command {
            Command::CreateStream { name } => {
                check_name(NameKind::Stream, name)?;
                if self.stream_ids.contains_key(name) {
                    return Err(MetadataError::StreamNameAlreadyExists(name.clone()));
                }
                Ok(Event::StreamCreated {
                    id: smallest_free_id(&self.streams),
                    name: name.clone(),
                    created_at: now_micros,
                })
            }
            Command::UpdateStream { stream, name } => {
                check_name(NameKind::Stream, name)?;
                let id = self.stream(stream)?.id;
                match self.stream_ids.get(name) {
                    Some(other) if *other != id => Err(MetadataError::StreamNameAlreadyExists(name.clone())),
                    _ => Ok(Event::StreamUpdated { id, name: name.clone() }),
                }
            }
            Command::DeleteStream { stream } => Ok(Event::StreamDeleted { id: self.stream(stream)?.id }),
            _ => unreachable!("not a stream command"),
        }
    }

    fn decide_create_topic(&self, command: &Command, now_micros: u64) -> Result<Event, MetadataError> {
        let Command::CreateTopic {
            stream,
            name,
            partitions_count,
            message_expiry,
            max_topic_size,
            compression,
            replication_factor,
            options,
        } = command
        else {
            unreachable!("not CreateTopic")
        };
        check_name(NameKind::Topic, name)?;
        check_partitions(u64::from(*partitions_count))?;
        check_compression(*compression)?;
        check_options(options)?;
        let stream = self.stream(stream)?;
        if stream.topic_ids.contains_key(name) {
            return Err(MetadataError::TopicNameAlreadyExists { stream_id: stream.id, name: name.clone() });
        }
        Ok(Event::TopicCreated {
            stream_id: stream.id,
            id: smallest_free_id(&stream.topics),
            name: name.clone(),
            partitions_count: *partitions_count,
            message_expiry: *message_expiry,
            max_topic_size: *max_topic_size,
            compression: *compression,
            replication_factor: (*replication_factor).max(1),
            options: options.clone(),
            created_at: now_micros,
        })
    }

    fn decide_update_topic(&self, command: &Command) -> Result<Event, MetadataError> {
        let Command::UpdateTopic {
            stream,
            topic,
            name,
            message_expiry,
            max_topic_size,
            compression,
            replication_factor,
            options,
        } = command
        else {
            unreachable!("not UpdateTopic")
        };
        check_name(NameKind::Topic, name)?;
        if let Some(compression) = compression {
            check_compression(*compression)?;
        }
        let stream = self.stream(stream)?;
        let current = stream.topic(topic)?;
        if matches!(stream.topic_ids.get(name), Some(other) if *other != current.id) {
            return Err(MetadataError::TopicNameAlreadyExists { stream_id: stream.id, name: name.clone() });
        }
        let mut merged = current.options.clone();
        for (key, value) in options {
            match merged.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1.clone_from(value),
                None => merged.push((key.clone(), value.clone())),
            }
        }
        check_options(&merged)?;
        Ok(Event::TopicUpdated {
            stream_id: stream.id,
            id: current.id,
            name: name.clone(),
            message_expiry: message_expiry.unwrap_or(current.message_expiry),
            max_topic_size: max_topic_size.unwrap_or(current.max_topic_size),
            compression: compression.unwrap_or(current.compression),
            replication_factor: replication_factor.map_or(current.replication_factor, |factor| factor.max(1)),
            options: merged,
        })
    }

    fn decide_topic(&self, command: &Command) -> Result<Event, MetadataError> {
        match command {
            Command::DeleteTopic { stream, topic } => {
                let stream = self.stream(stream)?;
                Ok(Event::TopicDeleted { stream_id: stream.id, id: stream.topic(topic)?.id })
            }
            Command::CreatePartitions { stream, topic, count } => {
                check_partitions_delta(*count)?;
                let stream = self.stream(stream)?;
                let topic = stream.topic(topic)?;
                check_partitions(u64::from(topic.partitions_count) + u64::from(*count))?;
                Ok(Event::PartitionsCreated { stream_id: stream.id, topic_id: topic.id, count: *count })
            }
            Command::DeletePartitions { stream, topic, count } => {
                check_partitions_delta(*count)?;
                let stream = self.stream(stream)?;
                let topic = stream.topic(topic)?;
                if *count > topic.partitions_count {
                    return Err(MetadataError::InvalidPartitionsCount(*count));
                }
                Ok(Event::PartitionsDeleted { stream_id: stream.id, topic_id: topic.id, count: *count })
            }
            _ => unreachable!("not a topic command"),
        }
    }

    fn decide_group(&self, command: &Command) -> Result<Event, MetadataError> {
        match command {
            Command::CreateConsumerGroup { stream, topic, name } => {
                check_name(NameKind::ConsumerGroup, name)?;
                let stream = self.stream(stream)?;
                let topic = stream.topic(topic)?;
                if topic.group_ids.contains_key(name) {
                    let (stream_id, topic_id) = (stream.id, topic.id);
                    return Err(MetadataError::ConsumerGroupNameAlreadyExists {
                        stream_id,
                        topic_id,
                        name: name.clone(),
                    });
                }
                let id = smallest_free_id(&topic.consumer_groups);
                Ok(Event::ConsumerGroupCreated { stream_id: stream.id, topic_id: topic.id, id, name: name.clone() })
            }
            Command::DeleteConsumerGroup { stream, topic, group } => {
                let stream = self.stream(stream)?;
                let topic = stream.topic(topic)?;
                let id = topic.consumer_group(stream.id, group)?.id;
                Ok(Event::ConsumerGroupDeleted { stream_id: stream.id, topic_id: topic.id, id })
            }
            Command::JoinConsumerGroup { stream, topic, group, client_id } => {
                let stream = self.stream(stream)?;
                let topic = stream.topic(topic)?;
                let group = topic.consumer_group(stream.id, group)?;
                if group.members.contains(client_id) {
                    return Err(MetadataError::AlreadyMember { group_id: group.id, client_id: *client_id });
                }
                let (stream_id, topic_id, group_id) = (stream.id, topic.id, group.id);
                Ok(Event::ConsumerGroupMemberJoined { stream_id, topic_id, group_id, client_id: *client_id })
            }
            Command::LeaveConsumerGroup { stream, topic, group, client_id } => {
                let stream = self.stream(stream)?;
                let topic = stream.topic(topic)?;
                let group = topic.consumer_group(stream.id, group)?;
                if !group.members.contains(client_id) {
                    return Err(MetadataError::NotMember { group_id: group.id, client_id: *client_id });
                }
                let (stream_id, topic_id, group_id) = (stream.id, topic.id, group.id);
                Ok(Event::ConsumerGroupMemberLeft { stream_id, topic_id, group_id, client_id: *client_id })
            }
            Command::ClientGone { client_id } => {
                if self.memberships(*client_id).is_empty() {
                    return Err(MetadataError::NotMember { group_id: u32::MAX, client_id: *client_id });
                }
                Ok(Event::ClientGone { client_id: *client_id })
            }
            _ => unreachable!("not a consumer group command"),
        }
    }

    fn decide_user(&self, command: &Command, now_micros: u64) -> Result<Event, MetadataError> {
        match command {
            Command::CreateUser { username, password_hash, status, permissions } => {
                check_name(NameKind::User, username)?;
                check_status(*status)?;
                if password_hash.is_empty() {
                    return Err(MetadataError::InvalidPasswordHash);
                }
                if self.user_ids.contains_key(username) {
                    return Err(MetadataError::UserAlreadyExists(username.clone()));
                }
                Ok(Event::UserCreated {
                    id: smallest_free_id(&self.users),
                    username: username.clone(),
                    password_hash: password_hash.clone(),
                    status: *status,
                    permissions: permissions.clone(),
                    created_at: now_micros,
                })
            }
            Command::UpdateUser { user, username, status } => {
                self.decide_update_user(user, username.as_deref(), *status)
            }
            Command::DeleteUser { user } => match self.user(user)?.id {
                ROOT_USER_ID => Err(MetadataError::CannotDeleteRoot(ROOT_USER_ID)),
                id => Ok(Event::UserDeleted { id }),
            },
            Command::ChangePassword { user, password_hash } => {
                if password_hash.is_empty() {
                    return Err(MetadataError::InvalidPasswordHash);
                }
                Ok(Event::PasswordChanged { id: self.user(user)?.id, password_hash: password_hash.clone() })
            }
            Command::UpdatePermissions { user, permissions } => match self.user(user)?.id {
                ROOT_USER_ID => Err(MetadataError::CannotChangeRootPermissions(ROOT_USER_ID)),
                id => Ok(Event::PermissionsUpdated { id, permissions: permissions.clone() }),
            },
            _ => unreachable!("not a user command"),
        }
    }

    fn decide_update_user(
        &self,
        user: &Ref,
        username: Option<&str>,
        status: Option<u8>,
    ) -> Result<Event, MetadataError> {
        if let Some(username) = username {
            check_name(NameKind::User, username)?;
        }
        if let Some(status) = status {
            check_status(status)?;
        }
        let current = self.user(user)?;
        let username = username.unwrap_or(&current.username);
        if matches!(self.user_ids.get(username), Some(other) if *other != current.id) {
            return Err(MetadataError::UserAlreadyExists(username.to_owned()));
        }
        Ok(Event::UserUpdated {
            id: current.id,
            username: username.to_owned(),
            status: status.unwrap_or(current.status),
        })
    }

    fn decide_token(&self, command: &Command) -> Result<Event, MetadataError> {
        match command {
            Command::CreatePersonalAccessToken { user_id, name, token_hash, expiry_at } => {
                check_name(NameKind::PersonalAccessToken, name)?;
                let user = self.user(&Ref::Id(*user_id))?;
                if user.personal_access_tokens.contains_key(name) {
                    return Err(MetadataError::PersonalAccessTokenAlreadyExists {
                        user_id: *user_id,
                        name: name.clone(),
                    });
                }
                if user.personal_access_tokens.len() >= PERSONAL_ACCESS_TOKENS_MAX {
                    let max_count = PERSONAL_ACCESS_TOKENS_MAX;
                    return Err(MetadataError::PersonalAccessTokensLimitReached { user_id: *user_id, max_count });
                }
                Ok(Event::PersonalAccessTokenCreated {
                    user_id: *user_id,
                    name: name.clone(),
                    token_hash: token_hash.clone(),
                    expiry_at: *expiry_at,
                })
            }
            Command::DeletePersonalAccessToken { user_id, name } => {
                let user = self.user(&Ref::Id(*user_id))?;
                if !user.personal_access_tokens.contains_key(name) {
                    return Err(MetadataError::PersonalAccessTokenNotFound { user_id: *user_id, name: name.clone() });
                }
                Ok(Event::PersonalAccessTokenDeleted { user_id: *user_id, name: name.clone() })
            }
            _ => unreachable!("not a personal access token command"),
        }
    }
}

/// Every global permission granted, no per-stream ones (protocol.md §2.9).
pub fn root_permissions() -> Vec<u8> {
    let mut permissions = vec![1u8; 10];
    permissions.push(0);
    permissions
}

fn check_name(kind: NameKind, name: &str) -> Result<(), MetadataError> {
    let (min_bytes, max_bytes) = kind.bounds_bytes();
    if (min_bytes..=max_bytes).contains(&name.len()) {
        Ok(())
    } else {
        Err(MetadataError::InvalidName { kind, length_bytes: name.len() })
    }
}

fn check_partitions(total: u64) -> Result<(), MetadataError> {
    if total > u64::from(PARTITIONS_MAX) {
        return Err(MetadataError::TooManyPartitions { requested: total, max_count: PARTITIONS_MAX });
    }
    Ok(())
}

fn check_partitions_delta(count: u32) -> Result<(), MetadataError> {
    if count == 0 {
        return Err(MetadataError::InvalidPartitionsCount(count));
    }
    check_partitions(u64::from(count))
}

fn check_compression(compression: u8) -> Result<(), MetadataError> {
    if matches!(compression, 1 | 2) { Ok(()) } else { Err(MetadataError::InvalidCompression(compression)) }
}

fn check_options(options: &[(String, String)]) -> Result<(), MetadataError> {
    if options.len() > OPTIONS_MAX { Err(MetadataError::TooManyOptions(options.len())) } else { Ok(()) }
}

fn check_status(status: u8) -> Result<(), MetadataError> {
    if matches!(status, USER_STATUS_ACTIVE | USER_STATUS_INACTIVE) {
        Ok(())
    } else {
        Err(MetadataError::InvalidUserStatus(status))
    }
}
