//! Iggy binary protocol codec shared by the server and the tools: bytes in, typed values out,
//! no I/O, so every decoder can be fuzzed. See ../shared/protocol.md for the wire format.
//!
//! - [`vsr`]: the 256-byte VSR headers (request, reply, eviction) and the protocol version gate.
//! - [`codes`] / [`status`]: command codes and status codes.
//! - [`requests`] / [`responses`]: typed payloads, built from the pieces in [`types`] with the
//!   bounds-checked [`wire::Reader`].
//! - [`batch`]: the message batch record (SendMessages body, stored record, poll reply).
//! - [`permissions`]: the permission set and Iggy's authorization rules; [`users`],
//!   [`groups`], [`system`]: the admin payloads of both generations (users and tokens,
//!   consumer groups, stats, options catalog, partitions, segments, flush, UpdateTopic).

// No unwrap on external input or I/O outside tests: errors are values here.
#![warn(clippy::unwrap_used)]

pub mod batch;
pub mod codes;
pub mod groups;
pub mod legacy;
pub mod permissions;
pub mod requests;
pub mod responses;
pub mod status;
pub mod system;
pub mod types;
pub mod users;
pub mod vsr;
pub mod wire;

#[cfg(test)]
mod test_support;
