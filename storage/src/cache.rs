//! The tail cache: the most recent records of a partition, in memory, bounded in bytes.
//! It always holds a contiguous run of offsets ending at the last written record, so a read
//! that starts inside it never touches the disk.

use std::collections::VecDeque;

use bytes::Bytes;

#[derive(Debug, Clone)]
pub(crate) struct CachedRecord {
    pub base_offset: u64,
    pub count: u32,
    pub bytes: Bytes,
}

impl CachedRecord {
    pub fn end_offset(&self) -> u64 {
        self.base_offset + u64::from(self.count)
    }
}

#[derive(Debug)]
pub(crate) struct TailCache {
    records: VecDeque<CachedRecord>,
    bytes: usize,
    capacity: usize,
    pub hits: u64,
    pub misses: u64,
}

impl TailCache {
    pub fn new(capacity: usize) -> TailCache {
        TailCache { records: VecDeque::new(), bytes: 0, capacity, hits: 0, misses: 0 }
    }

    /// Adds the next record; evicts the oldest to stay in budget. A record larger than the
    /// whole budget empties the cache, since the cache must stay contiguous.
    pub fn push(&mut self, record: CachedRecord) {
        if record.bytes.len() > self.capacity {
            self.clear();
            return;
        }
        if self.records.back().is_some_and(|last| last.end_offset() != record.base_offset) {
            self.clear();
        }
        self.bytes += record.bytes.len();
        self.records.push_back(record);
        while self.bytes > self.capacity {
            if let Some(old) = self.records.pop_front() {
                self.bytes -= old.bytes.len();
            }
        }
    }

    pub fn clear(&mut self) {
        self.records.clear();
        self.bytes = 0;
    }

    /// Drops the records that end at or before `offset` (they were deleted from disk).
    pub fn drop_before(&mut self, offset: u64) {
        while self.records.front().is_some_and(|r| r.end_offset() <= offset) {
            if let Some(old) = self.records.pop_front() {
                self.bytes -= old.bytes.len();
            }
        }
    }

    /// The cached records from the one holding `offset` onwards, if it is cached.
    pub fn starting_at(&self, offset: u64) -> Option<impl Iterator<Item = &CachedRecord>> {
        let first = self.records.front()?;
        if offset < first.base_offset {
            return None;
        }
        let at = self.records.partition_point(|r| r.end_offset() <= offset);
        (at < self.records.len()).then(|| self.records.range(at..))
    }

    pub fn len_bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(base_offset: u64, count: u32, size: usize) -> CachedRecord {
        CachedRecord { base_offset, count, bytes: Bytes::from(vec![0; size]) }
    }

    #[test]
    fn stays_contiguous_and_in_budget() {
        let mut cache = TailCache::new(100);
        cache.push(record(0, 2, 40));
        cache.push(record(2, 3, 40));
        assert_eq!(cache.starting_at(1).map(|r| r.count()), Some(2));
        cache.push(record(5, 1, 40));
        assert_eq!(cache.len_bytes(), 80);
        assert!(cache.starting_at(1).is_none(), "oldest evicted");
        assert_eq!(cache.starting_at(4).map(|r| r.count()), Some(2));
        assert!(cache.starting_at(6).is_none());
        cache.push(record(9, 1, 10));
        assert_eq!(cache.len_bytes(), 10, "a gap restarts the cache");
        cache.push(record(10, 1, 500));
        assert_eq!(cache.len_bytes(), 0, "oversized record empties it");
    }
}
