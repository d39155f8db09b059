//! Iggy binary protocol codec shared by the server and the tools: bytes in, typed values out,
//! no I/O, so every decoder can be fuzzed. See ../shared/protocol.md for the wire format.

pub mod batch;
