//! Client replies (§7.6, §7.7): GET_ME, GET_CLIENT, GET_CLIENTS.

use bytes::{BufMut, BytesMut};

use crate::wire::{DecodeError, Reader, put_long_text};

/// `user_id` of a connection that has not logged in.
pub const USER_ID_NONE: u32 = u32::MAX;
/// Transport codes: 1 TCP, 2 QUIC, 3 HTTP, 4 WebSocket.
pub const TRANSPORT_TCP: u8 = 1;

/// ClientHeader (§7.6): `[client_id u32][user_id u32][transport u8][address u32-prefixed]
/// [consumer_groups_count u32]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub client_id: u32,
    /// [`USER_ID_NONE`] when not logged in.
    pub user_id: u32,
    pub transport: u8,
    /// e.g. "127.0.0.1:50000".
    pub address: String,
    pub consumer_groups_count: u32,
}

impl ClientInfo {
    pub fn read(reader: &mut Reader<'_>) -> Result<ClientInfo, DecodeError> {
        Ok(ClientInfo {
            client_id: reader.u32()?,
            user_id: reader.u32()?,
            transport: reader.u8()?,
            address: reader.long_text()?,
            consumer_groups_count: reader.u32()?,
        })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u32_le(self.client_id);
        buffer.put_u32_le(self.user_id);
        buffer.put_u8(self.transport);
        put_long_text(buffer, &self.address);
        buffer.put_u32_le(self.consumer_groups_count);
    }
}

/// One group membership of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientGroup {
    pub stream_id: u32,
    pub topic_id: u32,
    pub group_id: u32,
}

/// ClientDetails (§7.7): the header, then exactly `consumer_groups_count` memberships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientDetails {
    pub client: ClientInfo,
    pub consumer_groups: Vec<ClientGroup>,
}

impl ClientDetails {
    pub fn decode(payload: &[u8]) -> Result<ClientDetails, DecodeError> {
        let mut reader = Reader::new(payload);
        let client = ClientInfo::read(&mut reader)?;
        let mut consumer_groups = Vec::new();
        for _ in 0..client.consumer_groups_count {
            consumer_groups.push(ClientGroup {
                stream_id: reader.u32()?,
                topic_id: reader.u32()?,
                group_id: reader.u32()?,
            });
        }
        reader.finish()?;
        Ok(ClientDetails { client, consumer_groups })
    }

    /// Panics when `client.consumer_groups_count` disagrees with `consumer_groups`: the SDK
    /// reads exactly that many.
    pub fn encode(&self, buffer: &mut BytesMut) {
        assert_eq!(
            self.client.consumer_groups_count as usize,
            self.consumer_groups.len(),
            "consumer_groups_count must match the groups sent"
        );
        self.client.encode(buffer);
        for group in &self.consumer_groups {
            buffer.put_u32_le(group.stream_id);
            buffer.put_u32_le(group.topic_id);
            buffer.put_u32_le(group.group_id);
        }
    }
}

/// Writes the GET_CLIENTS reply: client headers back to back, no count, no group lists.
pub fn encode_clients(clients: &[ClientInfo], buffer: &mut BytesMut) {
    for client in clients {
        client.encode(buffer);
    }
}

/// Reads a GET_CLIENTS reply until the body ends.
pub fn decode_clients(body: &[u8]) -> Result<Vec<ClientInfo>, DecodeError> {
    let mut reader = Reader::new(body);
    let mut clients = Vec::new();
    while reader.remaining() > 0 {
        clients.push(ClientInfo::read(&mut reader)?);
    }
    Ok(clients)
}
