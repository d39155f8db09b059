//! Consumer groups. Membership goes through the metadata leader, so every shard computes the
//! same assignment: partition `p` belongs to the member at `p % members` in join order.

use std::rc::Rc;

use whippet_metadata::{Command, ConsumerGroup, MetadataError, Ref};
use whippet_protocol::groups::{CreateConsumerGroup, GroupDetails, GroupInfo, GroupMember, GroupRef, GroupSync};
use whippet_protocol::permissions::Action;
use whippet_protocol::requests::TopicRef;
use whippet_protocol::status::ErrorCode;

use super::{authorize, decoded, metadata_denied, reference, resolve_topic};
use crate::connection::{Denied, Outcome, Reply, Session};
use crate::shard::Shard;

fn header(group: &ConsumerGroup, partitions_count: u32) -> GroupInfo {
    GroupInfo { id: group.id, partitions_count, members_count: group.members.len() as u32, name: group.name.clone() }
}

fn details(group: &ConsumerGroup, partitions_count: u32) -> GroupDetails {
    let members = group
        .members
        .iter()
        .map(|member| GroupMember { id: *member, partitions: group.assignment(*member, partitions_count) })
        .collect();
    GroupDetails { group: header(group, partitions_count), members }
}

/// Resolves a group request to (stream, topic, partitions_count, group) ids; `Ok(None)` when
/// the group does not exist.
fn find_group(shard: &Shard, request: &GroupRef) -> Result<Option<(u32, u32, u32, u32)>, Denied> {
    let (stream, topic, partitions) = resolve_topic(shard, &request.stream, &request.topic)?;
    Ok(shard.with_metadata(|m| {
        let topic_meta = m.streams().get(&stream)?.topics.get(&topic)?;
        let group = topic_meta.consumer_group(stream, &reference(&request.group)).ok()?;
        Some((stream, topic, partitions, group.id))
    }))
}

fn with_group<T>(shard: &Shard, ids: (u32, u32, u32), read: impl FnOnce(&ConsumerGroup) -> T) -> Option<T> {
    let (stream, topic, group) = ids;
    shard.with_metadata(|m| m.streams().get(&stream)?.topics.get(&topic)?.consumer_groups.get(&group).map(read))
}

pub fn get_group(shard: &Shard, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(GroupRef::decode(body))?;
    let Ok(Some((stream, topic, partitions, group))) = find_group(shard, &request) else {
        // Not found is an empty success body (trap 8).
        return Ok(Reply::default());
    };
    authorize(shard, session, Action::GetConsumerGroup { stream, topic })?;
    let mut reply = Reply::default();
    if let Some(details) = with_group(shard, (stream, topic, group), |g| details(g, partitions)) {
        details.encode(&mut reply.body);
    }
    Ok(reply)
}

pub fn get_groups(shard: &Shard, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(TopicRef::decode(body))?;
    let Ok((stream, topic, partitions)) = resolve_topic(shard, &request.stream, &request.topic) else {
        return Ok(Reply::default());
    };
    authorize(shard, session, Action::GetConsumerGroups { stream, topic })?;
    let mut reply = Reply::default();
    shard.with_metadata(|m| {
        if let Some(t) = m.streams().get(&stream).and_then(|s| s.topics.get(&topic)) {
            for group in t.consumer_groups.values() {
                header(group, partitions).encode(&mut reply.body);
            }
        }
    });
    Ok(reply)
}

pub async fn create_group(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(CreateConsumerGroup::decode(body))?;
    let (stream, topic, partitions) = resolve_topic(shard, &request.stream, &request.topic)?;
    authorize(shard, session, Action::CreateConsumerGroup { stream, topic })?;
    let command =
        Command::CreateConsumerGroup { stream: Ref::Id(stream), topic: Ref::Id(topic), name: request.name.clone() };
    shard.change_metadata(command).await.map_err(metadata_denied)?;
    let mut reply = Reply::default();
    let created = shard.with_metadata(|m| {
        let t = m.streams().get(&stream)?.topics.get(&topic)?;
        t.consumer_group_by_name(&request.name).map(|g| details(g, partitions))
    });
    let Some(created) = created else { return Err(ErrorCode::Error.into()) };
    if session.is_legacy() {
        // Legacy clients read the header and decode it as details with no members.
        created.group.encode(&mut reply.body);
    } else {
        created.encode(&mut reply.body);
    }
    Ok(reply)
}

pub async fn delete_group(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(GroupRef::decode(body))?;
    let (stream, topic, _) = resolve_topic(shard, &request.stream, &request.topic)?;
    authorize(shard, session, Action::DeleteConsumerGroup { stream, topic })?;
    let command = Command::DeleteConsumerGroup {
        stream: Ref::Id(stream),
        topic: Ref::Id(topic),
        group: reference(&request.group),
    };
    shard.change_metadata(command).await.map_err(metadata_denied)?;
    Ok(Reply::default())
}

pub async fn join_group(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(GroupRef::decode(body))?;
    let (stream, topic, _) = resolve_topic(shard, &request.stream, &request.topic)?;
    authorize(shard, session, Action::JoinConsumerGroup { stream, topic })?;
    let command = Command::JoinConsumerGroup {
        stream: Ref::Id(stream),
        topic: Ref::Id(topic),
        group: reference(&request.group),
        client_id: session.client_id,
    };
    match shard.change_metadata(command).await {
        Ok(_) => Ok(Reply::default()),
        // Joining twice is not an error in Iggy.
        Err(failure) if failure.code == MetadataError::AlreadyMember { group_id: 0, client_id: 0 }.iggy_code() => {
            Ok(Reply::default())
        }
        Err(failure) => Err(metadata_denied(failure)),
    }
}

pub async fn leave_group(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(GroupRef::decode(body))?;
    let (stream, topic, _) = resolve_topic(shard, &request.stream, &request.topic)?;
    authorize(shard, session, Action::LeaveConsumerGroup { stream, topic })?;
    let command = Command::LeaveConsumerGroup {
        stream: Ref::Id(stream),
        topic: Ref::Id(topic),
        group: reference(&request.group),
        client_id: session.client_id,
    };
    shard.change_metadata(command).await.map_err(metadata_denied)?;
    Ok(Reply::default())
}

/// SYNC_CONSUMER_GROUP (606): the caller's assignment, or an empty body when it is not a
/// member (the SDK then reports ConsumerGroupMemberNotFound itself).
pub fn sync_group(shard: &Shard, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(GroupRef::decode(body))?;
    let Some((stream, topic, partitions, group)) = find_group(shard, &request)? else {
        return Err(ErrorCode::ConsumerGroupIdNotFound.into());
    };
    authorize(shard, session, Action::SyncConsumerGroup { stream, topic })?;
    let client = session.client_id;
    let sync = with_group(shard, (stream, topic, group), |g| {
        g.members
            .contains(&client)
            .then(|| GroupSync { generation: g.generation, partitions: g.assignment(client, partitions) })
    })
    .flatten();
    let mut reply = Reply::default();
    if let Some(sync) = sync {
        sync.encode(&mut reply.body);
    }
    Ok(reply)
}
