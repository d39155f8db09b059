//! Whippet's partition log: an append-only, segmented, indexed log of protocol 0.11 batch
//! records, written and read through io_uring (monoio). Files and records only: no sockets.
//!
//! # Layout
//! A partition directory holds segments `{base_offset:020}.log` (records back to back, each
//! exactly the bytes a poll serves: a 256-byte batch header and its message frames), a
//! `{base_offset:020}.index` beside each (32-byte checksummed entries: base offset, base timestamp, file
//! position, one per record), and `offsets/{consumers,groups}/{id}` for consumer offsets.
//!
//! # Durability: what each policy promises on a crash
//! - [`Durability::Always`]: an append resolves only after `fdatasync` of its segment (and of
//!   the directory when the segment is new). Appends that arrive while a sync is in flight
//!   share the next one (group commit). A power cut or kernel crash loses **no acknowledged
//!   append**; readers never see a record before it is durable. Stored consumer offsets are
//!   synced before the store resolves.
//! - [`Durability::Interval`]: an append resolves once written to the page cache; a saver
//!   syncs every interval. A killed process loses nothing acknowledged (the kernel still has
//!   it); a power cut loses at most about one interval of acknowledged appends and offsets.
//! - [`Durability::Never`]: the kernel writes back when it likes; the log syncs only when a
//!   segment rolls, on [`Partition::sync`] and on [`Partition::close`]. A killed process loses
//!   nothing acknowledged; a power cut may lose everything since the last of those.
//!
//! Under every policy, recovery never serves a corrupt record: on open the records after the
//! last index entry of the newest segment are validated (lengths, header, frame checksums,
//! batch checksum, dense offsets) and the log is cut at the first bad one. Index entries are
//! written only for synced records, so the trusted prefix is durable data. Closed segments are
//! trusted when their index agrees with their size and are scanned otherwise.
//!
//! # Failures
//! - A full disk (ENOSPC, EDQUOT) at a write refuses that append and the rest of its group with
//!   a no-space [`StorageError::Io`]; whatever part landed is cut, and the next append that fits
//!   goes on at the next offset. Nothing is failed.
//! - Any other write error, a failed cut, or a failed `fdatasync` fails the partition
//!   ([`StorageError::Failed`]): it refuses every change, and reads of what was visible go on.
//!   When the cause was a full disk it recovers in place (verifies its unsynced tail, rewrites
//!   and syncs what is intact, cuts the rest) on the first change at least
//!   [`PartitionConfig::no_space_retry`] after the failure; otherwise only a reopen recovers it.
//!
//! # Threading
//! Everything here lives on the shard that owns the partition: [`Partition`] is `!Send`, and
//! its futures run on that shard's monoio runtime.

// No unwrap on external input or I/O outside tests: errors are values here.
#![warn(clippy::unwrap_used)]

mod cache;
mod config;
pub mod direct;
mod error;
mod flusher;
mod heal;
mod index;
pub mod io;
mod offsets;
mod partition;
mod read;
mod segment;
pub mod sim;

pub use config::{Durability, PartitionConfig};
pub use error::{Result, StorageError};
pub use offsets::ConsumerKey;
pub use partition::{Appended, Partition, PartitionStats, RecoveryReport, Removed, RetentionPolicy};
pub use read::{Polled, ReadFrom};
