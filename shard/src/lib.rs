//! Shards: one OS thread per core, each pinned and running its own monoio runtime on
//! io_uring; the mesh of inboxes that carries one-way messages between them; and the routing
//! that says which shard owns a partition. Nothing here is shared behind a lock: a shard's state
//! lives on its thread, and crosses to another only as a message.

pub mod mesh;
pub mod routing;
pub mod runtime;
pub mod wake;

pub use mesh::{Closed, Inbox, InboxParts, Mailbox, mesh};
pub use routing::owner;
pub use runtime::{BlockingPool, Driver, ShardPlacement, StartError, available_cores, parse_cores, spawn_shard};
