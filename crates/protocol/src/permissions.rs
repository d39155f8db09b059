//! User permissions (protocol.md §2.9): the wire codec, identical in L and V, and the
//! authorization rules of Iggy's server permissioner, so a server can answer Unauthorized (41)
//! for exactly the requests Iggy refuses.
//!
//! Wire layout ([P11] `primitives/permissions.rs`):
//! `[10 × bool global][has_streams u8]` then per stream
//! `[stream_id u32][6 × bool][has_topics u8]{[topic_id u32][4 × bool][has_next_topic u8]}*[has_next_stream u8]`.
//! Every bool and every "has" byte reads as true when non-zero, as the SDK's `read_bool` does;
//! encoding writes 0 or 1.

use std::collections::BTreeMap;

use bytes::{BufMut, BytesMut};

use crate::wire::{DecodeError, Reader};

/// Server-wide grants, in wire order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct GlobalPermissions {
    pub manage_servers: bool,
    pub read_servers: bool,
    pub manage_users: bool,
    pub read_users: bool,
    pub manage_streams: bool,
    pub read_streams: bool,
    pub manage_topics: bool,
    pub read_topics: bool,
    pub poll_messages: bool,
    pub send_messages: bool,
}

/// Grants on one stream, in wire order, and on some of its topics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamPermissions {
    pub manage_stream: bool,
    pub read_stream: bool,
    pub manage_topics: bool,
    pub read_topics: bool,
    pub poll_messages: bool,
    pub send_messages: bool,
    /// By topic id. Sorted, so encoding is deterministic like Iggy's `BTreeMap`.
    pub topics: BTreeMap<u32, TopicPermissions>,
}

/// Grants on one topic, in wire order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TopicPermissions {
    pub manage_topic: bool,
    pub read_topic: bool,
    pub poll_messages: bool,
    pub send_messages: bool,
}

/// A user's permission set. A user stored with *no* permissions (the `has_permissions = 0`
/// form) is authorized exactly like `Permissions::default()`: Iggy's permissioner keeps no
/// entry for it, and every rule below then falls through to Unauthorized.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    pub global: GlobalPermissions,
    /// By stream id.
    pub streams: BTreeMap<u32, StreamPermissions>,
}

impl Permissions {
    /// Every global grant and no stream entries: Iggy's `Permissions::root()`, which the root
    /// user (id 0) holds.
    pub fn root() -> Permissions {
        let all = true;
        Permissions {
            global: GlobalPermissions {
                manage_servers: all,
                read_servers: all,
                manage_users: all,
                read_users: all,
                manage_streams: all,
                read_streams: all,
                manage_topics: all,
                read_topics: all,
                poll_messages: all,
                send_messages: all,
            },
            streams: BTreeMap::new(),
        }
    }

    /// Decodes a block that is exactly `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Permissions, DecodeError> {
        let mut reader = Reader::new(bytes);
        let permissions = Permissions::read(&mut reader)?;
        reader.finish()?;
        Ok(permissions)
    }

    /// Reads one block. A stream or topic id listed twice keeps its last entry, as the SDK's
    /// conversion into a map does. The loops end because every entry consumes input.
    pub fn read(reader: &mut Reader<'_>) -> Result<Permissions, DecodeError> {
        let global = GlobalPermissions::read(reader)?;
        let mut streams = BTreeMap::new();
        let mut has_next = read_bool(reader)?;
        while has_next {
            let stream_id = reader.u32()?;
            streams.insert(stream_id, StreamPermissions::read(reader)?);
            has_next = read_bool(reader)?;
        }
        Ok(Permissions { global, streams })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.global.encode(buffer);
        buffer.put_u8(u8::from(!self.streams.is_empty()));
        let last = self.streams.len();
        for (index, (stream_id, stream)) in self.streams.iter().enumerate() {
            buffer.put_u32_le(*stream_id);
            stream.encode(buffer);
            buffer.put_u8(u8::from(index + 1 < last));
        }
    }

    /// Bytes [`Permissions::encode`] writes, for the u32 length prefix that precedes the block.
    pub fn encoded_len(&self) -> usize {
        let streams: usize = self.streams.values().map(|stream| 4 + 6 + 1 + stream.topics.len() * 9 + 1).sum();
        10 + 1 + streams
    }

    /// Reads the request form `[has_permissions u8]{[length u32][Permissions]}` (CreateUser,
    /// UpdatePermissions). Only flag 1 means present and the length must equal the bytes the
    /// block decodes to, as [P11] `create_user.rs` / `update_permissions.rs` check.
    pub fn read_optional(reader: &mut Reader<'_>) -> Result<Option<Permissions>, DecodeError> {
        if reader.u8()? != 1 {
            return Ok(None);
        }
        let length = reader.u32()?;
        let start = reader.position();
        let permissions = Permissions::read(reader)?;
        if reader.position() - start != length as usize {
            return Err(DecodeError::InvalidLength { what: "permissions", value: u64::from(length) });
        }
        Ok(Some(permissions))
    }

    /// Writes the request form read by [`Permissions::read_optional`].
    pub fn put_optional(buffer: &mut BytesMut, permissions: Option<&Permissions>) {
        match permissions {
            None => buffer.put_u8(0),
            Some(permissions) => {
                buffer.put_u8(1);
                crate::wire::put_u32_length(buffer, permissions.encoded_len());
                permissions.encode(buffer);
            }
        }
    }
}

impl GlobalPermissions {
    fn read(reader: &mut Reader<'_>) -> Result<GlobalPermissions, DecodeError> {
        let flags = read_flags::<10>(reader)?;
        Ok(GlobalPermissions {
            manage_servers: flags[0],
            read_servers: flags[1],
            manage_users: flags[2],
            read_users: flags[3],
            manage_streams: flags[4],
            read_streams: flags[5],
            manage_topics: flags[6],
            read_topics: flags[7],
            poll_messages: flags[8],
            send_messages: flags[9],
        })
    }

    fn encode(&self, buffer: &mut BytesMut) {
        put_flags(
            buffer,
            [
                self.manage_servers,
                self.read_servers,
                self.manage_users,
                self.read_users,
                self.manage_streams,
                self.read_streams,
                self.manage_topics,
                self.read_topics,
                self.poll_messages,
                self.send_messages,
            ],
        );
    }
}

impl StreamPermissions {
    /// Reads the part after the stream id, up to and including the topic list.
    fn read(reader: &mut Reader<'_>) -> Result<StreamPermissions, DecodeError> {
        let flags = read_flags::<6>(reader)?;
        let mut topics = BTreeMap::new();
        let mut has_next = read_bool(reader)?;
        while has_next {
            let topic_id = reader.u32()?;
            let flags = read_flags::<4>(reader)?;
            let topic = TopicPermissions {
                manage_topic: flags[0],
                read_topic: flags[1],
                poll_messages: flags[2],
                send_messages: flags[3],
            };
            topics.insert(topic_id, topic);
            has_next = read_bool(reader)?;
        }
        Ok(StreamPermissions {
            manage_stream: flags[0],
            read_stream: flags[1],
            manage_topics: flags[2],
            read_topics: flags[3],
            poll_messages: flags[4],
            send_messages: flags[5],
            topics,
        })
    }

    fn encode(&self, buffer: &mut BytesMut) {
        put_flags(
            buffer,
            [
                self.manage_stream,
                self.read_stream,
                self.manage_topics,
                self.read_topics,
                self.poll_messages,
                self.send_messages,
            ],
        );
        buffer.put_u8(u8::from(!self.topics.is_empty()));
        let last = self.topics.len();
        for (index, (topic_id, topic)) in self.topics.iter().enumerate() {
            buffer.put_u32_le(*topic_id);
            put_flags(buffer, [topic.manage_topic, topic.read_topic, topic.poll_messages, topic.send_messages]);
            buffer.put_u8(u8::from(index + 1 < last));
        }
    }
}

fn read_bool(reader: &mut Reader<'_>) -> Result<bool, DecodeError> {
    Ok(reader.u8()? != 0)
}

fn read_flags<const N: usize>(reader: &mut Reader<'_>) -> Result<[bool; N], DecodeError> {
    Ok(reader.array::<N>()?.map(|byte| byte != 0))
}

fn put_flags<const N: usize>(buffer: &mut BytesMut, flags: [bool; N]) {
    for flag in flags {
        buffer.put_u8(u8::from(flag));
    }
}

mod authorization;

pub use authorization::Action;

#[cfg(test)]
pub(crate) mod tests;
