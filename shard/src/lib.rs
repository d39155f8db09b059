//! Per-core shard runtime, partition routing and cross-shard messages. Filled in by the server-core issue.
