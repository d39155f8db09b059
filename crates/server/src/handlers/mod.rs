//! Commands: decode, check the session and the user's permissions, act on the replica, the
//! leader or the owning shard, and build the reply payload. Wire layouts live in
//! `whippet_protocol`; errors become Iggy status codes here. Both dialects share these
//! handlers: where their layouts differ, the session's dialect picks the codec.

mod groups;
mod messages;
mod snapshot;
mod streams;
mod system;
mod users;

use std::rc::Rc;

use bytes::BytesMut;
use whippet_metadata::{Metadata, Ref, Stream};
use whippet_protocol::codes;
use whippet_protocol::permissions::Action;
use whippet_protocol::status::ErrorCode;
use whippet_protocol::types::Identifier;
use whippet_protocol::vsr::EvictionReason;

use crate::connection::{Denied, Outcome, Reply, Session};
use crate::messages::{MetadataFailure, PartitionOutcome};
use crate::shard::Shard;

pub use users::{login_legacy, login_register};

/// Server version reported at login and in stats.
pub(crate) const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs one command (every code but the logins, which the connection routes itself).
pub async fn dispatch(shard: &Rc<Shard>, session: &mut Session, code: u32, body: BytesMut) -> Outcome {
    if code != codes::PING {
        if session.user_id.is_none() {
            return Err(ErrorCode::Unauthenticated.into());
        }
        // A user deleted or deactivated since login loses the session on its next request.
        if !session.user_still_active(shard) {
            tracing::info!(user = ?session.user_id, client = session.client_id, "session ended: user deleted or inactive");
            users::logout(shard, session);
            return Err(ErrorCode::Unauthenticated.into());
        }
    }
    let legacy = session.is_legacy();
    match code {
        codes::PING => Ok(Reply::default()),
        codes::GET_STATS => system::stats(shard, session),
        codes::GET_SNAPSHOT_FILE => snapshot::snapshot(shard, session, &body),
        codes::GET_CLUSTER_METADATA => Ok(system::cluster_metadata(shard)),
        codes::DESCRIBE_OPTIONS if !legacy => system::describe_options(&body),
        codes::GET_ME => Ok(system::me(shard, session)),
        codes::GET_CLIENT => system::get_client(shard, session, &body),
        codes::GET_CLIENTS => system::get_clients(shard, session),
        codes::LOGOUT_USER => Ok(users::logout(shard, session)),
        codes::GET_USER => users::get_user(shard, session, &body),
        codes::GET_USERS => users::get_users(shard, session),
        codes::CREATE_USER => users::create_user(shard, session, &body).await,
        codes::DELETE_USER => users::delete_user(shard, session, &body).await,
        codes::UPDATE_USER => users::update_user(shard, session, &body).await,
        codes::UPDATE_PERMISSIONS => users::update_permissions(shard, session, &body).await,
        codes::CHANGE_PASSWORD => users::change_password(shard, session, &body).await,
        codes::GET_PERSONAL_ACCESS_TOKENS => users::get_tokens(shard, session),
        codes::CREATE_PERSONAL_ACCESS_TOKEN => users::create_token(shard, session, &body).await,
        codes::DELETE_PERSONAL_ACCESS_TOKEN => users::delete_token(shard, session, &body).await,
        // The logins of the other dialect: a VSR client never sends them (trap 1).
        codes::LOGIN_USER
        | codes::LOGIN_WITH_PERSONAL_ACCESS_TOKEN
        | codes::LOGIN_REGISTER
        | codes::LOGIN_REGISTER_WITH_PAT => Err(Denied::Evict(EvictionReason::MalformedLogin, None)),
        codes::GET_STREAM => streams::get_stream(shard, session, &body),
        codes::GET_STREAMS => streams::get_streams(shard, session),
        codes::CREATE_STREAM => streams::create_stream(shard, session, &body).await,
        codes::DELETE_STREAM => streams::delete_stream(shard, session, &body).await,
        codes::UPDATE_STREAM => streams::update_stream(shard, session, &body).await,
        codes::PURGE_STREAM => streams::purge_stream(shard, session, &body).await,
        codes::GET_TOPIC => streams::get_topic(shard, session, &body),
        codes::GET_TOPICS => streams::get_topics(shard, session, &body),
        codes::CREATE_TOPIC => streams::create_topic(shard, session, &body).await,
        codes::DELETE_TOPIC => streams::delete_topic(shard, session, &body).await,
        codes::UPDATE_TOPIC => streams::update_topic(shard, session, &body).await,
        codes::PURGE_TOPIC => streams::purge_topic(shard, session, &body).await,
        codes::CREATE_PARTITIONS => streams::create_partitions(shard, session, &body).await,
        codes::DELETE_PARTITIONS => streams::delete_partitions(shard, session, &body).await,
        codes::DELETE_SEGMENTS => streams::delete_segments(shard, session, &body).await,
        codes::SEND_MESSAGES => messages::send(shard, session, body).await,
        codes::POLL_MESSAGES => messages::poll(shard, session, &body).await,
        codes::FLUSH_UNSAVED_BUFFER => messages::flush(shard, session, &body).await,
        codes::STORE_CONSUMER_OFFSET => messages::store_offset(shard, session, &body).await,
        codes::GET_CONSUMER_OFFSET => messages::get_offset(shard, session, &body).await,
        codes::DELETE_CONSUMER_OFFSET => messages::delete_offset(shard, session, &body).await,
        codes::GET_CONSUMER_GROUP => groups::get_group(shard, session, &body),
        codes::GET_CONSUMER_GROUPS => groups::get_groups(shard, session, &body),
        codes::CREATE_CONSUMER_GROUP => groups::create_group(shard, session, &body).await,
        codes::DELETE_CONSUMER_GROUP => groups::delete_group(shard, session, &body).await,
        codes::JOIN_CONSUMER_GROUP => groups::join_group(shard, session, &body).await,
        codes::LEAVE_CONSUMER_GROUP => groups::leave_group(shard, session, &body).await,
        codes::SYNC_CONSUMER_GROUP if !legacy => groups::sync_group(shard, session, &body),
        // The cluster-routing commands, used only with more than one node.
        other if codes::name_of(other).is_some() => Err(ErrorCode::FeatureUnavailable.into()),
        _ => Err(ErrorCode::InvalidCommand.into()),
    }
}

pub(crate) fn decoded<T>(result: Result<T, whippet_protocol::wire::DecodeError>) -> Result<T, Denied> {
    result.map_err(|error| Denied::Status(error.code()))
}

/// Unauthorized unless the session's user may do `action` (protocol.md §2.9).
pub(crate) fn authorize(shard: &Shard, session: &mut Session, action: Action) -> Result<(), Denied> {
    let allowed = session.permissions(shard).is_some_and(|permissions| permissions.allows(&action));
    if allowed {
        Ok(())
    } else {
        tracing::debug!(user = ?session.user_id, ?action, "unauthorized");
        Err(ErrorCode::Unauthorized.into())
    }
}

pub(crate) fn reference(identifier: &Identifier) -> Ref {
    match identifier {
        Identifier::Numeric(id) => Ref::Id(*id),
        Identifier::Name(name) => Ref::Name(name.clone()),
    }
}

pub(crate) fn find_stream<'a>(metadata: &'a Metadata, identifier: &Identifier) -> Option<&'a Stream> {
    metadata.stream(&reference(identifier)).ok()
}

pub(crate) fn metadata_denied(failure: MetadataFailure) -> Denied {
    tracing::debug!(code = failure.code, reason = %failure.reason, "metadata change refused");
    denied_code(failure.code)
}

pub(crate) fn denied_code(code: u32) -> Denied {
    Denied::Status(ErrorCode::from_u32(code).unwrap_or(ErrorCode::Error))
}

/// Resolves stream and topic identifiers to ids and the topic's partition count.
pub(crate) fn resolve_topic(shard: &Shard, stream: &Identifier, topic: &Identifier) -> Result<(u32, u32, u32), Denied> {
    shard.with_metadata(|m| {
        let stream_ref = reference(stream);
        let stream_id = m.stream(&stream_ref).map_err(|e| denied_code(e.iggy_code()))?.id;
        let topic = m.topic(&stream_ref, &reference(topic)).map_err(|e| denied_code(e.iggy_code()))?;
        Ok((stream_id, topic.id, topic.partitions_count))
    })
}

/// Resolves a stream identifier to its id.
pub(crate) fn resolve_stream(shard: &Shard, stream: &Identifier) -> Result<u32, Denied> {
    shard.with_metadata(|m| m.stream(&reference(stream)).map(|s| s.id).map_err(|e| denied_code(e.iggy_code())))
}

pub(crate) fn outcome_failure(outcome: PartitionOutcome) -> Denied {
    match outcome {
        PartitionOutcome::Failed { code, reason } => {
            tracing::debug!(code, %reason, "partition operation failed");
            denied_code(code)
        }
        other => {
            tracing::error!(?other, "unexpected partition outcome");
            Denied::Status(ErrorCode::Error)
        }
    }
}
