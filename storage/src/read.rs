//! Reads: resolve where to start, then serve stored bytes — from the tail cache when the start
//! is cached, else with one io_uring read per segment run — slicing the first and last record
//! when the range starts or ends inside one. Nothing is re-encoded.

use bytes::Bytes;
use whippet_protocol::batch::{self, BATCH_HEADER_SIZE, BatchHeader, Verify};

use crate::error::{Result, StorageError};
use crate::index;
use crate::io::{LogFile, Storage};
use crate::offsets::ConsumerKey;
use crate::partition::{Partition, State};

/// Where a read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// At this offset (the first stored one if it was deleted).
    Offset(u64),
    /// At the first message appended at or after this time (µs).
    Timestamp(u64),
    /// At the first stored message.
    First,
    /// The last `count` messages.
    Last,
    /// After the consumer's stored offset, or at the first message when none is stored.
    Next(ConsumerKey),
}

/// The result of a read: stored record bytes, ready to be written to a socket in order.
#[derive(Debug, Clone, Default)]
pub struct Polled {
    /// Offset of the first message served (meaningless when `count` is 0).
    pub first_offset: u64,
    /// Number of messages served.
    pub count: u32,
    /// Record bytes; a sliced record is two chunks (fresh header, then its frames).
    pub chunks: Vec<Bytes>,
    /// One past the last offset that can be read now.
    pub next_offset: u64,
}

impl Polled {
    /// Offset of the last message served.
    pub fn last_offset(&self) -> Option<u64> {
        (self.count > 0).then(|| self.first_offset + u64::from(self.count) - 1)
    }

    /// Total bytes of the chunks.
    pub fn len_bytes(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum()
    }
}

/// A disk read planned while the state was borrowed.
struct DiskRun<F> {
    log: std::rc::Rc<F>,
    /// (record position, record length, base offset, message count) per record.
    records: Vec<(u64, u64, u64, u64)>,
}

impl<S: Storage> Partition<S> {
    /// Reads up to `count` messages starting where `from` says.
    pub async fn read(&self, from: ReadFrom, count: u32) -> Result<Polled> {
        let (start, end) = {
            let state = self.inner.state.borrow();
            let start = resolve_start(&state, from, count);
            (start, state.visible_end.min(start.saturating_add(u64::from(count))))
        };
        let mut polled = Polled { first_offset: start, count: 0, chunks: Vec::new(), next_offset: end };
        let max_bytes = self.inner.config.max_read_size;
        let mut cursor = start;
        while cursor < end && (polled.chunks.is_empty() || polled.len_bytes() < max_bytes) {
            let run = {
                let mut state = self.inner.state.borrow_mut();
                if serve_from_cache(&mut state, &mut polled, &mut cursor, end, max_bytes) {
                    break;
                }
                state.cache.misses += 1;
                plan_disk_run(&state, &mut cursor, end, max_bytes.saturating_sub(polled.len_bytes()))
            };
            let Some(run) = run else { break };
            self.serve_from_disk(run, &mut polled, &mut cursor, end).await?;
        }
        polled.next_offset = self.inner.state.borrow().visible_end;
        Ok(polled)
    }

    async fn serve_from_disk(
        &self,
        run: DiskRun<S::File>,
        polled: &mut Polled,
        cursor: &mut u64,
        end: u64,
    ) -> Result<()> {
        let (first_position, ..) = run.records[0];
        let total: u64 = run.records.iter().map(|r| r.1).sum();
        let raw =
            run.log.read_exact_at(total as usize, first_position).await.map_err(|e| StorageError::io(self.dir(), e))?;
        let mut raw = Bytes::from(raw);
        // Bytes from disk are checked in full (bit rot, a bad sector): a corrupt record is an
        // error, never data. Cached bytes were checked on append.
        let checks = self.inner.config.verify_checksums;
        let verify = Verify { frame_checksums: checks, batch_checksum: checks };
        for (position, len, base_offset, count) in run.records {
            let record = raw.split_to(len as usize);
            let header = checked_header(&record, base_offset, count, verify)
                .map_err(|reason| StorageError::Corrupt { path: self.dir().to_path_buf(), position, reason })?;
            push_record(polled, &record, header.base_offset, count, *cursor, end);
            *cursor = base_offset + count;
        }
        Ok(())
    }
}

/// Checks that bytes read from disk are the record the index promised.
fn checked_header(record: &Bytes, base_offset: u64, count: u64, verify: Verify) -> Result<BatchHeader, String> {
    let header = batch::validate(record, verify).map_err(|e| e.to_string())?;
    if header.base_offset != base_offset || u64::from(header.message_count) != count {
        return Err(format!(
            "record holds offsets {}+{}, index says {base_offset}+{count}",
            header.base_offset, header.message_count
        ));
    }
    Ok(header)
}

fn resolve_start<F: LogFile>(state: &State<F>, from: ReadFrom, count: u32) -> u64 {
    let first = state.first_offset();
    let end = state.visible_end;
    match from {
        ReadFrom::Offset(offset) => offset.max(first),
        ReadFrom::First => first,
        ReadFrom::Last => end.saturating_sub(u64::from(count)).max(first),
        ReadFrom::Next(key) => state.offsets.get(key).map_or(first, |stored| (stored + 1).max(first)),
        ReadFrom::Timestamp(timestamp) => state
            .segments
            .iter()
            .find_map(|s| index::entry_for_timestamp(&s.entries, timestamp).map(|at| s.entries[at].base_offset))
            .unwrap_or(end)
            .max(first),
    }
}

/// Serves from the tail cache if it holds `cursor`; returns whether the read is complete.
fn serve_from_cache<F: LogFile>(
    state: &mut State<F>,
    polled: &mut Polled,
    cursor: &mut u64,
    end: u64,
    max_bytes: usize,
) -> bool {
    let Some(records) = state.cache.starting_at(*cursor) else {
        return false;
    };
    for record in records {
        if *cursor >= end || (!polled.chunks.is_empty() && polled.len_bytes() >= max_bytes) {
            break;
        }
        push_record(polled, &record.bytes, record.base_offset, u64::from(record.count), *cursor, end);
        *cursor = record.end_offset();
    }
    state.cache.hits += 1;
    true
}

/// Chooses the records to read from disk next: from the one holding `cursor` (or the next
/// one, past a gap) on through the same segment, up to `end` and about `max_bytes`.
fn plan_disk_run<F: LogFile>(state: &State<F>, cursor: &mut u64, end: u64, max_bytes: usize) -> Option<DiskRun<F>> {
    let segment = state.segments.iter().find(|s| s.end_offset > *cursor && !s.entries.is_empty())?;
    let mut at = index::entry_for_offset(&segment.entries, *cursor).unwrap_or(0);
    *cursor = (*cursor).max(segment.entries[at].base_offset);
    let mut records = Vec::new();
    let mut bytes = 0u64;
    while at < segment.entries.len() {
        let (start_position, end_position, base_offset, end_offset) = segment.record_span(at);
        if base_offset >= end || (!records.is_empty() && bytes >= max_bytes as u64) {
            break;
        }
        let len = end_position - start_position;
        records.push((start_position, len, base_offset, end_offset - base_offset));
        bytes += len;
        at += 1;
    }
    (!records.is_empty()).then(|| DiskRun { log: segment.log.clone(), records })
}

/// Adds one stored record to the result, sliced to the offsets `cursor..end`.
fn push_record(polled: &mut Polled, record: &Bytes, base_offset: u64, count: u64, cursor: u64, end: u64) {
    let record_end = base_offset + count;
    let from = cursor.max(base_offset);
    let to = end.min(record_end);
    if from >= to {
        return;
    }
    if polled.count == 0 {
        polled.first_offset = from;
    }
    polled.count += (to - from) as u32;
    if from == base_offset && to == record_end {
        polled.chunks.push(record.clone());
        return;
    }
    let delta = |offset: u64| (offset - base_offset) as u32;
    if let Some(sliced) = batch::slice(record, delta(from), delta(to)) {
        debug_assert!(sliced.header.len() == BATCH_HEADER_SIZE);
        polled.chunks.push(sliced.header);
        polled.chunks.push(sliced.frames);
    }
}
