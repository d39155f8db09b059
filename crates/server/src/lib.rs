//! The Whippet server: configuration, start and stop, the shards' state and loops, client
//! connections and the commands they run. The `whippet-server` binary is `main.rs`.

// No unwrap on external input or I/O outside tests: errors are values here.
#![warn(clippy::unwrap_used)]

pub mod auth;
pub mod config;
pub mod connection;
pub mod failures;
pub mod handlers;
pub mod messages;
pub mod orphans;
pub mod partition_ops;
pub mod server;
pub mod shard;
pub mod topic_options;
