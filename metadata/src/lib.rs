//! Whippet's metadata: streams, topics, partitions, consumer groups, users and personal access
//! tokens; the durable event log that records every change; and the per-shard replicas.
//!
//! # One writer, a replica per shard (design.md §2)
//! - [`Leader`] (shard 0) is the only writer. A [`Command`] becomes an [`Event`] through
//!   [`Metadata::decide`], is appended to the [`EventLog`] and synced, then applied with
//!   [`Metadata::apply`] under the next version.
//! - The leader broadcasts `(version, Arc<Event>)` to every shard; each shard's [`Replica`]
//!   applies them in version order whatever order they arrive in.
//! - A connection answers its client only after its shard's [`VersionFence`] reached the
//!   version of the client's event: every read on that connection sees its own writes.
//!
//! ```
//! use std::sync::Arc;
//! use whippet_metadata::{Command, Metadata, Replica};
//!
//! let mut leader = Metadata::new();
//! let event = leader.decide(&Command::CreateStream { name: "orders".into() }, 1_000).unwrap();
//! leader.apply(1, &event);
//!
//! let mut replica = Replica::new(Metadata::new());
//! let fence = replica.fence();
//! replica.offer(1, Arc::new(event));
//! assert_eq!(fence.applied_version(), 1);
//! assert_eq!(replica.metadata(), &leader);
//! ```

// No unwrap on external input or I/O outside tests: errors are values here.
#![warn(clippy::unwrap_used)]

mod command;
mod error;
mod event;
mod leader;
pub mod log;
mod model;
mod replica;

pub use command::{Command, root_permissions};
pub use error::{MetadataError, NameKind};
pub use event::Event;
pub use leader::{Committed, Leader, SubmitError};
pub use log::{EventLog, LogError, OpenReport, TailDamage};
pub use model::{
    ConsumerGroup, Counts, Metadata, OPTIONS_MAX, PARTITIONS_MAX, PERSONAL_ACCESS_TOKENS_MAX, PersonalAccessToken,
    ROOT_USER_ID, Ref, Stream, Topic, USER_STATUS_ACTIVE, USER_STATUS_INACTIVE, User,
};
pub use replica::{Offered, PENDING_MAX, Replica, VersionFence, WaitFor};
