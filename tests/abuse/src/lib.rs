//! Abuse of the real `whippet-server`: what a hostile or merely careless network does to it.
//!
//! - [`load`]: `whippet-abuse load`, many concurrent connections doing small sends and polls
//!   (the 1,000-connection requirement), with latency per request kind and the server's memory.
//! - [`memory`]: a process's `VmRSS`/`VmHWM` from `/proc`, and a sampler thread.
//! - [`descriptors`]: the open-files limit, raised to the hard limit when a run needs it.
//!
//! The garbage-traffic test (random bytes, truncated and oversized frames, stalled bodies,
//! slowloris, connection churn) lives in `tests/garbage.rs`; see the crate's README.

pub mod descriptors;
pub mod load;
pub mod memory;
