//! Reply payloads of protocol 0.11 (protocol.md §5, §7), as plain data structs with an
//! encoder for the server and a decoder for our client.
//!
//! None of these include the result section: for result-framed operations
//! (`vsr::Operation::is_result_framed`) the server writes [`result_prefix_ok`] first, then the
//! payload, generically. GET-style "not found" is an empty body (trap 8), not an error.

use bytes::{BufMut, BytesMut};

use crate::status::ErrorCode;
use crate::wire::{DecodeError, Reader, put_long_text, put_name, put_u32_length};

mod clients;
mod streams;

pub use clients::{
    ClientDetails, ClientGroup, ClientInfo, TRANSPORT_TCP, USER_ID_NONE, decode_clients, encode_clients,
};
pub use streams::{
    COMPRESSION_GZIP, COMPRESSION_NONE, PartitionInfo, StreamDetails, StreamInfo, TopicDetails, TopicInfo,
    decode_streams, decode_topics, encode_streams, encode_topics,
};

/// Writes the success result section of a result-framed reply: `[count u32 = 0]`. A
/// successful metadata op with no payload still needs these 4 bytes (trap 5).
pub fn result_prefix_ok(buffer: &mut BytesMut) {
    buffer.put_u32_le(0);
}

/// Writes a rejection as a result section, `[count 1][index 0][code]`: the status-0 way of
/// reporting a business error on a result-framed op (the other way is a non-zero status with
/// an empty body; the SDK reads both the same).
pub fn result_error(buffer: &mut BytesMut, code: ErrorCode) {
    buffer.put_u32_le(1);
    buffer.put_u32_le(0);
    buffer.put_u32_le(code.as_u32());
}

/// A result-framed reply body, split as the SDK splits it (`split_metadata_result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultSection<'a> {
    /// `count == 0`: the typed payload follows.
    Ok(&'a [u8]),
    /// `count >= 1`: the first entry's result code.
    Rejected(u32),
}

/// Splits a result-framed reply body. A body too short for its section is a decode error
/// (the SDK reports InvalidCommand for it).
pub fn split_result(body: &[u8]) -> Result<ResultSection<'_>, DecodeError> {
    let mut reader = Reader::new(body);
    let count = reader.u32()?;
    if count == 0 {
        return Ok(ResultSection::Ok(reader.rest()));
    }
    let _index = reader.u32()?;
    Ok(ResultSection::Rejected(reader.u32()?))
}

/// The LOGIN_REGISTER / LOGIN_REGISTER_WITH_PAT success payload (§5.2), after the result
/// prefix: `[user_id u32][session u64][server_protocol_version u32][Name server_version]`.
/// `session` must not be 0: the SDK refuses such a login with InvalidSession (trap 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginReply {
    pub user_id: u32,
    pub session: u64,
    pub server_protocol_version: u32,
    pub server_version: String,
}

impl LoginReply {
    pub fn decode(payload: &[u8]) -> Result<LoginReply, DecodeError> {
        let mut reader = Reader::new(payload);
        let reply = LoginReply {
            user_id: reader.u32()?,
            session: reader.u64()?,
            server_protocol_version: reader.u32()?,
            server_version: reader.name()?,
        };
        reader.finish()?;
        Ok(reply)
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u32_le(self.user_id);
        buffer.put_u64_le(self.session);
        buffer.put_u32_le(self.server_protocol_version);
        put_name(buffer, &self.server_version);
    }
}

/// Size of the poll reply prefix.
pub const POLL_PREFIX_SIZE: usize = 16;
/// Partition id of an empty poll that tells a group member to re-sync (606) and retry.
pub const RESYNC_REQUIRED_PARTITION: u32 = u32::MAX;

/// The 16 bytes that start every POLL_MESSAGES reply, followed by zero or more batch records
/// (§6.1). Never send an empty poll body: both SDKs need the prefix (trap 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollReplyPrefix {
    pub partition_id: u32,
    pub current_offset: u64,
    /// Total messages in the records that follow.
    pub messages_count: u32,
}

impl PollReplyPrefix {
    /// Reads the prefix and returns it with the record bytes that follow.
    pub fn decode(body: &[u8]) -> Result<(PollReplyPrefix, &[u8]), DecodeError> {
        let mut reader = Reader::new(body);
        let prefix = PollReplyPrefix {
            partition_id: reader.u32()?,
            current_offset: reader.u64()?,
            messages_count: reader.u32()?,
        };
        Ok((prefix, reader.rest()))
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u32_le(self.partition_id);
        buffer.put_u64_le(self.current_offset);
        buffer.put_u32_le(self.messages_count);
    }
}

/// One entry of the SEND_MESSAGES reply (§7.11): where the batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendConfirmation {
    pub stream_id: u32,
    pub topic_id: u32,
    pub partition_id: u32,
    /// Offset given to the first message.
    pub base_offset: u64,
}

const CONFIRMATION_SIZE: usize = 20;

/// Writes the SEND_MESSAGES reply: `[count u32]` then 20-byte confirmations.
pub fn encode_send_confirmations(confirmations: &[SendConfirmation], buffer: &mut BytesMut) {
    put_u32_length(buffer, confirmations.len());
    for confirmation in confirmations {
        buffer.put_u32_le(confirmation.stream_id);
        buffer.put_u32_le(confirmation.topic_id);
        buffer.put_u32_le(confirmation.partition_id);
        buffer.put_u64_le(confirmation.base_offset);
    }
}

/// Reads a SEND_MESSAGES reply; an empty body, which the SDK also accepts, reads as none.
pub fn decode_send_confirmations(body: &[u8]) -> Result<Vec<SendConfirmation>, DecodeError> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let mut reader = Reader::new(body);
    let count = reader.u32()? as usize;
    let needed = count.saturating_mul(CONFIRMATION_SIZE);
    if needed != reader.remaining() {
        return Err(exact_length_error(needed, reader.remaining()));
    }
    let mut confirmations = Vec::with_capacity(count);
    for _ in 0..count {
        confirmations.push(SendConfirmation {
            stream_id: reader.u32()?,
            topic_id: reader.u32()?,
            partition_id: reader.u32()?,
            base_offset: reader.u64()?,
        });
    }
    reader.finish()?;
    Ok(confirmations)
}

/// GET_CONSUMER_OFFSET reply (§7.3), 20 bytes; an empty body means no stored offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerOffsetInfo {
    pub partition_id: u32,
    /// The partition's latest offset.
    pub current_offset: u64,
    /// The consumer's committed offset.
    pub stored_offset: u64,
}

impl ConsumerOffsetInfo {
    pub fn decode(payload: &[u8]) -> Result<ConsumerOffsetInfo, DecodeError> {
        let mut reader = Reader::new(payload);
        let info = ConsumerOffsetInfo {
            partition_id: reader.u32()?,
            current_offset: reader.u64()?,
            stored_offset: reader.u64()?,
        };
        reader.finish()?;
        Ok(info)
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u32_le(self.partition_id);
        buffer.put_u64_le(self.current_offset);
        buffer.put_u64_le(self.stored_offset);
    }
}

/// Node role of the leader.
pub const ROLE_LEADER: u8 = 0;
/// Node status of a healthy node.
pub const STATUS_HEALTHY: u8 = 0;
const ROLE_MAX: u8 = 1;
/// Statuses 0..=4; 5 (Unknown) is refused by the SDK decoder.
const STATUS_MAX: u8 = 4;

/// GET_CLUSTER_METADATA reply (§7.10). A single-node server must list exactly one node,
/// Leader and Healthy (trap 7): more nodes switch the SDK to cluster routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    pub name: String,
    pub nodes: Vec<ClusterNode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    pub name: String,
    pub ip: String,
    pub tcp_port: u16,
    pub quic_port: u16,
    pub http_port: u16,
    pub websocket_port: u16,
    /// 0 Leader, 1 Follower.
    pub role: u8,
    /// 0 Healthy, 1 Starting, 2 Stopping, 3 Unreachable, 4 Maintenance.
    pub status: u8,
}

impl ClusterMetadata {
    /// The one-node roster a single-node server answers with: Leader, Healthy, TCP only.
    pub fn single_node(cluster: &str, node: &str, ip: &str, tcp_port: u16) -> ClusterMetadata {
        ClusterMetadata {
            name: cluster.to_owned(),
            nodes: vec![ClusterNode {
                name: node.to_owned(),
                ip: ip.to_owned(),
                tcp_port,
                quic_port: 0,
                http_port: 0,
                websocket_port: 0,
                role: ROLE_LEADER,
                status: STATUS_HEALTHY,
            }],
        }
    }

    pub fn decode(payload: &[u8]) -> Result<ClusterMetadata, DecodeError> {
        let mut reader = Reader::new(payload);
        let name = reader.long_text()?;
        let count = reader.u32()?;
        // The count is untrusted: grow as nodes actually decode instead of reserving it.
        let mut nodes = Vec::new();
        for _ in 0..count {
            nodes.push(ClusterNode::read(&mut reader)?);
        }
        reader.finish()?;
        Ok(ClusterMetadata { name, nodes })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        put_long_text(buffer, &self.name);
        put_u32_length(buffer, self.nodes.len());
        for node in &self.nodes {
            node.encode(buffer);
        }
    }
}

impl ClusterNode {
    fn read(reader: &mut Reader<'_>) -> Result<ClusterNode, DecodeError> {
        let node = ClusterNode {
            name: reader.long_text()?,
            ip: reader.long_text()?,
            tcp_port: reader.u16()?,
            quic_port: reader.u16()?,
            http_port: reader.u16()?,
            websocket_port: reader.u16()?,
            role: reader.u8()?,
            status: reader.u8()?,
        };
        if node.role > ROLE_MAX {
            return Err(DecodeError::InvalidKind { what: "node role", value: node.role });
        }
        if node.status > STATUS_MAX {
            return Err(DecodeError::InvalidKind { what: "node status", value: node.status });
        }
        Ok(node)
    }

    fn encode(&self, buffer: &mut BytesMut) {
        put_long_text(buffer, &self.name);
        put_long_text(buffer, &self.ip);
        buffer.put_u16_le(self.tcp_port);
        buffer.put_u16_le(self.quic_port);
        buffer.put_u16_le(self.http_port);
        buffer.put_u16_le(self.websocket_port);
        buffer.put_u8(self.role);
        buffer.put_u8(self.status);
    }
}

/// The error for a body whose length disagrees with its count.
fn exact_length_error(needed: usize, available: usize) -> DecodeError {
    if needed > available {
        DecodeError::Truncated { needed, available }
    } else {
        DecodeError::TrailingBytes { count: available - needed }
    }
}

#[cfg(test)]
mod tests;
