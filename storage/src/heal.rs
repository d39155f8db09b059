//! Recovery in place of a partition that failed on a full disk: an `fdatasync` (of the active
//! segment, or of a rolled one being closed) returned ENOSPC. After a failed sync nothing is
//! known of what reached the disk: the kernel may have dropped the unsynced pages (ext4 does
//! for a delayed allocation it cannot place) or marked them clean without writing them. So, for
//! every segment with records past its last successful sync:
//!
//! 1. the unsynced records are read back and validated as recovery does on open;
//! 2. the intact ones are written again, the same bytes at the same place, so that the next
//!    sync writes them whatever the page cache did, and the log is cut after them (a damaged
//!    record and everything after it go, as a crash would cut them);
//! 3. the log is synced, then the index entries of the kept records are written.
//!
//! Records acknowledged before any sync (`interval`, `never`) keep their offsets unless the
//! kernel lost them, which a power cut could have done too; under `always` the unsynced records
//! had been refused and, as after a crash, may or may not stay. A cut in a closed segment that
//! has records after it cannot keep the offsets dense: that partition stays failed until a
//! restart, whose recovery drops what follows the cut.
//!
//! Runs on the flusher of the partition's shard, so nothing else changes the partition meanwhile.

use std::rc::Rc;

use whippet_protocol::batch::Verify;

use crate::error::{Result, StorageError};
use crate::flusher::persist_index;
use crate::io::{LogFile, OpenMode, Storage};
use crate::partition::Inner;
use crate::segment;

/// Unsynced bytes are read back and written again in pieces of at most this size.
const REWRITE_CHUNK_BYTES: u64 = 4 << 20;

/// Repairs the partition in place (see the module doc) and clears its failure. An error leaves
/// it failed: a no-space error is tried again later, any other one is for good.
pub(crate) async fn heal<S: Storage>(inner: &Rc<Inner<S>>) -> Result<()> {
    // Rolled segments still closing in the background finish first (and may fail again).
    let pending = std::mem::take(&mut inner.state.borrow_mut().closing);
    for handle in pending {
        handle.await;
    }
    let bases: Vec<u64> = inner.state.borrow().segments.iter().map(|s| s.base_offset).collect();
    let mut cut_bytes = 0;
    for base in bases {
        cut_bytes = repair_segment(inner, base).await?;
        if cut_bytes > 0 {
            break;
        }
    }
    let indexes: Vec<(u64, usize)> =
        inner.state.borrow().segments.iter().map(|s| (s.base_offset, s.entries.len())).collect();
    for (base, upto) in indexes {
        // A failed index write costs only a longer scan at the next open (and is logged).
        persist_index(inner, Some(base), upto).await;
    }
    let mut state = inner.state.borrow_mut();
    state.next_offset = state.segments.last().expect("a partition always has an active segment").end_offset;
    state.visible_end = state.next_offset;
    state.unsynced = false;
    if cut_bytes > 0 {
        state.cache.clear();
    }
    state.failed = None;
    tracing::warn!(
        partition_id = inner.partition_id,
        dir = %inner.dir.display(),
        next_offset = state.next_offset,
        cut_bytes,
        "partition recovered in place after a full disk: takes appends again"
    );
    Ok(())
}

/// Verifies, rewrites, cuts and syncs the unsynced records of segment `base`. Returns the bytes
/// cut; after a cut the segments after this one (all empty) are gone and it is the active one.
async fn repair_segment<S: Storage>(inner: &Inner<S>, base: u64) -> Result<u64> {
    let (log, log_path, from, unsynced, synced, size, empty_after) = {
        let state = inner.state.borrow();
        let Some(at) = state.segments.iter().position(|s| s.base_offset == base) else { return Ok(0) };
        let segment = &state.segments[at];
        if segment.synced_size >= segment.size {
            return Ok(0);
        }
        let from = segment.entries.partition_point(|e| e.position < segment.synced_size);
        let empty_after = state.segments[at + 1..].iter().all(|s| s.size == 0);
        let unsynced = segment.entries[from..].to_vec();
        (segment.log.clone(), segment.log_path.clone(), from, unsynced, segment.synced_size, segment.size, empty_after)
    };
    let verify = Verify { frame_checksums: inner.config.verify_checksums, batch_checksum: true };
    let intact = segment::count_intact(&*log, &unsynced, size, inner.partition_id, verify).await;
    let end = unsynced.get(intact).map_or(size, |e| e.position);
    if end < size && !empty_after {
        return Err(StorageError::Failed {
            reason: format!(
                "the failed sync lost records of closed segment {base} from byte {end}, and later segments \
                 hold records: restart to recover"
            ),
            no_space: false,
        });
    }
    let io = |e| StorageError::io(&log_path, e);
    rewrite(&*log, synced, end).await.map_err(io)?;
    // Also cuts O_DIRECT padding past the records.
    log.set_len(end).await.map_err(io)?;
    log.sync_data().await.map_err(io)?;
    if end < size {
        drop_segments_after(inner, base).await?;
    }
    let mut state = inner.state.borrow_mut();
    let Some(segment) = state.segments.iter_mut().find(|s| s.base_offset == base) else { return Ok(0) };
    if let Some(first_lost) = unsynced.get(intact) {
        assert!(from + intact >= segment.persisted, "recovery in place cut records whose index entries are on disk");
        segment.entries.truncate(from + intact);
        segment.end_offset = first_lost.base_offset;
        segment.size = end;
        tracing::warn!(
            partition_id = inner.partition_id,
            segment = base,
            cut_bytes = size - end,
            next_offset = first_lost.base_offset,
            "the failed sync lost records: cut them"
        );
    }
    segment.synced_size = end;
    Ok(size - end)
}

/// Deletes the (empty) segments after `base`, which becomes the active segment again.
async fn drop_segments_after<S: Storage>(inner: &Inner<S>, base: u64) -> Result<()> {
    let dropped: Vec<_> = {
        let mut state = inner.state.borrow_mut();
        let keep = state.segments.iter().position(|s| s.base_offset == base).map_or(0, |at| at + 1);
        state.segments.drain(keep..).collect()
    };
    for segment in &dropped {
        for path in [&segment.log_path, &segment.index_path] {
            inner.storage.remove_file(path).map_err(|e| StorageError::io(path, e))?;
        }
    }
    inner.storage.sync_dir(&inner.dir).await.map_err(|e| StorageError::io(&inner.dir, e))?;
    if inner.config.direct_io {
        let log_path = inner.state.borrow().segments.last().map(|s| s.log_path.clone());
        if let Some(path) = log_path {
            let mode = OpenMode { create: false, direct: true };
            let file = inner.storage.open(&path, mode).await.map_err(|e| StorageError::io(&path, e))?;
            if let Some(active) = inner.state.borrow_mut().segments.last_mut() {
                active.direct = Some(Rc::new(file));
            }
        }
    }
    Ok(())
}

/// Reads `from..to` of `log` and writes the same bytes back, so that they are dirty again.
async fn rewrite<F: LogFile>(log: &F, from: u64, to: u64) -> std::io::Result<()> {
    let mut at = from;
    while at < to {
        let length = (to - at).min(REWRITE_CHUNK_BYTES);
        let bytes = log.read_exact_at(length as usize, at).await?;
        let (written, _) = log.write_all_at(bytes, at).await;
        written?;
        at += length;
    }
    Ok(())
}
