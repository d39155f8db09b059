//! Compatibility tests for `whippet-server` with clients we did not write: the official Apache Iggy
//! Rust SDK 0.11.0 (VSR dialect) and 0.10.0 (legacy dialect). Everything lives under `tests/`; this
//! library is empty.
