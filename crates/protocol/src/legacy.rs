//! The legacy dialect: length/code framing and the payloads that differ from protocol 0.11,
//! as spoken by Rust SDK iggy ≤ 0.10.0, Python apache-iggy ≤ 0.8.0, the 0.8.0 Go/Java/C#/Node
//! SDKs and server ≤ 0.8 (protocol.md §3.2, §5 "L" columns, §6.2, §7, §10.2).
//!
//! Everything the two dialects share (identifiers, consumers, partitioning, polling strategy,
//! PollMessages, GetConsumerOffset, groups, partitions, PATs, stats, cluster metadata) is
//! decoded with [`crate::requests`] / [`crate::responses`] as is; this module holds only
//! what differs:
//!
//! - [`framing`]: `[length u32][code u32]` requests, `[status u32][length u32]` responses.
//! - [`requests`]: the L bodies of CreateStream, UpdateStream, CreateTopic, UpdateTopic and the
//!   ack-less Store/DeleteConsumerOffset.
//! - [`responses`]: stream and topic headers without option blocks, the topic header's
//!   replication factor, GET_TOPICS without a count, the `[user_id u32]` login reply.
//! - [`messages`]: the index block + 64-byte message format, converted to and from the 0.11
//!   batch record, which is the only format Whippet stores.

pub mod framing;
pub mod messages;
pub mod requests;
pub mod responses;

pub use framing::{
    FrameError, LegacyRequestHeader, LegacyResponseHeader, MAX_CONTROL_PAYLOAD_SIZE, encode_error_header,
    encode_ok_header, encode_response_header, payload_cap,
};
pub use messages::{
    INDEX_ENTRY_SIZE, LegacyMessage, MESSAGE_HEADER_SIZE, OutgoingMessage, SendError, decode_messages,
    decode_poll_reply, encode_send_body, legacy_messages_len, record_to_messages, send_to_record,
};
