//! Work on one partition, run by the shard that owns it, and the one place where storage
//! errors become Iggy status codes:
//!
//! | storage error | append | other writes (offsets, purge, flush) | reads |
//! |---|---|---|---|
//! | invalid record | its validation code | - | - |
//! | full disk (also a partition recovering from one) | 4006 `CannotSaveMessagesToSegment` | 10006 `CannotWriteToFile` | - |
//! | partition failed, other I/O error | 4010 `CannotAppendMessage` | 10006 `CannotWriteToFile` | 1 `Error` |
//!
//! Refusals for a full disk or a failed partition are logged per partition, throttled.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use whippet_protocol::batch::BatchError;
use whippet_protocol::status::ErrorCode;
use whippet_storage::{Partition, StorageError};

use crate::failures::{REPEAT_LOG_EVERY, Throttle};
use crate::messages::{PartitionOp, PartitionOutcome};

pub async fn run(partition: &Partition, op: PartitionOp) -> PartitionOutcome {
    match op {
        PartitionOp::Append(record) => match partition.append(record).await {
            Ok(appended) => PartitionOutcome::Appended(appended),
            Err(error) => refused(partition, &error, append_code(&error)),
        },
        PartitionOp::Poll { from, count, auto_commit } => {
            let polled = match partition.read(from, count).await {
                Ok(polled) => polled,
                Err(error) => return storage_failure(&error),
            };
            if let (Some(key), Some(last)) = (auto_commit, polled.last_offset())
                && let Err(error) = partition.store_offset(key, last).await
            {
                return refused(partition, &error, write_code(&error));
            }
            PartitionOutcome::Polled { polled }
        }
        PartitionOp::StoreOffset { key, offset } => {
            // Iggy clamps an offset past the end to the last one rather than refusing it.
            let next = partition.stats().next_offset;
            if next == 0 {
                return PartitionOutcome::Done;
            }
            match partition.store_offset(key, offset.min(next - 1)).await {
                Ok(()) => PartitionOutcome::Done,
                Err(error) => refused(partition, &error, write_code(&error)),
            }
        }
        PartitionOp::GetOffset { key } => PartitionOutcome::Offset {
            stored: partition.stored_offset(key),
            next_offset: partition.stats().next_offset,
        },
        PartitionOp::DeleteOffset { key } => match partition.delete_offset(key).await {
            Ok(true) => PartitionOutcome::Done,
            Ok(false) => PartitionOutcome::Failed {
                code: ErrorCode::ConsumerOffsetNotFound.as_u32(),
                reason: "no stored offset".to_string(),
            },
            Err(error) => refused(partition, &error, write_code(&error)),
        },
        PartitionOp::Purge => match partition.purge().await {
            Ok(_) => PartitionOutcome::Done,
            Err(error) => refused(partition, &error, write_code(&error)),
        },
        PartitionOp::DeleteSegments { count } => match partition.delete_oldest_segments(count).await {
            Ok(_) => PartitionOutcome::Done,
            Err(error) => refused(partition, &error, write_code(&error)),
        },
        PartitionOp::Sync => match partition.sync().await {
            Ok(()) => PartitionOutcome::Done,
            Err(error) => refused(partition, &error, write_code(&error)),
        },
    }
}

/// The Iggy status code for a storage error outside appends and writes (reads).
pub fn storage_failure(error: &StorageError) -> PartitionOutcome {
    PartitionOutcome::Failed { code: ErrorCode::Error.as_u32(), reason: error.to_string() }
}

/// The status of a refused append.
fn append_code(error: &StorageError) -> ErrorCode {
    match error {
        StorageError::InvalidRecord(batch) => batch_code(batch),
        _ if error.is_no_space() => ErrorCode::CannotSaveMessagesToSegment,
        StorageError::Failed { .. } | StorageError::Io { .. } => ErrorCode::CannotAppendMessage,
        _ => ErrorCode::Error,
    }
}

/// The status of a refused write other than an append.
fn write_code(error: &StorageError) -> ErrorCode {
    match error {
        StorageError::Failed { .. } | StorageError::Io { .. } => ErrorCode::CannotWriteToFile,
        _ => ErrorCode::Error,
    }
}

thread_local! {
    /// One log throttle per partition of this shard that refused a write for a full disk or
    /// a failure.
    static REFUSALS: RefCell<HashMap<PathBuf, Throttle>> = RefCell::new(HashMap::new());
}

/// Partitions whose refusals are throttled at once; beyond it the map starts over.
const THROTTLED_PARTITIONS_MAX: usize = 4096;

/// The outcome of a refused write; a full disk is logged as a warning and a failed partition
/// as an error, each at most once per [`REPEAT_LOG_EVERY`] per partition.
fn refused(partition: &Partition, error: &StorageError, code: ErrorCode) -> PartitionOutcome {
    let environmental = error.is_no_space() || matches!(error, StorageError::Failed { .. } | StorageError::Io { .. });
    if environmental {
        let suppressed = REFUSALS.with_borrow_mut(|throttles| {
            if throttles.len() >= THROTTLED_PARTITIONS_MAX && !throttles.contains_key(partition.dir()) {
                throttles.clear();
            }
            let throttle =
                throttles.entry(partition.dir().to_path_buf()).or_insert_with(|| Throttle::new(REPEAT_LOG_EVERY));
            throttle.allow(Instant::now())
        });
        if let Some(suppressed) = suppressed {
            let dir = partition.dir().display();
            if error.is_no_space() {
                tracing::warn!(%dir, %code, %error, suppressed, "write refused: the disk is full");
            } else if matches!(error, StorageError::Failed { .. }) {
                tracing::error!(%dir, %code, %error, suppressed, "write refused: the partition failed; restart to recover");
            } else {
                tracing::error!(%dir, %code, %error, suppressed, "write failed: I/O error");
            }
        }
    }
    PartitionOutcome::Failed { code: code.as_u32(), reason: error.to_string() }
}

fn batch_code(error: &BatchError) -> ErrorCode {
    match error {
        BatchError::FrameChecksum { .. } => ErrorCode::InvalidMessageChecksum,
        BatchError::BatchChecksum => ErrorCode::InvalidBatchChecksum,
        BatchError::EmptyPayload { .. } => ErrorCode::InvalidMessagePayloadLength,
        BatchError::PayloadTooLarge { .. } => ErrorCode::TooBigMessagePayload,
        BatchError::UserHeadersTooLarge { .. } => ErrorCode::TooBigUserHeaders,
        BatchError::Empty => ErrorCode::InvalidMessagesCount,
        _ => ErrorCode::InvalidFormat,
    }
}
