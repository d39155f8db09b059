//! Which shard owns a partition: a stable hash of (stream, topic, partition) modulo the shard
//! count. Stable across restarts and builds, so with the same shard count a partition lands on
//! the same shard; data stays where it is on disk whatever the count.

use xxhash_rust::xxh3::xxh3_64;

/// The shard that owns partition `partition` of topic `topic` of stream `stream`.
pub fn owner(stream: u32, topic: u32, partition: u32, shards: usize) -> usize {
    let mut key = [0u8; 12];
    key[..4].copy_from_slice(&stream.to_le_bytes());
    key[4..8].copy_from_slice(&topic.to_le_bytes());
    key[8..].copy_from_slice(&partition.to_le_bytes());
    (xxh3_64(&key) % shards.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_stable_and_spreads_partitions() {
        assert_eq!(owner(0, 0, 0, 1), 0);
        assert_eq!(owner(1, 2, 3, 4), owner(1, 2, 3, 4));
        let mut counts = [0usize; 4];
        for partition in 0..1000 {
            counts[owner(0, 0, partition, 4)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 150), "{counts:?}");
        // Eight partitions over two shards: both get some (the e2e tests rely on it).
        let owners: Vec<usize> = (0..8).map(|p| owner(0, 0, p, 2)).collect();
        assert!(owners.contains(&0) && owners.contains(&1), "{owners:?}");
    }
}
