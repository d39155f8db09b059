//! One segment: `{base_offset:020}.log` holding records back to back, and
//! `{base_offset:020}.index` holding one [`IndexEntry`] per record.
//!
//! Lives on the shard that owns the partition; not `Send`.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;
use whippet_protocol::batch::{self, BATCH_HEADER_SIZE, BatchHeader, Verify};

use crate::direct::{AlignedBuf, round_down};
use crate::error::{Result, StorageError};
use crate::index::{self, ENTRY_SIZE, IndexEntry};
use crate::io::{LogFile, OpenMode, Storage};

pub(crate) fn log_name(base_offset: u64) -> String {
    format!("{base_offset:020}.log")
}

pub(crate) fn index_name(base_offset: u64) -> String {
    format!("{base_offset:020}.index")
}

/// Parses `{base_offset:020}.log` names.
pub(crate) fn parse_log_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    (digits.len() == 20).then(|| digits.parse().ok()).flatten()
}

pub(crate) struct Segment<F> {
    pub base_offset: u64,
    /// One past the last offset written into this segment.
    pub end_offset: u64,
    /// Bytes of records written (the file may be longer while O_DIRECT padding is present).
    pub size: u64,
    /// Bytes known to be on the disk: covered by the last successful sync of the log.
    pub synced_size: u64,
    pub entries: Vec<IndexEntry>,
    /// Entries already written to the index file.
    pub persisted: usize,
    pub log: Rc<F>,
    pub index: Rc<F>,
    pub log_path: PathBuf,
    pub index_path: PathBuf,
    /// For O_DIRECT: a second descriptor for writes; reads stay buffered on `log`.
    pub direct: Option<Rc<F>>,
}

impl<F: LogFile> Segment<F> {
    /// Opens (or creates) the files of the segment starting at `base_offset`.
    pub async fn open<S: Storage<File = F>>(
        storage: &S,
        dir: &Path,
        base_offset: u64,
        create: bool,
        direct: bool,
    ) -> Result<Segment<F>> {
        let log_path = dir.join(log_name(base_offset));
        let index_path = dir.join(index_name(base_offset));
        let mode = OpenMode { create, direct: false };
        let log = storage.open(&log_path, mode).await.map_err(|e| StorageError::io(&log_path, e))?;
        let index = storage.open(&index_path, OpenMode::CREATE).await.map_err(|e| StorageError::io(&index_path, e))?;
        if create {
            // A leftover file of a segment deleted at this base (a crash mid-delete) must not
            // leak old bytes into the new one.
            log.set_len(0).await.map_err(|e| StorageError::io(&log_path, e))?;
            index.set_len(0).await.map_err(|e| StorageError::io(&index_path, e))?;
        }
        let direct = if direct {
            let file = storage
                .open(&log_path, OpenMode { create: false, direct: true })
                .await
                .map_err(|e| StorageError::io(&log_path, e))?;
            Some(Rc::new(file))
        } else {
            None
        };
        Ok(Segment {
            base_offset,
            end_offset: base_offset,
            size: 0,
            synced_size: 0,
            entries: Vec::new(),
            persisted: 0,
            log: Rc::new(log),
            index: Rc::new(index),
            log_path,
            index_path,
            direct,
        })
    }

    /// Opens the O_DIRECT write descriptor of a segment that becomes the active one.
    pub async fn open_direct<S: Storage<File = F>>(&mut self, storage: &S) -> Result<()> {
        let mode = OpenMode { create: false, direct: true };
        let file = storage.open(&self.log_path, mode).await.map_err(|e| StorageError::io(&self.log_path, e))?;
        self.direct = Some(Rc::new(file));
        Ok(())
    }

    /// Byte range and offset range of the record at entry `at`.
    pub fn record_span(&self, at: usize) -> (u64, u64, u64, u64) {
        let entry = self.entries[at];
        let next = self.entries.get(at + 1);
        let end_position = next.map_or(self.size, |n| n.position);
        let end_offset = next.map_or(self.end_offset, |n| n.base_offset);
        (entry.position, end_position, entry.base_offset, end_offset)
    }

    /// Timestamp of the newest record, if any.
    pub fn last_timestamp(&self) -> Option<u64> {
        self.entries.last().map(|e| e.base_timestamp)
    }

    /// The handles needed to append to this segment, usable without borrowing it.
    pub fn writer(&self) -> SegmentWriter<F> {
        SegmentWriter { log: self.log.clone(), direct: self.direct.clone(), size: self.size }
    }

    /// The index entries `persisted..upto` encoded, with the file and position to write them.
    pub fn index_tail(&self, upto: usize) -> Option<(Rc<F>, Vec<u8>, u64)> {
        if upto <= self.persisted {
            return None;
        }
        let mut raw = Vec::with_capacity((upto - self.persisted) * ENTRY_SIZE);
        self.entries[self.persisted..upto].iter().for_each(|e| e.encode_into(&mut raw));
        Some((self.index.clone(), raw, (self.persisted * ENTRY_SIZE) as u64))
    }

    /// Appends the index entries not yet in the index file.
    pub async fn persist_index(&mut self, upto: usize) -> std::io::Result<()> {
        if upto <= self.persisted {
            return Ok(());
        }
        let mut raw = Vec::with_capacity((upto - self.persisted) * ENTRY_SIZE);
        self.entries[self.persisted..upto].iter().for_each(|e| e.encode_into(&mut raw));
        let (result, _) = self.index.write_all_at(raw, (self.persisted * ENTRY_SIZE) as u64).await;
        result?;
        self.persisted = upto;
        Ok(())
    }
}

/// Appends records at the end of a segment's log.
pub(crate) struct SegmentWriter<F> {
    pub log: Rc<F>,
    direct: Option<Rc<F>>,
    pub size: u64,
}

impl<F: LogFile> SegmentWriter<F> {
    /// Writes `records` (already stamped) at the end of the log. On error the file may hold a
    /// partial write past `self.size`; the caller truncates it.
    pub async fn write(&self, records: &[Bytes], scratch: &mut Option<AlignedBuf>) -> std::io::Result<()> {
        match &self.direct {
            Some(direct) => self.write_direct(direct, records, scratch).await,
            None => self.write_buffered(records).await,
        }
    }

    async fn write_buffered(&self, records: &[Bytes]) -> std::io::Result<()> {
        // Small records are coalesced so a burst of tiny appends costs one write, not many.
        let mut position = self.size;
        let mut writes = Vec::new();
        let mut coalesced: Vec<u8> = Vec::new();
        let mut coalesced_at = position;
        for record in records {
            if record.len() >= COALESCE_BELOW {
                if !coalesced.is_empty() {
                    writes.push(self.log.write_all_at(Bytes::from(std::mem::take(&mut coalesced)), coalesced_at));
                }
                writes.push(self.log.write_all_at(record.clone(), position));
                coalesced_at = position + record.len() as u64;
            } else {
                coalesced.extend_from_slice(record);
            }
            position += record.len() as u64;
        }
        if !coalesced.is_empty() {
            writes.push(self.log.write_all_at(Bytes::from(coalesced), coalesced_at));
        }
        for (result, _) in futures_util::future::join_all(writes).await {
            result?;
        }
        Ok(())
    }

    /// O_DIRECT: rewrite the partial last block together with the new records, padded with
    /// zeros to the alignment. Recovery treats the padding as a torn tail, and roll and close
    /// cut it off with `set_len`.
    async fn write_direct(&self, file: &F, records: &[Bytes], scratch: &mut Option<AlignedBuf>) -> std::io::Result<()> {
        let aligned_start = round_down(self.size);
        let partial = (self.size - aligned_start) as usize;
        let needed = partial + records.iter().map(Bytes::len).sum::<usize>();
        let mut buf = match scratch.take() {
            Some(buf) if buf.capacity() >= needed + crate::direct::DIRECT_ALIGN => buf,
            _ => AlignedBuf::with_capacity(needed + crate::direct::DIRECT_ALIGN),
        };
        buf.clear();
        if partial > 0 {
            let head = self.log.read_exact_at(partial, aligned_start).await?;
            buf.extend_from_slice(&head);
        }
        for record in records {
            buf.extend_from_slice(record);
        }
        buf.pad_to_alignment();
        let (result, buf) = file.write_all_at(buf, aligned_start).await;
        *scratch = Some(buf);
        result
    }
}

/// Records smaller than this are copied into one buffer per write.
const COALESCE_BELOW: usize = 64 * 1024;

/// What recovery did to one segment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ScanOutcome {
    pub records: u64,
    pub truncated_bytes: u64,
    pub reason: Option<String>,
}

/// Reads a segment's files and rebuilds its in-memory state. The index is trusted up to the
/// entries that line up; records from the last trusted entry on (all records when `full`) are
/// read and validated, and the log is cut at the first bad one.
pub(crate) async fn recover<F: LogFile>(
    segment: &mut Segment<F>,
    partition_id: u32,
    verify: Verify,
    full: bool,
) -> Result<ScanOutcome> {
    let (log_len, raw) = read_files(segment).await?;
    let on_disk = index::decode_trusted(&raw, segment.base_offset, log_len);
    let mut entries = if full { Vec::new() } else { on_disk.clone() };
    // Re-validate from the last trusted record: it is the one a torn write could have hit.
    let (mut position, mut expected) = match entries.pop() {
        Some(last) => (last.position, last.base_offset),
        None => (0, segment.base_offset),
    };
    let mut outcome = ScanOutcome::default();
    let mut reader = ChunkReader::new(&*segment.log, log_len);
    while position < log_len {
        match reader.record(position, expected, partition_id, verify).await {
            Ok(Some((header, record_len))) => {
                entries.push(IndexEntry {
                    base_offset: header.base_offset,
                    base_timestamp: header.base_timestamp,
                    position,
                });
                position += record_len;
                expected = header.end_offset();
                outcome.records += 1;
            }
            Ok(None) => break,
            Err(reason) => {
                outcome.reason = Some(reason);
                break;
            }
        }
    }
    if position < log_len {
        outcome.truncated_bytes = log_len - position;
        outcome.reason.get_or_insert_with(|| "torn record at the tail".to_string());
        segment.log.set_len(position).await.map_err(|e| StorageError::io(&segment.log_path, e))?;
    }
    // Entries already on disk that the scan confirmed stay; the rest of the file is cut.
    let persisted_entries = on_disk.iter().zip(&entries).take_while(|(a, b)| a == b).count();
    if persisted_entries * ENTRY_SIZE != raw.len() {
        let len = (persisted_entries * ENTRY_SIZE) as u64;
        segment.index.set_len(len).await.map_err(|e| StorageError::io(&segment.index_path, e))?;
    }
    segment.size = position;
    segment.end_offset = expected;
    segment.entries = entries;
    segment.persisted = persisted_entries;
    Ok(outcome)
}

/// The log's length and the raw bytes of the index file.
async fn read_files<F: LogFile>(segment: &Segment<F>) -> Result<(u64, Vec<u8>)> {
    let log_len = segment.log.file_len().await.map_err(|e| StorageError::io(&segment.log_path, e))?;
    let index_len = segment.index.file_len().await.map_err(|e| StorageError::io(&segment.index_path, e))?;
    let raw = segment
        .index
        .read_exact_at(index_len as usize, 0)
        .await
        .map_err(|e| StorageError::io(&segment.index_path, e))?;
    Ok((log_len, raw))
}

/// Loads a closed segment from its index alone when the index agrees with the log: every
/// entry lines up and the last entry's record ends exactly at the end of the file. Returns
/// `false` (and changes nothing) when it does not; the segment must then be scanned.
pub(crate) async fn load_closed<F: LogFile>(segment: &mut Segment<F>) -> Result<bool> {
    let (log_len, raw) = read_files(segment).await?;
    if raw.is_empty() || raw.len() % ENTRY_SIZE != 0 {
        return Ok(false);
    }
    let entries = index::decode_trusted(&raw, segment.base_offset, log_len);
    let Some(last) = entries.last().copied() else { return Ok(false) };
    if entries.len() * ENTRY_SIZE != raw.len() || last.position + BATCH_HEADER_SIZE as u64 > log_len {
        return Ok(false);
    }
    let head = segment
        .log
        .read_exact_at(BATCH_HEADER_SIZE, last.position)
        .await
        .map_err(|e| StorageError::io(&segment.log_path, e))?;
    let header = BatchHeader::read(&head)?;
    if header.base_offset != last.base_offset || last.position + header.batch_length != log_len {
        return Ok(false);
    }
    segment.size = log_len;
    segment.end_offset = header.end_offset();
    segment.persisted = entries.len();
    segment.entries = entries;
    Ok(true)
}

/// Reads back the records that `entries` describe in `log`, whose records end at byte `size`,
/// and validates them as recovery does (lengths, checksums, offsets, partition). Returns how
/// many entries, from the first, describe intact records.
pub(crate) async fn count_intact<F: LogFile>(
    log: &F,
    entries: &[IndexEntry],
    size: u64,
    partition_id: u32,
    verify: Verify,
) -> usize {
    let mut reader = ChunkReader::new(log, size);
    for (at, entry) in entries.iter().enumerate() {
        let end = entries.get(at + 1).map_or(size, |next| next.position);
        match reader.record(entry.position, entry.base_offset, partition_id, verify).await {
            Ok(Some((_, length))) if entry.position + length == end => {}
            _ => return at,
        }
    }
    entries.len()
}

/// Reads a log sequentially in large chunks for recovery, so a segment of small records costs
/// few reads.
struct ChunkReader<'a, F> {
    file: &'a F,
    file_len: u64,
    chunk: Vec<u8>,
    chunk_start: u64,
}

const SCAN_CHUNK: usize = 4 << 20;

impl<'a, F: LogFile> ChunkReader<'a, F> {
    fn new(file: &'a F, file_len: u64) -> Self {
        ChunkReader { file, file_len, chunk: Vec::new(), chunk_start: 0 }
    }

    async fn bytes(&mut self, position: u64, len: usize) -> std::io::Result<&[u8]> {
        let chunk_end = self.chunk_start + self.chunk.len() as u64;
        if position < self.chunk_start || position + len as u64 > chunk_end {
            let want = len.max(SCAN_CHUNK).min((self.file_len - position) as usize);
            self.chunk = self.file.read_exact_at(want, position).await?;
            self.chunk_start = position;
        }
        let from = (position - self.chunk_start) as usize;
        Ok(&self.chunk[from..from + len])
    }

    /// The record at `position`: `Ok(None)` when it is cut short by the end of the file,
    /// `Err(reason)` when it is damaged or out of sequence.
    async fn record(
        &mut self,
        position: u64,
        expected_offset: u64,
        partition_id: u32,
        verify: Verify,
    ) -> Result<Option<(BatchHeader, u64)>, String> {
        let remaining = self.file_len - position;
        if remaining < BATCH_HEADER_SIZE as u64 {
            return Ok(None);
        }
        let head = self.bytes(position, BATCH_HEADER_SIZE).await.map_err(|e| e.to_string())?;
        let header = BatchHeader::read(head).map_err(|e| e.to_string())?;
        if header.batch_length < BATCH_HEADER_SIZE as u64 || header.message_count == 0 {
            return Err(format!("bad record header at byte {position}"));
        }
        if header.batch_length > remaining {
            return Ok(None);
        }
        let record = self.bytes(position, header.batch_length as usize).await.map_err(|e| e.to_string())?;
        batch::validate(record, verify).map_err(|e| format!("record at byte {position}: {e}"))?;
        if header.base_offset != expected_offset {
            return Err(format!(
                "record at byte {position} has offset {}, expected {expected_offset}",
                header.base_offset
            ));
        }
        if header.partition_id != u64::from(partition_id) {
            return Err(format!("record at byte {position} belongs to partition {}", header.partition_id));
        }
        Ok(Some((header, header.batch_length)))
    }
}
