//! Iggy binary protocol codec shared by the server and the tools: bytes in, typed values out,
//! no I/O, so every decoder can be fuzzed. See ../shared/protocol.md for the wire format.

// No unwrap on external input or I/O outside tests: errors are values here.
#![warn(clippy::unwrap_used)]

pub mod batch;
