//! What travels between shards: one-way descriptors. A request names the shard and request id
//! to answer; the answer comes back as another message. Everything here is `Send`.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use bytes::BytesMut;
use whippet_metadata::{Command, Event, Metadata};
use whippet_storage::{Appended, ConsumerKey, Polled, ReadFrom};

/// A partition's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub stream: u32,
    pub topic: u32,
    pub partition: u32,
}

/// Work for the shard that owns a partition.
#[derive(Debug)]
pub enum PartitionOp {
    Append(BytesMut),
    Poll {
        from: ReadFrom,
        count: u32,
        auto_commit: Option<ConsumerKey>,
    },
    StoreOffset {
        key: ConsumerKey,
        offset: u64,
    },
    GetOffset {
        key: ConsumerKey,
    },
    DeleteOffset {
        key: ConsumerKey,
    },
    /// Removes every message; the next offset stays.
    Purge,
    /// Removes the oldest `count` closed segments.
    DeleteSegments {
        count: u32,
    },
    /// Makes everything appended so far durable (FLUSH_UNSAVED_BUFFER with fsync).
    Sync,
}

/// The owner's answer.
#[derive(Debug)]
pub enum PartitionOutcome {
    Appended(Appended),
    Polled {
        polled: Polled,
    },
    /// The stored offset (if any) and the partition's next offset.
    Offset {
        stored: Option<u64>,
        next_offset: u64,
    },
    Done,
    /// An Iggy status code and why.
    Failed {
        code: u32,
        reason: String,
    },
}

/// Why a metadata command failed, as the leader reports it.
#[derive(Debug, Clone)]
pub struct MetadataFailure {
    pub code: u32,
    pub reason: String,
}

#[derive(Debug)]
pub enum Message {
    /// A new client connection, handed over by the acceptor.
    Connection(TcpStream, SocketAddr),
    /// The replica to start from, sent by the leader once at start.
    Bootstrap(Box<Metadata>),
    /// A committed metadata event, broadcast by the leader in version order.
    Event {
        version: u64,
        event: Arc<Event>,
    },
    /// A metadata change for the leader (shard 0).
    Metadata {
        from: usize,
        id: u64,
        command: Box<Command>,
    },
    /// The leader's answer: the version that holds the change.
    MetadataDone {
        id: u64,
        result: Result<u64, MetadataFailure>,
    },
    /// Work on a partition this shard owns; run it once the replica reached `min_version`.
    Partition {
        from: usize,
        id: u64,
        min_version: u64,
        key: PartitionKey,
        op: PartitionOp,
    },
    PartitionDone {
        id: u64,
        outcome: PartitionOutcome,
    },
    /// Stop: close every partition and leave the shard loop.
    Shutdown,
}
