//! Metadata model (streams, topics, partitions, users, groups), its durable event log and per-shard replicas. Filled in by the server-core issue.
