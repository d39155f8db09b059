//! How a partition log is tuned.

use std::time::Duration;

/// When an append is made durable. What each promises on a crash is in the crate docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fdatasync before the append resolves; appends that arrive during a sync share the next.
    Always,
    /// A background saver syncs every interval; appends resolve once written.
    Interval(Duration),
    /// The OS writes back when it likes; the log syncs only on roll, flush and close.
    Never,
}

/// The knobs of one partition log.
#[derive(Debug, Clone)]
pub struct PartitionConfig {
    pub durability: Durability,
    /// A segment is closed and a new one started once it holds this many bytes.
    pub segment_size: u64,
    /// Bytes of the most recent records kept in memory for reads.
    pub cache_size: usize,
    /// Verify frame checksums on append and on recovery. With it off, recovery checks only the
    /// structure and the batch checksum, so a torn payload in an unsynced tail goes unnoticed.
    pub verify_checksums: bool,
    /// Write segments with O_DIRECT through aligned buffers.
    pub direct_io: bool,
    /// Upper bound of the bytes one read returns (at least one record is always returned).
    pub max_read_size: usize,
    /// A partition that failed on a full disk tries to recover in place on the first change
    /// this long after the failure (and after each failed try), not on every refused append.
    pub no_space_retry: Duration,
}

impl Default for PartitionConfig {
    fn default() -> Self {
        PartitionConfig {
            durability: Durability::Never,
            segment_size: 1 << 30,
            cache_size: 8 << 20,
            verify_checksums: true,
            direct_io: false,
            max_read_size: 16 << 20,
            no_space_retry: Duration::from_secs(1),
        }
    }
}
