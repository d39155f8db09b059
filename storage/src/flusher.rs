//! The flusher: the one task that changes a partition. It drains the op queue; consecutive
//! appends form a group that is written together and, under `always`, covered by one
//! fdatasync (group commit). It never holds a borrow of the state across an await.

use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use whippet_protocol::batch;

use crate::cache::CachedRecord;
use crate::config::Durability;
use crate::error::{Result, StorageError};
use crate::index::IndexEntry;
use crate::io::{LogFile, OpenMode, Storage};
use crate::offsets::{ConsumerKey, encode};
use crate::partition::{Appended, Failure, Inner, Op, Partition, Removed, Reply, RetentionPolicy, now_micros};

/// A group stops growing at this many bytes, bounding how long its first append waits.
const MAX_GROUP_BYTES: usize = 32 << 20;

struct Staged {
    record: Bytes,
    appended: Appended,
    reply: Reply<Appended>,
}

pub(crate) async fn run<S: Storage>(inner: Rc<Inner<S>>) {
    loop {
        let (group, control) = {
            let mut state = inner.state.borrow_mut();
            let mut group = Vec::new();
            let mut bytes = 0;
            while bytes < MAX_GROUP_BYTES && matches!(state.queue.front(), Some(Op::Append { .. })) {
                if let Some(Op::Append { record, count, reply }) = state.queue.pop_front() {
                    bytes += record.len();
                    group.push((record, count, reply));
                }
            }
            let control = if group.is_empty() { state.queue.pop_front() } else { None };
            if group.is_empty() && control.is_none() {
                state.flusher_running = false;
                return;
            }
            (group, control)
        };
        if !group.is_empty() {
            append_group(&inner, group).await;
        }
        if let Some(op) = control {
            run_control(&inner, op).await;
        }
    }
}

fn failed_error<S: Storage>(inner: &Inner<S>) -> Option<StorageError> {
    let state = inner.state.borrow();
    if state.closed {
        return Some(StorageError::Closed);
    }
    state.failed.as_ref().map(Failure::error)
}

/// Why the partition refuses a change now, if it does. A partition that failed on a full disk
/// first tries to recover in place once its retry time has come.
async fn refusal<S: Storage>(inner: &Rc<Inner<S>>) -> Option<StorageError> {
    let due = {
        let state = inner.state.borrow();
        match &state.failed {
            _ if state.closed => return Some(StorageError::Closed),
            None => return None,
            Some(failure) => failure.retry_at.is_some_and(|at| Instant::now() >= at),
        }
    };
    if due {
        match crate::heal::heal(inner).await {
            Ok(()) => return None,
            Err(error) => {
                // Still no space: try again later, quietly (the server logs the refusals).
                let retry_at = error.is_no_space().then(|| Instant::now() + inner.config.no_space_retry);
                tracing::debug!(partition_id = inner.partition_id, %error, "recovery in place failed");
                if retry_at.is_none() {
                    tracing::error!(partition_id = inner.partition_id, dir = %inner.dir.display(), %error,
                        "partition failed for good: refuses changes until restart; reads go on");
                }
                let reason = format!("recovery in place failed: {error}");
                inner.state.borrow_mut().failed = Some(Failure { reason, retry_at });
            }
        }
    }
    failed_error(inner)
}

/// Fails the partition: it refuses changes from now on. On a full disk it recovers in place
/// later ([`refusal`]); after any other error only a reopen recovers it.
fn fail<S: Storage>(inner: &Inner<S>, what: &str, error: &StorageError) -> StorageError {
    let reason = format!("{what}: {error}");
    let dir = inner.dir.display();
    let retry_at = error.is_no_space().then(|| Instant::now() + inner.config.no_space_retry);
    if retry_at.is_some() {
        tracing::warn!(partition_id = inner.partition_id, %dir, %reason,
            "partition failed on a full disk: refuses changes, recovers in place once space returns");
    } else {
        tracing::error!(partition_id = inner.partition_id, %dir, %reason,
            "partition failed: refuses changes until restart; reads go on");
    }
    let failure = Failure { reason, retry_at };
    let error = failure.error();
    inner.state.borrow_mut().failed = Some(failure);
    error
}

/// Stamps every record of the group with its offsets and one append timestamp.
fn stage<S: Storage>(inner: &Inner<S>, group: Vec<(bytes::BytesMut, u32, Reply<Appended>)>) -> Vec<Staged> {
    let mut state = inner.state.borrow_mut();
    let base_timestamp = now_micros().max(state.last_timestamp);
    state.last_timestamp = base_timestamp;
    let mut offset = state.next_offset;
    let partition_id = u64::from(inner.partition_id);
    group
        .into_iter()
        .map(|(mut record, count, reply)| {
            batch::stamp(&mut record, partition_id, offset, base_timestamp);
            let appended = Appended { base_offset: offset, count, base_timestamp };
            offset += u64::from(count);
            Staged { record: record.freeze(), appended, reply }
        })
        .collect()
}

async fn append_group<S: Storage>(inner: &Rc<Inner<S>>, group: Vec<(bytes::BytesMut, u32, Reply<Appended>)>) {
    if let Some(error) = refusal(inner).await {
        for (_, _, reply) in group {
            let _ = reply.send(Err(clone_error(&error)));
        }
        return;
    }
    let mut staged = stage(inner, group).into_iter().peekable();
    let mut written: Vec<Staged> = Vec::new();
    let always = inner.config.durability == Durability::Always;
    while staged.peek().is_some() {
        let (writer, room) = {
            let state = inner.state.borrow();
            let active = state.segments.last().expect("a partition always has an active segment");
            (active.writer(), inner.config.segment_size.saturating_sub(active.size))
        };
        let mut run = Vec::new();
        let mut run_bytes = 0u64;
        while let Some(next) = staged.peek() {
            let len = next.record.len() as u64;
            let fits = run_bytes + len <= room || (writer.size == 0 && run.is_empty());
            if !fits {
                break;
            }
            run_bytes += len;
            run.extend(staged.next());
        }
        if run.is_empty() {
            if let Err(error) = roll(inner).await {
                reject(staged.by_ref(), &error);
                break;
            }
            continue;
        }
        let records: Vec<Bytes> = run.iter().map(|s| s.record.clone()).collect();
        let mut scratch = inner.state.borrow_mut().direct_scratch.take();
        let result = writer.write(&records, &mut scratch).await;
        inner.state.borrow_mut().direct_scratch = scratch;
        if let Err(source) = result {
            let error = StorageError::io(inner.dir.clone(), source);
            // Cut whatever part of the write landed, so the next append starts clean. A full
            // disk refuses only this group; any other write error fails the partition.
            let error = match writer.log.set_len(writer.size).await {
                Err(cut) => fail(inner, "could not cut a failed write", &StorageError::io(inner.dir.clone(), cut)),
                Ok(()) if error.is_no_space() => error,
                Ok(()) => fail(inner, "write failed", &error),
            };
            reject(run.into_iter().chain(staged.by_ref()), &error);
            break;
        }
        commit_run(inner, &run, writer.size);
        if always {
            written.extend(run);
        } else {
            for staged in run {
                let _ = staged.reply.send(Ok(staged.appended));
            }
        }
    }
    if always && !written.is_empty() {
        // A roll whose sync failed left these records in a segment that was not synced.
        let synced = match failed_error(inner) {
            Some(error) => Err(error),
            None => sync_active(inner).await,
        };
        match synced {
            Ok(()) => written.into_iter().for_each(|s| {
                let _ = s.reply.send(Ok(s.appended));
            }),
            Err(error) => reject(written.into_iter(), &error),
        }
    }
}

fn reject(staged: impl Iterator<Item = Staged>, error: &StorageError) {
    for s in staged {
        let _ = s.reply.send(Err(clone_error(error)));
    }
}

/// A copy of an error for each waiter of a failed group.
fn clone_error(error: &StorageError) -> StorageError {
    match error {
        StorageError::Io { path, source } => {
            let source = match source.raw_os_error() {
                Some(code) => std::io::Error::from_raw_os_error(code),
                None => std::io::Error::new(source.kind(), source.to_string()),
            };
            StorageError::Io { path: path.clone(), source }
        }
        StorageError::Failed { reason, no_space } => {
            StorageError::Failed { reason: reason.clone(), no_space: *no_space }
        }
        StorageError::Closed => StorageError::Closed,
        other => StorageError::Failed { reason: other.to_string(), no_space: other.is_no_space() },
    }
}

/// Adds the written records to the index, the cache and the offsets.
fn commit_run<S: Storage>(inner: &Inner<S>, run: &[Staged], start: u64) {
    let mut state = inner.state.borrow_mut();
    let state = &mut *state;
    let active = state.segments.last_mut().expect("active segment");
    let mut position = start;
    for staged in run {
        let Appended { base_offset, count, base_timestamp } = staged.appended;
        active.entries.push(IndexEntry { base_offset, base_timestamp, position });
        position += staged.record.len() as u64;
        active.end_offset = base_offset + u64::from(count);
        state.cache.push(CachedRecord { base_offset, count, bytes: staged.record.clone() });
    }
    active.size = position;
    state.next_offset = active.end_offset;
    state.unsynced = true;
    if inner.config.durability != Durability::Always {
        state.visible_end = state.next_offset;
    }
}

/// fdatasync of the active segment; then the synced records become visible and their index
/// entries are written. A failed sync fails the partition: what reached the disk is unknown.
async fn sync_active<S: Storage>(inner: &Inner<S>) -> Result<()> {
    let (log, upto, end_offset, size) = {
        let state = inner.state.borrow();
        let active = state.segments.last().expect("active segment");
        (active.log.clone(), active.entries.len(), active.end_offset, active.size)
    };
    if let Err(source) = log.sync_data().await {
        return Err(fail(inner, "fdatasync failed", &StorageError::io(inner.dir.clone(), source)));
    }
    {
        let mut state = inner.state.borrow_mut();
        state.visible_end = state.visible_end.max(end_offset);
        state.unsynced = state.next_offset > end_offset;
        if let Some(active) = state.segments.last_mut() {
            active.synced_size = active.synced_size.max(size);
        }
    }
    persist_index(inner, None, upto).await;
    Ok(())
}

/// Writes the index entries of segment `base` (the active one when `None`) up to `upto`.
/// An index write that fails costs only a longer scan at the next open, so it is logged.
pub(crate) async fn persist_index<S: Storage>(inner: &Inner<S>, base: Option<u64>, upto: usize) -> bool {
    let tail = {
        let state = inner.state.borrow();
        let segment = match base {
            Some(base) => state.segments.iter().find(|s| s.base_offset == base),
            None => state.segments.last(),
        };
        segment.and_then(|s| s.index_tail(upto).map(|t| (s.base_offset, t)))
    };
    let Some((base, (file, raw, position))) = tail else {
        return true;
    };
    let (result, _) = file.write_all_at(raw, position).await;
    if let Err(error) = result {
        tracing::warn!(partition_id = inner.partition_id, segment = base, %error, "index write failed");
        return false;
    }
    let mut state = inner.state.borrow_mut();
    if let Some(segment) = state.segments.iter_mut().find(|s| s.base_offset == base) {
        segment.persisted = segment.persisted.max(upto);
    }
    true
}

/// Starts a new segment at the next offset and closes the old one: cut O_DIRECT padding, sync
/// its log, write and sync its whole index. The new segment is created first, so a full disk
/// leaves everything as it was and the append can be retried.
///
/// Under `always` the old segment is closed before this returns: acknowledgements of records
/// written to it in the current group wait on that sync. Under `interval` and `never` the close
/// (an fdatasync of up to a whole segment of dirty pages) runs beside the appends instead of
/// stalling them; `sync` and `close` wait for it.
async fn roll<S: Storage>(inner: &Rc<Inner<S>>) -> Result<()> {
    let next_offset = inner.state.borrow().next_offset;
    let segment = Partition::create_segment(&inner.storage, &inner.dir, next_offset, &inner.config).await?;
    let closing = {
        let mut state = inner.state.borrow_mut();
        let old = state.segments.last_mut().expect("active segment");
        old.direct = None;
        let closing = Closing {
            base: old.base_offset,
            log: old.log.clone(),
            index: old.index.clone(),
            size: old.size,
            upto: old.entries.len(),
        };
        state.segments.push(segment);
        state.unsynced = false;
        closing
    };
    if inner.config.durability == Durability::Always {
        close_segment(inner, closing).await?;
        let mut state = inner.state.borrow_mut();
        state.visible_end = state.visible_end.max(next_offset);
    } else {
        let handle = monoio::spawn(close_in_background(inner.clone(), closing));
        let mut state = inner.state.borrow_mut();
        state.closing.retain(|h| !h.is_finished());
        state.closing.push(handle);
    }
    Ok(())
}

/// A segment being closed, held by handles so the state need not stay borrowed.
pub(crate) struct Closing<F> {
    base: u64,
    log: Rc<F>,
    index: Rc<F>,
    size: u64,
    upto: usize,
}

async fn close_in_background<S: Storage>(inner: Rc<Inner<S>>, closing: Closing<S::File>) {
    // A failure has already failed the partition (and been logged) inside.
    let _ = close_segment(&inner, closing).await;
}

/// Waits for the background closes of rolled segments.
async fn wait_for_closing<S: Storage>(inner: &Inner<S>) -> Result<()> {
    let pending = std::mem::take(&mut inner.state.borrow_mut().closing);
    for handle in pending {
        handle.await;
    }
    match failed_error(inner) {
        Some(StorageError::Closed) | None => Ok(()),
        Some(error) => Err(error),
    }
}

/// Makes a segment's records durable and its index complete. A failed log sync fails the
/// partition; a failed index write or sync is only logged, since the next open rebuilds the
/// index from a scan when it disagrees with the log.
async fn close_segment<S: Storage>(inner: &Inner<S>, closing: Closing<S::File>) -> Result<()> {
    let io = |e| StorageError::io(inner.dir.clone(), e);
    if inner.config.direct_io {
        closing.log.set_len(closing.size).await.map_err(|e| fail(inner, "cutting O_DIRECT padding", &io(e)))?;
    }
    closing.log.sync_data().await.map_err(|e| fail(inner, "fdatasync failed", &io(e)))?;
    if let Some(segment) = inner.state.borrow_mut().segments.iter_mut().find(|s| s.base_offset == closing.base) {
        segment.synced_size = segment.synced_size.max(closing.size);
    }
    if !persist_index(inner, Some(closing.base), closing.upto).await {
        return Ok(());
    }
    if let Err(error) = closing.index.sync_data().await {
        tracing::warn!(partition_id = inner.partition_id, segment = closing.base, %error, "index fdatasync failed");
    }
    Ok(())
}

async fn run_control<S: Storage>(inner: &Rc<Inner<S>>, op: Op) {
    if let Some(error) = refusal(inner).await {
        refuse(op, error);
        return;
    }
    match op {
        Op::Append { .. } => unreachable!("appends are grouped"),
        Op::Sync { reply } => {
            let result = sync_all(inner).await;
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        }
        Op::StoreOffset { key, offset, reply } => {
            let _ = reply.send(store_offset(inner, key, offset).await);
        }
        Op::DeleteOffset { key, reply } => {
            let _ = reply.send(delete_offset(inner, key).await);
        }
        Op::Retain { policy, now_micros, reply } => {
            let _ = reply.send(retain(inner, policy, now_micros).await);
        }
        Op::DeleteSegments { count, reply } => {
            let _ = reply.send(delete_oldest(inner, count).await);
        }
        Op::Purge { reply } => {
            let _ = reply.send(purge(inner).await);
        }
        Op::Close { reply } => {
            let _ = reply.send(close(inner).await);
        }
    }
}

fn refuse(op: Op, error: StorageError) {
    match op {
        Op::Append { reply, .. } => drop(reply.send(Err(error))),
        Op::Sync { reply } => drop(reply.map(|r| r.send(Err(error)))),
        Op::StoreOffset { reply, .. } | Op::Close { reply } => drop(reply.send(Err(error))),
        Op::DeleteOffset { reply, .. } => drop(reply.send(Err(error))),
        Op::Retain { reply, .. } | Op::DeleteSegments { reply, .. } | Op::Purge { reply } => {
            drop(reply.send(Err(error)))
        }
    }
}

/// Syncs the active segment and every offset written since the last sync.
async fn sync_all<S: Storage>(inner: &Inner<S>) -> Result<()> {
    wait_for_closing(inner).await?;
    sync_active(inner).await?;
    sync_offsets(inner).await
}

/// Syncs the offset files written since the last sync, then marks their values durable.
async fn sync_offsets<S: Storage>(inner: &Inner<S>) -> Result<()> {
    let (files, dirs) = inner.state.borrow_mut().offsets.take_dirty();
    for dir in dirs {
        sync_dir(inner, &dir).await?;
    }
    for (key, file, path, slot) in files {
        file.sync_data().await.map_err(|e| StorageError::io(path, e))?;
        inner.state.borrow_mut().offsets.mark_durable(key, slot);
    }
    Ok(())
}

async fn sync_dir<S: Storage>(inner: &Inner<S>, dir: &Path) -> Result<()> {
    inner.storage.sync_dir(dir).await.map_err(|e| StorageError::io(dir, e))
}

async fn store_offset<S: Storage>(inner: &Inner<S>, key: ConsumerKey, offset: u64) -> Result<()> {
    let write = {
        let state = inner.state.borrow();
        if offset >= state.visible_end {
            return Err(StorageError::OffsetOutOfRange { offset });
        }
        state.offsets.next_write(key)
    };
    let always = inner.config.durability == Durability::Always;
    let path = write.path.clone();
    let (file, created) = match &write.file {
        Some(file) => (file.clone(), false),
        None => {
            let file = inner.storage.open(&path, OpenMode::CREATE).await.map_err(|e| StorageError::io(&path, e))?;
            (Rc::new(file), true)
        }
    };
    let written = write_offset(inner, &file, &path, write.sequence, offset, write.slot, always && created).await;
    if let Err(error) = written {
        if created {
            // Leave no empty or half-written file behind for the next open to trip on.
            let _ = inner.storage.remove_file(&path);
        }
        return Err(error);
    }
    inner.state.borrow_mut().offsets.insert(key, offset, write, file, always);
    Ok(())
}

async fn write_offset<S: Storage>(
    inner: &Inner<S>,
    file: &S::File,
    path: &Path,
    sequence: u64,
    offset: u64,
    slot: u64,
    sync: bool,
) -> Result<()> {
    let (result, _) = file.write_all_at(encode(sequence, offset), slot).await;
    result.map_err(|e| StorageError::io(path, e))?;
    if inner.config.durability == Durability::Always {
        file.sync_data().await.map_err(|e| StorageError::io(path, e))?;
    }
    if sync && let Some(dir) = path.parent() {
        sync_dir(inner, dir).await?;
    }
    Ok(())
}

async fn delete_offset<S: Storage>(inner: &Inner<S>, key: ConsumerKey) -> Result<bool> {
    let Some(path) = inner.state.borrow_mut().offsets.remove(key) else {
        return Ok(false);
    };
    inner.storage.remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
    if inner.config.durability == Durability::Always
        && let Some(dir) = path.parent()
    {
        sync_dir(inner, dir).await?;
    }
    Ok(true)
}

/// Deletes the `count` oldest segments, never the active one.
async fn remove_oldest<S: Storage>(inner: &Inner<S>, count: usize) -> Result<Removed> {
    let removed = {
        let mut state = inner.state.borrow_mut();
        let count = count.min(state.segments.len().saturating_sub(1));
        let removed: Vec<_> = state.segments.drain(..count).collect();
        let first = state.first_offset();
        state.cache.drop_before(first);
        removed
    };
    let mut totals = Removed::default();
    for segment in &removed {
        totals.segments += 1;
        totals.bytes += segment.size;
        totals.messages += segment.end_offset - segment.entries.first().map_or(segment.end_offset, |e| e.base_offset);
        for path in [&segment.log_path, &segment.index_path] {
            inner.storage.remove_file(path).map_err(|e| StorageError::io(path, e))?;
        }
    }
    if !removed.is_empty() && inner.config.durability == Durability::Always {
        sync_dir(inner, &inner.dir).await?;
    }
    Ok(totals)
}

async fn retain<S: Storage>(inner: &Inner<S>, policy: RetentionPolicy, now_micros: u64) -> Result<Removed> {
    let count = {
        let state = inner.state.borrow();
        let closed = &state.segments[..state.segments.len() - 1];
        let mut total: u64 = state.segments.iter().map(|s| s.size).sum();
        let mut count = 0;
        for segment in closed {
            let expired = policy.max_age.is_some_and(|age| {
                let newest = segment.last_timestamp().unwrap_or(0);
                newest.saturating_add(age.as_micros() as u64) < now_micros
            });
            let too_big = policy.max_size.is_some_and(|max| total > max);
            if !(expired || too_big) {
                break;
            }
            total -= segment.size;
            count += 1;
        }
        count
    };
    remove_oldest(inner, count).await
}

async fn delete_oldest<S: Storage>(inner: &Rc<Inner<S>>, count: u32) -> Result<Removed> {
    let segments = inner.state.borrow().segments.len();
    if count as usize >= segments {
        return purge(inner).await;
    }
    remove_oldest(inner, count as usize).await
}

/// Deletes every record. A fresh segment starts at the next offset unless the active one is
/// still empty (it already starts there).
async fn purge<S: Storage>(inner: &Rc<Inner<S>>) -> Result<Removed> {
    let active_is_empty = inner.state.borrow().segments.last().is_some_and(|s| s.size == 0);
    if !active_is_empty {
        let next_offset = inner.state.borrow().next_offset;
        let segment = Partition::create_segment(&inner.storage, &inner.dir, next_offset, &inner.config).await?;
        inner.state.borrow_mut().segments.push(segment);
    }
    let count = inner.state.borrow().segments.len() - 1;
    let removed = remove_oldest(inner, count).await?;
    inner.state.borrow_mut().cache.clear();
    Ok(removed)
}

async fn close<S: Storage>(inner: &Inner<S>) -> Result<()> {
    wait_for_closing(inner).await?;
    let closing = {
        let mut state = inner.state.borrow_mut();
        state.closed = true;
        let active = state.segments.last().expect("active segment");
        Closing {
            base: active.base_offset,
            log: active.log.clone(),
            index: active.index.clone(),
            size: active.size,
            upto: active.entries.len(),
        }
    };
    close_segment(inner, closing).await?;
    let next_offset = {
        let mut state = inner.state.borrow_mut();
        state.visible_end = state.next_offset;
        state.unsynced = false;
        state.next_offset
    };
    sync_offsets(inner).await?;
    tracing::debug!(partition_id = inner.partition_id, next_offset, "partition closed");
    Ok(())
}
