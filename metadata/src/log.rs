//! The durable metadata event log, `{dir}/events.log`, owned by the metadata leader (shard 0).
//!
//! # Format
//! Records back to back from byte 0, each:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | `length` u32 LE: bytes of the payload |
//! | 4..12 | `version` u64 LE: 1 for the first record, then +1 each |
//! | 12..20 | `checksum` u64 LE: xxh3_64 (seed 0) of `version` (8 bytes LE) followed by the payload |
//! | 20.. | payload: the [`Event`] in postcard |
//!
//! # Durability
//! [`EventLog::append`] writes one record and `fdatasync`s before it returns: an event is
//! acknowledged, applied and broadcast only once it is durable. A new log file's directory
//! entry is synced when the file is created.
//!
//! # Recovery
//! [`EventLog::open`] replays records in order. The first record that is short, oversized or
//! fails its checksum ends the log: that tail was being written when the power went (or
//! rotted), so it is cut (`set_len` + sync) and reported. A record whose checksum holds but
//! whose version is not the next one, or whose payload does not decode, was written whole by
//! someone else's rules: open refuses it rather than drop acknowledged events.
//!
//! After a failed write the file is cut back to its last record and the append fails with
//! [`LogError::WriteUndone`]: the log is as it was, so a full disk refuses that change only and
//! the next append may succeed. After a failed sync (or a failed cut) nothing is known of what
//! reached the disk, so the log refuses every later append ([`LogError::Poisoned`]) and the
//! server should stop.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;
use whippet_storage::io::{LogFile, OpenMode, Storage};
use xxhash_rust::xxh3::Xxh3;

use crate::event::Event;

/// File name of the log inside its directory.
pub const LOG_FILE_NAME: &str = "events.log";
/// Bytes before each payload.
pub const RECORD_HEADER_BYTES: usize = 20;
/// Largest payload a record may carry; a longer length field is damage.
pub const PAYLOAD_MAX_BYTES: usize = 16 << 20;

#[derive(Debug, Error)]
pub enum LogError {
    #[error("metadata log I/O on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// The write of a record failed and was cut back: the log is exactly as before the append.
    #[error("metadata log write on {path} failed and was undone: {source}")]
    WriteUndone { path: PathBuf, source: io::Error },
    #[error("metadata log record at byte {position} has version {found}, expected {expected}")]
    VersionGap { position: u64, expected: u64, found: u64 },
    #[error("metadata log record of version {version} at byte {position} does not decode: {reason}")]
    Undecodable { position: u64, version: u64, reason: String },
    #[error("event of version {version} does not encode: {reason}")]
    Unencodable { version: u64, reason: String },
    #[error("event of version {version} encodes to {length_bytes} bytes, over the record limit")]
    EventTooLarge { version: u64, length_bytes: usize },
    #[error("metadata log is poisoned by an earlier failed sync; restart to recover")]
    Poisoned,
}

impl LogError {
    /// Whether the error came from a full disk (ENOSPC or EDQUOT).
    pub fn is_no_space(&self) -> bool {
        match self {
            LogError::Io { source, .. } | LogError::WriteUndone { source, .. } => {
                matches!(source.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
            }
            _ => false,
        }
    }
}

/// Why the tail of the log was cut on open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailDamage {
    /// Fewer bytes left than a record header.
    ShortHeader,
    /// The length field is over [`PAYLOAD_MAX_BYTES`].
    Oversized { length_bytes: u64 },
    /// The payload runs past the end of the file.
    ShortPayload,
    /// The checksum does not match.
    Checksum,
}

/// What [`EventLog::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Records replayed.
    pub records: u64,
    /// Version of the last record replayed (0 = none).
    pub last_version: u64,
    /// Bytes of valid records kept.
    pub valid_bytes: u64,
    /// Bytes cut from the end, and why; `None` when the log ended cleanly.
    pub truncated: Option<(u64, TailDamage)>,
}

/// The leader's append-only event log. Lives on shard 0; its futures run on that runtime.
pub struct EventLog<S: Storage> {
    path: PathBuf,
    file: S::File,
    end_bytes: u64,
    last_version: u64,
    poisoned: bool,
}

impl<S: Storage> std::fmt::Debug for EventLog<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("path", &self.path)
            .field("end_bytes", &self.end_bytes)
            .field("last_version", &self.last_version)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

impl<S: Storage> EventLog<S> {
    /// Opens (or creates) `{dir}/events.log`, replays it and cuts a damaged tail.
    pub async fn open(storage: S, dir: &Path) -> Result<(EventLog<S>, Vec<(u64, Event)>, OpenReport), LogError> {
        let path = dir.join(LOG_FILE_NAME);
        let io_error = |source| LogError::Io { path: path.clone(), source };
        storage.create_dir_all(dir).map_err(io_error)?;
        let existed = storage.list_files(dir).map_err(io_error)?.iter().any(|name| name == LOG_FILE_NAME);
        let file = storage.open(&path, OpenMode::CREATE).await.map_err(io_error)?;
        if !existed {
            storage.sync_dir(dir).await.map_err(io_error)?;
            // The directory itself may be new too.
            if let Some(parent) = dir.parent().filter(|parent| !parent.as_os_str().is_empty()) {
                storage.sync_dir(parent).await.map_err(io_error)?;
            }
        }
        let length_bytes = file.file_len().await.map_err(io_error)?;
        let bytes = match usize::try_from(length_bytes) {
            Ok(0) => Vec::new(),
            Ok(length) => file.read_exact_at(length, 0).await.map_err(io_error)?,
            Err(_) => return Err(io_error(io::Error::from(io::ErrorKind::FileTooLarge))),
        };
        let scan = scan(&bytes)?;
        let valid_bytes = scan.valid_bytes as u64;
        let truncated = scan.damage.map(|damage| (length_bytes - valid_bytes, damage));
        if truncated.is_some() {
            file.set_len(valid_bytes).await.map_err(io_error)?;
            file.sync_data().await.map_err(io_error)?;
        }
        let last_version = scan.events.len() as u64;
        let report = OpenReport { records: last_version, last_version, valid_bytes, truncated };
        let log = EventLog { path, file, end_bytes: valid_bytes, last_version, poisoned: false };
        Ok((log, scan.events, report))
    }

    /// Version of the last durable record (0 = none).
    pub fn last_version(&self) -> u64 {
        self.last_version
    }

    /// Bytes of records in the file.
    pub fn len_bytes(&self) -> u64 {
        self.end_bytes
    }

    /// Appends the event of `version` and makes it durable before returning.
    ///
    /// # Panics
    /// When `version` is not the next one: the leader numbers its events.
    pub async fn append(&mut self, version: u64, event: &Event) -> Result<(), LogError> {
        assert_eq!(version, self.last_version + 1, "metadata log append out of order");
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        let record = encode_record(version, event)?;
        let record_bytes = record.len() as u64;
        let (written, _) = self.file.write_all_at(record, self.end_bytes).await;
        if let Err(source) = written {
            // Cut what may have landed, so the next append starts on a clean end.
            if self.file.set_len(self.end_bytes).await.is_err() {
                self.poisoned = true;
                return Err(LogError::Io { path: self.path.clone(), source });
            }
            return Err(LogError::WriteUndone { path: self.path.clone(), source });
        }
        if let Err(source) = self.file.sync_data().await {
            self.poisoned = true;
            return Err(LogError::Io { path: self.path.clone(), source });
        }
        self.end_bytes += record_bytes;
        self.last_version = version;
        Ok(())
    }
}

/// One record: header and postcard payload.
pub fn encode_record(version: u64, event: &Event) -> Result<Vec<u8>, LogError> {
    let record = vec![0u8; RECORD_HEADER_BYTES];
    let mut record = postcard::to_extend(event, record)
        .map_err(|error| LogError::Unencodable { version, reason: error.to_string() })?;
    let payload_bytes = record.len() - RECORD_HEADER_BYTES;
    let length = u32::try_from(payload_bytes)
        .ok()
        .filter(|_| payload_bytes <= PAYLOAD_MAX_BYTES)
        .ok_or(LogError::EventTooLarge { version, length_bytes: payload_bytes })?;
    let checksum = checksum(version, &record[RECORD_HEADER_BYTES..]);
    record[0..4].copy_from_slice(&length.to_le_bytes());
    record[4..12].copy_from_slice(&version.to_le_bytes());
    record[12..20].copy_from_slice(&checksum.to_le_bytes());
    Ok(record)
}

fn checksum(version: u64, payload: &[u8]) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(&version.to_le_bytes());
    hasher.update(payload);
    hasher.digest()
}

struct Scan {
    events: Vec<(u64, Event)>,
    valid_bytes: usize,
    damage: Option<TailDamage>,
}

/// Walks the records of `bytes` until the end or the first damaged one.
fn scan(bytes: &[u8]) -> Result<Scan, LogError> {
    let mut events = Vec::new();
    let mut position = 0usize;
    let damage = loop {
        let rest = &bytes[position..];
        if rest.is_empty() {
            break None;
        }
        if rest.len() < RECORD_HEADER_BYTES {
            break Some(TailDamage::ShortHeader);
        }
        let length_bytes = u64::from(u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]));
        let version = u64::from_le_bytes(rest[4..12].try_into().unwrap_or_default());
        let stored_checksum = u64::from_le_bytes(rest[12..20].try_into().unwrap_or_default());
        if length_bytes > PAYLOAD_MAX_BYTES as u64 {
            break Some(TailDamage::Oversized { length_bytes });
        }
        let Some(payload) = rest.get(RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + length_bytes as usize) else {
            break Some(TailDamage::ShortPayload);
        };
        if checksum(version, payload) != stored_checksum {
            break Some(TailDamage::Checksum);
        }
        let expected = events.len() as u64 + 1;
        if version != expected {
            return Err(LogError::VersionGap { position: position as u64, expected, found: version });
        }
        let event = postcard::from_bytes(payload).map_err(|error| LogError::Undecodable {
            position: position as u64,
            version,
            reason: error.to_string(),
        })?;
        events.push((version, event));
        position += RECORD_HEADER_BYTES + payload.len();
    };
    Ok(Scan { events, valid_bytes: position, damage })
}
