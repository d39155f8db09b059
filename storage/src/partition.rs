//! The partition log: its public API, its state and how it is opened and recovered.
//!
//! A [`Partition`] lives on the shard that owns it (it is neither `Send` nor `Sync`). Every
//! change — appends, syncs, offset stores, retention, purge, close — is queued and applied in
//! order by one flusher task, so no two writers ever race and appends that queue up while a
//! write or sync is in flight are written and synced together (group commit). Reads run
//! concurrently and see only records below the visible end.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use local_sync::oneshot;
use whippet_protocol::batch::{self, Verify};

use crate::cache::TailCache;
use crate::config::{Durability, PartitionConfig};
use crate::direct::AlignedBuf;
use crate::error::{Result, StorageError};
use crate::io::{Storage, UringStorage};
use crate::offsets::{ConsumerKey, ConsumerOffsets};
use crate::segment::{self, Segment};

/// An acknowledged append: the offsets the record received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: u64,
    pub count: u32,
    pub base_timestamp: u64,
}

/// What opening a partition found and repaired; the server logs it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: usize,
    /// Segments whose records were read and validated (the last one, and any closed segment
    /// whose index did not agree with its size).
    pub segments_scanned: usize,
    pub records_scanned: u64,
    pub bytes_truncated: u64,
    /// Why the log was cut, with the segment's base offset.
    pub truncations: Vec<(u64, String)>,
    /// Index entries written anew for records found by scanning.
    pub index_entries_rebuilt: u64,
    /// Base offsets of segments deleted because records before them were lost.
    pub segments_dropped: Vec<u64>,
    pub offsets_loaded: usize,
    pub offsets_unreadable: usize,
    pub next_offset: u64,
}

impl RecoveryReport {
    /// Whether nothing had to be repaired.
    pub fn is_clean(&self) -> bool {
        self.bytes_truncated == 0 && self.offsets_unreadable == 0 && self.segments_dropped.is_empty()
    }
}

/// Sizes and offsets of a partition, for stats and metadata replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionStats {
    /// First offset still stored (equal to `next_offset` when empty).
    pub first_offset: u64,
    /// Offset the next message will get; every visible offset is below it.
    pub next_offset: u64,
    pub size_bytes: u64,
    pub segments: u32,
    pub cache_bytes: usize,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// The partition failed and refuses changes (reads go on); see [`StorageError::Failed`].
    pub failed: bool,
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T>>;

pub(crate) enum Op {
    Append { record: BytesMut, count: u32, reply: Reply<Appended> },
    Sync { reply: Option<Reply<()>> },
    StoreOffset { key: ConsumerKey, offset: u64, reply: Reply<()> },
    DeleteOffset { key: ConsumerKey, reply: Reply<bool> },
    Retain { policy: RetentionPolicy, now_micros: u64, reply: Reply<Removed> },
    DeleteSegments { count: u32, reply: Reply<Removed> },
    Purge { reply: Reply<Removed> },
    Close { reply: Reply<()> },
}

/// What retention may delete. Only closed segments are deleted, whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Delete a segment once its newest message is older than this.
    pub max_age: Option<Duration>,
    /// Delete the oldest segments while the partition is larger than this.
    pub max_size: Option<u64>,
}

/// What a deletion removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub segments: u32,
    pub bytes: u64,
    pub messages: u64,
}

/// Why a partition refuses changes, and whether it will try to recover by itself.
pub(crate) struct Failure {
    pub reason: String,
    /// When to try recovering in place (a full disk); `None`: only a reopen recovers it.
    pub retry_at: Option<Instant>,
}

impl Failure {
    pub fn error(&self) -> StorageError {
        StorageError::Failed { reason: self.reason.clone(), no_space: self.retry_at.is_some() }
    }
}

pub(crate) struct State<F> {
    pub segments: Vec<Segment<F>>,
    /// Offset the next appended message gets.
    pub next_offset: u64,
    /// Offsets below this may be read. Under `always` it trails `next_offset` until the sync.
    pub visible_end: u64,
    pub last_timestamp: u64,
    pub queue: VecDeque<Op>,
    pub flusher_running: bool,
    pub failed: Option<Failure>,
    pub closed: bool,
    /// Records written since the last sync.
    pub unsynced: bool,
    pub cache: TailCache,
    pub offsets: ConsumerOffsets<F>,
    pub direct_scratch: Option<AlignedBuf>,
    /// Rolled segments still being synced in the background (`interval`, `never`).
    pub closing: Vec<monoio::task::JoinHandle<()>>,
}

pub(crate) struct Inner<S: Storage> {
    pub storage: S,
    pub dir: PathBuf,
    pub partition_id: u32,
    pub config: PartitionConfig,
    pub state: RefCell<State<S::File>>,
}

/// One partition's log. Cheap to clone (shared handle); owned by one shard.
pub struct Partition<S: Storage = UringStorage> {
    pub(crate) inner: Rc<Inner<S>>,
}

impl<S: Storage> Clone for Partition<S> {
    fn clone(&self) -> Self {
        Partition { inner: self.inner.clone() }
    }
}

pub(crate) fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

impl<S: Storage> Partition<S> {
    /// Opens the partition in `dir` (creating it when empty), recovering from a crash if there
    /// was one. Must run inside a monoio runtime; `interval` durability needs its timer.
    pub async fn open(
        storage: S,
        dir: &Path,
        partition_id: u32,
        config: PartitionConfig,
    ) -> Result<(Self, RecoveryReport)> {
        storage.create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        let mut report = RecoveryReport::default();
        let mut bases: Vec<u64> = storage
            .list_files(dir)
            .map_err(|e| StorageError::io(dir, e))?
            .iter()
            .filter_map(|name| segment::parse_log_name(name))
            .collect();
        bases.sort_unstable();
        let verify = Verify { frame_checksums: config.verify_checksums, batch_checksum: true };
        let mut segments = Vec::with_capacity(bases.len().max(1));
        for (i, &base) in bases.iter().enumerate() {
            let last = i + 1 == bases.len();
            let mut segment = Segment::open(&storage, dir, base, false, config.direct_io && last).await?;
            if last || !segment::load_closed(&mut segment).await? {
                scan_segment(&mut segment, partition_id, verify, !last, &mut report).await?;
            }
            // A segment that does not end where the next begins lost records (a power cut
            // before its background close finished, or a failed sync whose pages the kernel
            // dropped): what follows cannot be dense, so the log keeps the prefix, as Kafka's
            // recovery does. A closed segment trusted by its index can end short too.
            let next_base = bases.get(i + 1).copied();
            if let Some(next_base) = next_base.filter(|&next| next != segment.end_offset) {
                let dropped = &bases[i + 1..];
                tracing::warn!(
                    partition_id,
                    segment = base,
                    end = segment.end_offset,
                    next_base,
                    dropped = dropped.len(),
                    "gap after segment: dropping the segments after it"
                );
                for &gone in dropped {
                    for path in [dir.join(segment::log_name(gone)), dir.join(segment::index_name(gone))] {
                        storage.remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
                    }
                }
                storage.sync_dir(dir).await.map_err(|e| StorageError::io(dir, e))?;
                report.segments_dropped.extend_from_slice(dropped);
                if config.direct_io {
                    segment.open_direct(&storage).await?;
                }
                segments.push(segment);
                break;
            }
            segments.push(segment);
        }
        if segments.is_empty() {
            segments.push(Self::create_segment(&storage, dir, 0, &config).await?);
        }
        // Recovery synced whatever it kept.
        segments.iter_mut().for_each(|s| s.synced_size = s.size);
        let next_offset = segments.last().map_or(0, |s| s.end_offset);
        let last_timestamp = segments.iter().rev().find_map(|s| s.last_timestamp()).unwrap_or(0);
        let (offsets, loaded) = ConsumerOffsets::load(&storage, dir).await?;
        report.segments = segments.len();
        report.offsets_loaded = loaded.loaded;
        report.offsets_unreadable = loaded.unreadable;
        report.next_offset = next_offset;
        let state = State {
            segments,
            next_offset,
            visible_end: next_offset,
            last_timestamp,
            queue: VecDeque::new(),
            flusher_running: false,
            failed: None,
            closed: false,
            unsynced: false,
            cache: TailCache::new(config.cache_size),
            offsets,
            direct_scratch: None,
            closing: Vec::new(),
        };
        let inner =
            Rc::new(Inner { storage, dir: dir.to_path_buf(), partition_id, config, state: RefCell::new(state) });
        if let Durability::Interval(every) = inner.config.durability {
            monoio::spawn(run_saver(Rc::downgrade(&inner), every));
        }
        Ok((Partition { inner }, report))
    }

    pub(crate) async fn create_segment(
        storage: &S,
        dir: &Path,
        base: u64,
        config: &PartitionConfig,
    ) -> Result<Segment<S::File>> {
        let segment = Segment::open(storage, dir, base, true, config.direct_io).await?;
        // The new file's directory entry must survive a crash before anything in it is acked.
        storage.sync_dir(dir).await.map_err(|e| StorageError::io(dir, e))?;
        Ok(segment)
    }

    /// Validates `record` (a 0.11 batch record as sent by a producer), stamps it with this
    /// partition's id, the next offset and the append time, and appends it. Resolves when the
    /// record is written, and under `always` when it is synced too.
    pub async fn append(&self, record: BytesMut) -> Result<Appended> {
        let checks = self.inner.config.verify_checksums;
        let verify = Verify { frame_checksums: checks, batch_checksum: checks };
        let header = batch::validate(&record, verify)?;
        self.submit(|reply| Op::Append { record, count: header.message_count, reply }).await
    }

    /// Writes and syncs everything appended so far (and persists the index).
    pub async fn sync(&self) -> Result<()> {
        self.submit(|reply| Op::Sync { reply: Some(reply) }).await
    }

    /// Stores a consumer's offset, durable under the partition's policy. The offset must be one
    /// that exists.
    pub async fn store_offset(&self, key: ConsumerKey, offset: u64) -> Result<()> {
        self.submit(|reply| Op::StoreOffset { key, offset, reply }).await
    }

    /// The offset stored for `key`, if any.
    pub fn stored_offset(&self, key: ConsumerKey) -> Option<u64> {
        self.inner.state.borrow().offsets.get(key)
    }

    /// Deletes a stored offset; `false` when there was none.
    pub async fn delete_offset(&self, key: ConsumerKey) -> Result<bool> {
        self.submit(|reply| Op::DeleteOffset { key, reply }).await
    }

    /// Deletes closed segments that `policy` rules out; `now_micros` is the current time.
    pub async fn apply_retention(&self, policy: RetentionPolicy, now_micros: u64) -> Result<Removed> {
        self.submit(|reply| Op::Retain { policy, now_micros, reply }).await
    }

    /// Deletes the `count` oldest segments; deleting all of them is a purge.
    pub async fn delete_oldest_segments(&self, count: u32) -> Result<Removed> {
        self.submit(|reply| Op::DeleteSegments { count, reply }).await
    }

    /// Deletes every record; the next append still gets the next offset.
    pub async fn purge(&self) -> Result<Removed> {
        self.submit(|reply| Op::Purge { reply }).await
    }

    /// Writes and syncs everything, persists the indexes and refuses further changes.
    pub async fn close(&self) -> Result<()> {
        self.submit(|reply| Op::Close { reply }).await
    }

    pub fn partition_id(&self) -> u32 {
        self.inner.partition_id
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Sizes, offsets and cache figures.
    pub fn stats(&self) -> PartitionStats {
        let state = self.inner.state.borrow();
        PartitionStats {
            first_offset: state.first_offset(),
            next_offset: state.visible_end,
            size_bytes: state.segments.iter().map(|s| s.size).sum(),
            segments: state.segments.len() as u32,
            cache_bytes: state.cache.len_bytes(),
            cache_hits: state.cache.hits,
            cache_misses: state.cache.misses,
            failed: state.failed.is_some(),
        }
    }

    async fn submit<T>(&self, op: impl FnOnce(Reply<T>) -> Op) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        {
            let mut state = self.inner.state.borrow_mut();
            if state.closed {
                return Err(StorageError::Closed);
            }
            state.queue.push_back(op(reply));
            if !state.flusher_running {
                state.flusher_running = true;
                monoio::spawn(crate::flusher::run(self.inner.clone()));
            }
        }
        answer.await.unwrap_or(Err(StorageError::Closed))
    }
}

impl<F: crate::io::LogFile> State<F> {
    pub fn first_offset(&self) -> u64 {
        self.segments
            .iter()
            .find_map(|s| s.entries.first().map(|e| e.base_offset))
            .unwrap_or(self.visible_end)
            .min(self.visible_end)
    }
}

/// Scans a segment's records (from its last trusted index entry, or all of them when `full`),
/// cuts a damaged tail and makes the records found durable before writing their index entries,
/// so an entry on disk always describes synced data.
async fn scan_segment<F: crate::io::LogFile>(
    segment: &mut Segment<F>,
    partition_id: u32,
    verify: Verify,
    full: bool,
    report: &mut RecoveryReport,
) -> Result<()> {
    let base = segment.base_offset;
    let outcome = segment::recover(segment, partition_id, verify, full).await?;
    report.segments_scanned += 1;
    report.records_scanned += outcome.records;
    report.bytes_truncated += outcome.truncated_bytes;
    if let Some(reason) = outcome.reason {
        tracing::warn!(partition_id, segment = base, truncated = outcome.truncated_bytes, %reason, "truncated segment");
        report.truncations.push((base, reason));
    }
    if segment.entries.len() > segment.persisted {
        report.index_entries_rebuilt += (segment.entries.len() - segment.persisted) as u64;
        sync_and_persist_index(segment).await?;
    }
    Ok(())
}

pub(crate) async fn sync_and_persist_index<F: crate::io::LogFile>(segment: &mut Segment<F>) -> Result<()> {
    segment.log.sync_data().await.map_err(|e| StorageError::io(&segment.log_path, e))?;
    let upto = segment.entries.len();
    segment.persist_index(upto).await.map_err(|e| StorageError::io(&segment.index_path, e))
}

/// The `interval` saver: asks the flusher for a sync every period while the partition lives.
async fn run_saver<S: Storage>(inner: Weak<Inner<S>>, every: Duration) {
    loop {
        monoio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else { return };
        let mut state = inner.state.borrow_mut();
        if state.closed {
            return;
        }
        if !(state.unsynced || state.offsets.has_dirty()) {
            continue;
        }
        state.queue.push_back(Op::Sync { reply: None });
        if !state.flusher_running {
            state.flusher_running = true;
            monoio::spawn(crate::flusher::run(inner.clone()));
        }
    }
}
