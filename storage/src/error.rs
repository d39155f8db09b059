//! Errors of the storage layer; the network edge maps them to Iggy status codes.

use std::io;
use std::path::PathBuf;

use whippet_protocol::batch::BatchError;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid record: {0}")]
    InvalidRecord(#[from] BatchError),
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// A sync, a write other than to a full disk, or the cut after a failed write failed: what
    /// reached the disk is unknown, so the partition takes no more changes (reads go on). When
    /// the cause was a full disk (`no_space`) the partition recovers in place, verifying and
    /// rewriting its unsynced tail, on the first change after
    /// [`crate::PartitionConfig::no_space_retry`]; otherwise it stays failed until reopened.
    #[error("partition failed: {reason}")]
    Failed { reason: String, no_space: bool },
    #[error("partition is closed")]
    Closed,
    #[error("offset {offset} is beyond the last offset of the partition")]
    OffsetOutOfRange { offset: u64 },
    #[error("corrupt data in {path} at byte {position}: {reason}")]
    Corrupt { path: PathBuf, position: u64, reason: String },
}

impl StorageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> StorageError {
        StorageError::Io { path: path.into(), source }
    }

    /// Whether the error came from a full disk, ENOSPC or EDQUOT (the partition accepts appends
    /// again when space returns, at once or after its recovery in place).
    pub fn is_no_space(&self) -> bool {
        match self {
            StorageError::Io { source, .. } => matches!(source.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)),
            StorageError::Failed { no_space, .. } => *no_space,
            _ => false,
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
