//! Work on one partition, run by the shard that owns it.

use whippet_protocol::batch::BatchError;
use whippet_protocol::status::ErrorCode;
use whippet_storage::{Partition, StorageError};

use crate::messages::{PartitionOp, PartitionOutcome};

pub async fn run(partition: &Partition, op: PartitionOp) -> PartitionOutcome {
    match op {
        PartitionOp::Append(record) => match partition.append(record).await {
            Ok(appended) => PartitionOutcome::Appended(appended),
            Err(error) => storage_failure(&error),
        },
        PartitionOp::Poll { from, count, auto_commit } => {
            let polled = match partition.read(from, count).await {
                Ok(polled) => polled,
                Err(error) => return storage_failure(&error),
            };
            if let (Some(key), Some(last)) = (auto_commit, polled.last_offset())
                && let Err(error) = partition.store_offset(key, last).await
            {
                return storage_failure(&error);
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
                Err(error) => storage_failure(&error),
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
            Err(error) => storage_failure(&error),
        },
        PartitionOp::Purge => match partition.purge().await {
            Ok(_) => PartitionOutcome::Done,
            Err(error) => storage_failure(&error),
        },
        PartitionOp::DeleteSegments { count } => match partition.delete_oldest_segments(count).await {
            Ok(_) => PartitionOutcome::Done,
            Err(error) => storage_failure(&error),
        },
        PartitionOp::Sync => match partition.sync().await {
            Ok(()) => PartitionOutcome::Done,
            Err(error) => storage_failure(&error),
        },
    }
}

/// The Iggy status code for a storage error.
pub fn storage_failure(error: &StorageError) -> PartitionOutcome {
    let code = match error {
        StorageError::InvalidRecord(batch) => batch_code(batch),
        _ => ErrorCode::Error,
    };
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
