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
    /// A sync failed: what reached the disk is unknown, so the partition takes no more appends
    /// until it is reopened (and recovered).
    #[error("partition failed and refuses appends until reopened: {reason}")]
    Failed { reason: String },
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

    /// Whether the error came from a full disk (the partition accepts appends again when space
    /// returns).
    pub fn is_no_space(&self) -> bool {
        matches!(self, StorageError::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC))
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
