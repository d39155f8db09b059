//! Consumer-group payloads (protocol.md §5.8, §7.4, §7.5), identical in L and V except that
//! SYNC_CONSUMER_GROUP (606) exists only in V.
//!
//! CreateConsumerGroup carries no group id in either generation: SDK 0.10's
//! `CreateConsumerGroup::to_bytes` ([C10] `commands/consumer_groups/create_consumer_group.rs`)
//! and [P11] `requests/consumer_groups/create_consumer_group.rs` both write
//! `Id stream, Id topic, Name`, so one decoder serves both. Layouts of the replies follow
//! [P11] `responses/consumer_groups/*.rs`.

use bytes::{BufMut, BytesMut};

use crate::types::Identifier;
use crate::wire::{DecodeError, Reader, put_name, put_u32_length};

/// GET_CONSUMER_GROUP (600), DELETE (603), JOIN (604), LEAVE (605), SYNC (606):
/// `Id stream, Id topic, Id group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub stream: Identifier,
    pub topic: Identifier,
    pub group: Identifier,
}

impl GroupRef {
    pub fn decode(payload: &[u8]) -> Result<GroupRef, DecodeError> {
        let mut reader = Reader::new(payload);
        let stream = Identifier::read(&mut reader)?;
        let topic = Identifier::read(&mut reader)?;
        let group = Identifier::read(&mut reader)?;
        reader.finish()?;
        Ok(GroupRef { stream, topic, group })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.stream.encode(buffer);
        self.topic.encode(buffer);
        self.group.encode(buffer);
    }
}

/// GET_CONSUMER_GROUPS (601): `Id stream, Id topic`, the same body as GET_TOPIC.
pub type TopicGroupsRef = crate::requests::TopicRef;

/// CREATE_CONSUMER_GROUP (602): `Id stream, Id topic, Name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateConsumerGroup {
    pub stream: Identifier,
    pub topic: Identifier,
    pub name: String,
}

impl CreateConsumerGroup {
    pub fn decode(payload: &[u8]) -> Result<CreateConsumerGroup, DecodeError> {
        let mut reader = Reader::new(payload);
        let stream = Identifier::read(&mut reader)?;
        let topic = Identifier::read(&mut reader)?;
        let name = reader.name()?;
        reader.finish()?;
        Ok(CreateConsumerGroup { stream, topic, name })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.stream.encode(buffer);
        self.topic.encode(buffer);
        put_name(buffer, &self.name);
    }
}

/// GroupHeader (§7.4): `[id u32][partitions_count u32][members_count u32][Name]`. Also the
/// GET_CONSUMER_GROUPS element and, with no members, the L CREATE_CONSUMER_GROUP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub id: u32,
    /// Partitions of the topic the group reads.
    pub partitions_count: u32,
    pub members_count: u32,
    pub name: String,
}

impl GroupInfo {
    pub fn read(reader: &mut Reader<'_>) -> Result<GroupInfo, DecodeError> {
        Ok(GroupInfo {
            id: reader.u32()?,
            partitions_count: reader.u32()?,
            members_count: reader.u32()?,
            name: reader.name()?,
        })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u32_le(self.id);
        buffer.put_u32_le(self.partitions_count);
        buffer.put_u32_le(self.members_count);
        put_name(buffer, &self.name);
    }
}

/// One member of GroupDetails: `[member_id u32][partitions_count u32][partition_id u32 × n]`.
/// The member id is the server's client id for that member; the count is `partitions.len()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub id: u32,
    pub partitions: Vec<u32>,
}

impl GroupMember {
    fn read(reader: &mut Reader<'_>) -> Result<GroupMember, DecodeError> {
        let id = reader.u32()?;
        let partitions = read_partition_ids(reader)?;
        Ok(GroupMember { id, partitions })
    }

    fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u32_le(self.id);
        put_partition_ids(buffer, &self.partitions);
    }
}

/// GroupDetails (§7.5, GET_CONSUMER_GROUP and the V CREATE_CONSUMER_GROUP reply): the header,
/// then exactly `members_count` members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDetails {
    pub group: GroupInfo,
    pub members: Vec<GroupMember>,
}

impl GroupDetails {
    pub fn decode(payload: &[u8]) -> Result<GroupDetails, DecodeError> {
        let mut reader = Reader::new(payload);
        let group = GroupInfo::read(&mut reader)?;
        // The count is untrusted: grow as members actually decode instead of reserving it.
        let mut members = Vec::new();
        for _ in 0..group.members_count {
            members.push(GroupMember::read(&mut reader)?);
        }
        reader.finish()?;
        Ok(GroupDetails { group, members })
    }

    /// Panics when `group.members_count` disagrees with `members`: the SDK reads exactly that
    /// many, so such a reply would be garbage to it.
    pub fn encode(&self, buffer: &mut BytesMut) {
        assert_eq!(self.group.members_count as usize, self.members.len(), "members_count must match the members sent");
        self.group.encode(buffer);
        for member in &self.members {
            member.encode(buffer);
        }
    }
}

/// Writes the GET_CONSUMER_GROUPS reply: headers back to back, no count; empty = no groups.
pub fn encode_groups(groups: &[GroupInfo], buffer: &mut BytesMut) {
    for group in groups {
        group.encode(buffer);
    }
}

/// Reads a GET_CONSUMER_GROUPS reply until the body ends.
pub fn decode_groups(body: &[u8]) -> Result<Vec<GroupInfo>, DecodeError> {
    let mut reader = Reader::new(body);
    let mut groups = Vec::new();
    while reader.remaining() > 0 {
        groups.push(GroupInfo::read(&mut reader)?);
    }
    Ok(groups)
}

/// SYNC_CONSUMER_GROUP reply (606, V): `[generation u64][count u32][partition_id u32 × count]`,
/// the caller's assignment. An *empty* body means "not a member" (the SDK then raises
/// ConsumerGroupMemberNotFound); that is the caller's case to handle before decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSync {
    /// Bumped on every rebalance; the client re-syncs when it changes.
    pub generation: u64,
    pub partitions: Vec<u32>,
}

impl GroupSync {
    pub fn decode(payload: &[u8]) -> Result<GroupSync, DecodeError> {
        let mut reader = Reader::new(payload);
        let generation = reader.u64()?;
        let partitions = read_partition_ids(&mut reader)?;
        reader.finish()?;
        Ok(GroupSync { generation, partitions })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u64_le(self.generation);
        put_partition_ids(buffer, &self.partitions);
    }
}

/// `[count u32][u32 × count]`; the count is checked against the bytes left before anything
/// is allocated.
fn read_partition_ids(reader: &mut Reader<'_>) -> Result<Vec<u32>, DecodeError> {
    let count = reader.u32()? as usize;
    let ids = reader.bytes(count.saturating_mul(4))?;
    Ok(ids.chunks_exact(4).map(|id| u32::from_le_bytes([id[0], id[1], id[2], id[3]])).collect())
}

fn put_partition_ids(buffer: &mut BytesMut, ids: &[u32]) {
    put_u32_length(buffer, ids.len());
    for id in ids {
        buffer.put_u32_le(*id);
    }
}

#[cfg(test)]
mod tests;
