//! Model-based property tests: random sequences of operations run against a [`Partition`] and
//! against a plain in-memory model of the log (records with their offsets, ids, payloads and
//! timestamps, grouped in segments as the segment size dictates, and the stored consumer
//! offsets). Every read must serve exactly the model's messages, and offsets, segment counts,
//! sizes and stored offsets must agree after every operation.
//!
//! Runs against the in-memory `SimStorage` (many cases) and the real `UringStorage` in a temp
//! directory (fewer cases, real fsyncs).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bytes::BytesMut;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use whippet_protocol::batch::{self, BatchHeader, Frames, RecordBuilder, Verify};
use whippet_storage::io::{Storage, UringStorage};
use whippet_storage::sim::SimStorage;
use whippet_storage::{
    Appended, ConsumerKey, Durability, Partition, PartitionConfig, Polled, ReadFrom, Removed, RetentionPolicy,
    StorageError,
};

const PARTITION_ID: u32 = 7;
const BATCH_HEADER: u64 = 256;
const FRAME_HEADER: u64 = 48;

const KEYS: [ConsumerKey; 6] = [
    ConsumerKey::Consumer(0),
    ConsumerKey::Consumer(1),
    ConsumerKey::Consumer(2),
    ConsumerKey::Group(0),
    ConsumerKey::Group(1),
    ConsumerKey::Group(2),
];

// ---------------------------------------------------------------------------------------------
// Records

/// A producer record of messages with the given payload sizes. Ids are unique per `serial`.
fn build(serial: u64, sizes: &[usize]) -> (BytesMut, Vec<(u128, Vec<u8>)>) {
    let mut builder = RecordBuilder::new(1_000 + serial);
    let mut messages = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let id = u128::from(serial) * 100 + i as u128 + 1;
        let payload = common::payload(serial, i as u32, size);
        builder.push(id, 1_000 + serial, &payload, b"");
        messages.push((id, payload));
    }
    (builder.finish(), messages)
}

fn record_len(sizes: &[usize]) -> u64 {
    BATCH_HEADER + sizes.iter().map(|&s| FRAME_HEADER + s as u64).sum::<u64>()
}

/// A served record is valid: a whole record passes `validate` with every checksum; a sliced one
/// (which keeps its frames' original offset deltas, so `validate` refuses it) has consecutive
/// deltas, intact frame checksums, a batch checksum over its kept frames and matching lengths.
fn check_served_record(record: &[u8], header: &BatchHeader) -> Result<(), String> {
    let frames: Vec<_> = Frames::new(record).collect();
    let first_delta = frames.first().map(|f| f.offset_delta).ok_or("no frames")?;
    if first_delta == 0 {
        return batch::validate(record, Verify::ALL).map(drop).map_err(|e| e.to_string());
    }
    if frames.len() != header.message_count as usize {
        return Err(format!("{} frames, header says {}", frames.len(), header.message_count));
    }
    if frames.last().map(|f| f.end) != Some(record.len()) {
        return Err("frames do not fill the record".into());
    }
    for (i, frame) in frames.iter().enumerate() {
        if frame.offset_delta != first_delta + i as u32 {
            return Err(format!("frame {i} has delta {}", frame.offset_delta));
        }
        if batch::frame_checksum(&record[frame.start..frame.end]) != frame.checksum {
            return Err(format!("frame {i} checksum"));
        }
    }
    if batch::batch_checksum(record) != header.batch_checksum {
        return Err("batch checksum".into());
    }
    Ok(())
}

/// One served message: offset, its record's base timestamp, id, payload.
type Served = (u64, u64, u128, Vec<u8>);

/// Every message of a read, checking that each served record (sliced or not) is a valid,
/// checksummed record of this partition.
fn served(polled: &Polled) -> Result<Vec<Served>, TestCaseError> {
    let mut joined = Vec::new();
    polled.chunks.iter().for_each(|c| joined.extend_from_slice(c));
    let mut out = Vec::new();
    let mut at = 0;
    while at < joined.len() {
        let header = BatchHeader::read(&joined[at..])
            .map_err(|e| TestCaseError::fail(format!("bad header at byte {at}: {e}")))?;
        let end = at + header.batch_length as usize;
        prop_assert!(end <= joined.len(), "record at byte {at} runs past the chunks");
        let record = &joined[at..end];
        check_served_record(record, &header)
            .map_err(|e| TestCaseError::fail(format!("served record at byte {at}: {e}")))?;
        prop_assert_eq!(header.partition_id, u64::from(PARTITION_ID));
        for frame in Frames::new(record) {
            out.push((
                header.base_offset + u64::from(frame.offset_delta),
                header.base_timestamp,
                frame.id,
                frame.payload(record).to_vec(),
            ));
        }
        at = end;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The model

#[derive(Debug, Clone)]
struct MRecord {
    base_offset: u64,
    timestamp: u64,
    len: u64,
    messages: Vec<(u128, Vec<u8>)>,
}

#[derive(Debug, Clone)]
struct MSegment {
    base_offset: u64,
    size: u64,
    records: Vec<MRecord>,
}

impl MSegment {
    fn new(base_offset: u64) -> MSegment {
        MSegment { base_offset, size: 0, records: Vec::new() }
    }

    fn messages(&self) -> u64 {
        self.records.iter().map(|r| r.messages.len() as u64).sum()
    }
}

#[derive(Debug)]
struct Model {
    segment_size: u64,
    /// Never empty: the last one is the active segment.
    segments: Vec<MSegment>,
    next_offset: u64,
    offsets: BTreeMap<ConsumerKey, u64>,
    /// Every timestamp ever acknowledged, to aim timestamp reads and retention at.
    timestamps: Vec<u64>,
    serial: u64,
}

impl Model {
    fn new(segment_size: u64) -> Model {
        Model {
            segment_size,
            segments: vec![MSegment::new(0)],
            next_offset: 0,
            offsets: BTreeMap::new(),
            timestamps: Vec::new(),
            serial: 0,
        }
    }

    fn records(&self) -> impl Iterator<Item = &MRecord> {
        self.segments.iter().flat_map(|s| s.records.iter())
    }

    fn first_offset(&self) -> u64 {
        self.records().next().map_or(self.next_offset, |r| r.base_offset)
    }

    fn size(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// Places an appended record as the flusher does: in the active segment when it fits or
    /// the segment is empty, else in a new segment starting at the record.
    fn append(&mut self, record: MRecord) {
        let active = self.segments.last().expect("active segment");
        if active.size != 0 && active.size + record.len > self.segment_size {
            self.segments.push(MSegment::new(self.next_offset));
        }
        let active = self.segments.last_mut().expect("active segment");
        active.size += record.len;
        self.next_offset = record.base_offset + record.messages.len() as u64;
        self.timestamps.push(record.timestamp);
        active.records.push(record);
    }

    fn remove_oldest(&mut self, count: usize) -> Removed {
        let count = count.min(self.segments.len() - 1);
        let mut removed = Removed::default();
        for segment in self.segments.drain(..count) {
            removed.segments += 1;
            removed.bytes += segment.size;
            removed.messages += segment.messages();
        }
        removed
    }

    fn purge(&mut self) -> Removed {
        if self.segments.last().expect("active segment").size != 0 {
            self.segments.push(MSegment::new(self.next_offset));
        }
        self.remove_oldest(self.segments.len() - 1)
    }

    fn delete_oldest(&mut self, count: u32) -> Removed {
        if count as usize >= self.segments.len() { self.purge() } else { self.remove_oldest(count as usize) }
    }

    /// Deletes closed segments from the oldest while they are expired or the log is too big.
    fn retain(&mut self, policy: RetentionPolicy, now: u64) -> Removed {
        let mut total = self.size();
        let mut count = 0;
        for segment in &self.segments[..self.segments.len() - 1] {
            let newest = segment.records.last().map_or(0, |r| r.timestamp);
            let expired = policy.max_age.is_some_and(|age| newest.saturating_add(age.as_micros() as u64) < now);
            let too_big = policy.max_size.is_some_and(|max| total > max);
            if !(expired || too_big) {
                break;
            }
            total -= segment.size;
            count += 1;
        }
        self.remove_oldest(count)
    }

    /// Where a read starts, per the documented meaning of each mode.
    fn start(&self, from: ReadFrom, count: u32) -> u64 {
        let first = self.first_offset();
        match from {
            ReadFrom::Offset(offset) => offset.max(first),
            ReadFrom::First => first,
            ReadFrom::Last => self.next_offset.saturating_sub(u64::from(count)).max(first),
            ReadFrom::Next(key) => self.offsets.get(&key).map_or(first, |&stored| (stored + 1).max(first)),
            ReadFrom::Timestamp(t) => {
                self.records().find(|r| r.timestamp >= t).map_or(self.next_offset, |r| r.base_offset).max(first)
            }
        }
    }

    /// The messages at offsets `from..to` that are stored.
    fn messages(&self, from: u64, to: u64) -> Vec<Served> {
        let mut out = Vec::new();
        for record in self.records() {
            for (i, (id, payload)) in record.messages.iter().enumerate() {
                let offset = record.base_offset + i as u64;
                if offset >= from && offset < to {
                    out.push((offset, record.timestamp, *id, payload.clone()));
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Operations

#[derive(Debug, Clone)]
enum Start {
    /// Offset `selector % (next_offset + 8)`: below the first, inside records, past the end.
    Offset(u16),
    /// Near (−1, 0, +1) one of the timestamps appended so far.
    NearTimestamp(u16, i8),
    /// Timestamp 0 or `u64::MAX`.
    ExtremeTimestamp(bool),
    First,
    Last,
    Next(ConsumerKey),
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<usize>),
    /// Appends issued together (one group commit, normally).
    AppendConcurrently(Vec<Vec<usize>>),
    Read(Start, u32),
    /// Stores offset `selector % (next_offset + 3)`: some are out of range.
    StoreOffset(ConsumerKey, u16),
    DeleteOffset(ConsumerKey),
    Reopen,
    Purge,
    DeleteOldest(u32),
    Retain {
        max_size: Option<u16>,
        /// (timestamp selector, age µs, extra µs of "now" past newest + age)
        max_age: Option<(u16, u8, u8)>,
    },
    Sync,
}

fn key() -> impl Strategy<Value = ConsumerKey> {
    prop_oneof![(0u32..3).prop_map(ConsumerKey::Consumer), (0u32..3).prop_map(ConsumerKey::Group),]
}

fn sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..300, 1..6)
}

fn from() -> impl Strategy<Value = Start> {
    prop_oneof![
        3 => any::<u16>().prop_map(Start::Offset),
        2 => (any::<u16>(), -1i8..=1).prop_map(|(s, d)| Start::NearTimestamp(s, d)),
        1 => any::<bool>().prop_map(Start::ExtremeTimestamp),
        1 => Just(Start::First),
        1 => Just(Start::Last),
        2 => key().prop_map(Start::Next),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => sizes().prop_map(Op::Append),
        1 => prop::collection::vec(sizes(), 2..6).prop_map(Op::AppendConcurrently),
        8 => (from(), 0u32..20).prop_map(|(f, c)| Op::Read(f, c)),
        2 => (key(), any::<u16>()).prop_map(|(k, s)| Op::StoreOffset(k, s)),
        1 => key().prop_map(Op::DeleteOffset),
        1 => Just(Op::Reopen),
        1 => Just(Op::Purge),
        1 => (0u32..5).prop_map(Op::DeleteOldest),
        1 => (
            prop::option::of(any::<u16>()),
            prop::option::of((any::<u16>(), 0u8..3, 0u8..2))
        )
            .prop_map(|(max_size, max_age)| Op::Retain { max_size, max_age }),
        1 => Just(Op::Sync),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..40)
}

fn config(direct: bool) -> impl Strategy<Value = PartitionConfig> {
    let durability = prop_oneof![
        Just(Durability::Always),
        Just(Durability::Never),
        Just(Durability::Interval(Duration::from_millis(1))),
    ];
    let cache = prop_oneof![Just(0usize), Just(1_500), Just(1 << 20)];
    let max_read = prop_oneof![3 => Just(16usize << 20), 1 => 512usize..3_000];
    let direct = if direct { any::<bool>().boxed() } else { Just(false).boxed() };
    (durability, 512u64..4096, cache, max_read, direct).prop_map(
        |(durability, segment_size, cache_size, max_read_size, direct_io)| PartitionConfig {
            durability,
            segment_size,
            cache_size,
            verify_checksums: true,
            direct_io,
            max_read_size,
            ..PartitionConfig::default()
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Running a case

fn io_err(what: impl std::fmt::Display, error: StorageError) -> TestCaseError {
    TestCaseError::fail(format!("{what}: unexpected error {error}"))
}

fn check_state<S: Storage>(
    storage: &S,
    log: &Partition<S>,
    model: &Model,
    step: usize,
    op: &Op,
) -> Result<(), TestCaseError> {
    let mut files: Vec<String> = storage
        .list_files(log.dir())
        .map_err(|e| TestCaseError::fail(format!("listing the partition: {e}")))?
        .into_iter()
        .filter(|name| name.ends_with(".log") || name.ends_with(".index"))
        .collect();
    files.sort();
    let mut expected: Vec<String> = model
        .segments
        .iter()
        .flat_map(|s| [format!("{:020}.index", s.base_offset), format!("{:020}.log", s.base_offset)])
        .collect();
    expected.sort();
    prop_assert_eq!(files, expected, "segment files after step {} {:?}", step, op);
    let stats = log.stats();
    prop_assert_eq!(stats.next_offset, model.next_offset, "next_offset after step {} {:?}", step, op);
    prop_assert_eq!(stats.first_offset, model.first_offset(), "first_offset after step {} {:?}", step, op);
    prop_assert_eq!(stats.segments as usize, model.segments.len(), "segments after step {} {:?}", step, op);
    prop_assert_eq!(stats.size_bytes, model.size(), "size after step {} {:?}", step, op);
    for key in KEYS {
        prop_assert_eq!(
            log.stored_offset(key),
            model.offsets.get(&key).copied(),
            "stored offset of {:?} after step {} {:?}",
            key,
            step,
            op
        );
    }
    Ok(())
}

fn check_appended(model: &mut Model, appended: Appended, record: MRecord) -> Result<(), TestCaseError> {
    prop_assert_eq!(appended.base_offset, model.next_offset, "appends get dense offsets");
    prop_assert_eq!(appended.count as usize, record.messages.len());
    let newest = model.timestamps.last().copied().unwrap_or(0);
    prop_assert!(
        appended.base_timestamp >= newest,
        "timestamps go backwards: {} after {}",
        appended.base_timestamp,
        newest
    );
    model.append(MRecord { base_offset: appended.base_offset, timestamp: appended.base_timestamp, ..record });
    Ok(())
}

async fn open<S: Storage>(storage: &S, dir: &Path, config: &PartitionConfig) -> Result<Partition<S>, TestCaseError> {
    let (log, report) =
        Partition::open(storage.clone(), dir, PARTITION_ID, config.clone()).await.map_err(|e| io_err("open", e))?;
    prop_assert!(report.is_clean(), "a cleanly closed log needed repair: {:?}", report);
    Ok(log)
}

async fn run_ops<S: Storage>(
    storage: S,
    dir: &Path,
    config: PartitionConfig,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let mut log = open(&storage, dir, &config).await?;
    let mut model = Model::new(config.segment_size);
    check_state(&storage, &log, &model, 0, &Op::Sync)?;
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Append(sizes) => {
                model.serial += 1;
                let (record, messages) = build(model.serial, sizes);
                let appended = log.append(record).await.map_err(|e| io_err(format!("step {step} append"), e))?;
                let record = MRecord { base_offset: 0, timestamp: 0, len: record_len(sizes), messages };
                check_appended(&mut model, appended, record)?;
            }
            Op::AppendConcurrently(batch) => {
                let mut records = Vec::new();
                let mut futures = Vec::new();
                for sizes in batch {
                    model.serial += 1;
                    let (record, messages) = build(model.serial, sizes);
                    records.push(MRecord { base_offset: 0, timestamp: 0, len: record_len(sizes), messages });
                    futures.push(log.append(record));
                }
                let results = futures_util::future::join_all(futures).await;
                let mut appended = Vec::new();
                for (result, record) in results.into_iter().zip(records) {
                    let result = result.map_err(|e| io_err(format!("step {step} append"), e))?;
                    appended.push((result, record));
                }
                // Offsets follow submission order; checked by check_appended on each in turn.
                appended.sort_by_key(|(a, _)| a.base_offset);
                for (result, record) in appended {
                    check_appended(&mut model, result, record)?;
                }
            }
            Op::Read(from, count) => {
                let from = match *from {
                    Start::Offset(s) => ReadFrom::Offset(u64::from(s) % (model.next_offset + 8)),
                    Start::NearTimestamp(s, delta) => {
                        let base = if model.timestamps.is_empty() {
                            u64::from(s)
                        } else {
                            model.timestamps[usize::from(s) % model.timestamps.len()]
                        };
                        ReadFrom::Timestamp(base.saturating_add_signed(i64::from(delta)))
                    }
                    Start::ExtremeTimestamp(max) => ReadFrom::Timestamp(if max { u64::MAX } else { 0 }),
                    Start::First => ReadFrom::First,
                    Start::Last => ReadFrom::Last,
                    Start::Next(key) => ReadFrom::Next(key),
                };
                let polled =
                    log.read(from, *count).await.map_err(|e| io_err(format!("step {step} read {from:?}"), e))?;
                let start = model.start(from, *count);
                let end = model.next_offset.min(start.saturating_add(u64::from(*count)));
                let expected = model.messages(start, end);
                let got = served(&polled)?;
                prop_assert_eq!(
                    polled.next_offset,
                    model.next_offset,
                    "polled.next_offset, step {} read {:?} {}",
                    step,
                    from,
                    count
                );
                prop_assert_eq!(
                    polled.count as usize,
                    got.len(),
                    "polled.count vs messages served, step {} read {:?} {}",
                    step,
                    from,
                    count
                );
                if let Some(first) = got.first() {
                    prop_assert_eq!(polled.first_offset, first.0);
                }
                if config.max_read_size >= 1 << 20 {
                    prop_assert!(
                        got == expected,
                        "step {} read {:?} count {}: served offsets {:?}, expected {:?}",
                        step,
                        from,
                        count,
                        got.iter().map(|m| m.0).collect::<Vec<_>>(),
                        expected.iter().map(|m| m.0).collect::<Vec<_>>()
                    );
                } else {
                    // A small byte limit may cut the read short, but only once it is reached,
                    // and never below one record.
                    prop_assert!(
                        got.len() <= expected.len() && got[..] == expected[..got.len()],
                        "step {} read {:?} count {} (max {} bytes): served offsets {:?}, expected a prefix of {:?}",
                        step,
                        from,
                        count,
                        config.max_read_size,
                        got.iter().map(|m| m.0).collect::<Vec<_>>(),
                        expected.iter().map(|m| m.0).collect::<Vec<_>>()
                    );
                    prop_assert!(expected.is_empty() || !got.is_empty(), "an empty read");
                    prop_assert!(
                        got.len() == expected.len() || polled.len_bytes() >= config.max_read_size,
                        "read stopped short at {} bytes below the limit {}",
                        polled.len_bytes(),
                        config.max_read_size
                    );
                }
            }
            Op::StoreOffset(key, selector) => {
                let offset = u64::from(*selector) % (model.next_offset + 3);
                let result = log.store_offset(*key, offset).await;
                if offset < model.next_offset {
                    result.map_err(|e| io_err(format!("step {step} store {offset}"), e))?;
                    model.offsets.insert(*key, offset);
                } else {
                    prop_assert!(
                        matches!(result, Err(StorageError::OffsetOutOfRange { offset: o }) if o == offset),
                        "storing {} with next offset {}: {:?}",
                        offset,
                        model.next_offset,
                        result
                    );
                }
            }
            Op::DeleteOffset(key) => {
                let existed =
                    log.delete_offset(*key).await.map_err(|e| io_err(format!("step {step} delete offset"), e))?;
                prop_assert_eq!(existed, model.offsets.remove(key).is_some());
            }
            Op::Reopen => {
                log.close().await.map_err(|e| io_err(format!("step {step} close"), e))?;
                let (record, _) = build(u64::MAX / 200, &[1]);
                prop_assert!(
                    matches!(log.append(record).await, Err(StorageError::Closed)),
                    "a closed log took an append"
                );
                drop(log);
                log = open(&storage, dir, &config).await?;
            }
            Op::Purge => {
                let removed = log.purge().await.map_err(|e| io_err(format!("step {step} purge"), e))?;
                prop_assert_eq!(removed, model.purge(), "purge at step {}", step);
            }
            Op::DeleteOldest(count) => {
                let removed = log
                    .delete_oldest_segments(*count)
                    .await
                    .map_err(|e| io_err(format!("step {step} delete segments"), e))?;
                prop_assert_eq!(
                    removed,
                    model.delete_oldest(*count),
                    "delete_oldest_segments({}) at step {}",
                    count,
                    step
                );
            }
            Op::Retain { max_size, max_age } => {
                let max_size = max_size.map(|s| u64::from(s) % (model.size() + 512));
                let (max_age, now) = match *max_age {
                    Some((selector, age, extra)) => {
                        let newest = if model.timestamps.is_empty() {
                            0
                        } else {
                            model.timestamps[usize::from(selector) % model.timestamps.len()]
                        };
                        let age = u64::from(age);
                        (Some(Duration::from_micros(age)), newest + age + u64::from(extra))
                    }
                    None => (None, model.timestamps.last().copied().unwrap_or(0)),
                };
                let policy = RetentionPolicy { max_age, max_size };
                let removed =
                    log.apply_retention(policy, now).await.map_err(|e| io_err(format!("step {step} retention"), e))?;
                prop_assert_eq!(
                    removed,
                    model.retain(policy, now),
                    "retention {:?} at {} at step {}",
                    policy,
                    now,
                    step
                );
            }
            Op::Sync => log.sync().await.map_err(|e| io_err(format!("step {step} sync"), e))?,
        }
        check_state(&storage, &log, &model, step, op)?;
    }
    // Everything must also be there after a last clean reopen.
    log.close().await.map_err(|e| io_err("final close", e))?;
    let log = open(&storage, dir, &config).await?;
    check_state(&storage, &log, &model, ops.len(), &Op::Reopen)?;
    let polled = log.read(ReadFrom::First, u32::MAX).await.map_err(|e| io_err("final read", e))?;
    if config.max_read_size >= 1 << 20 {
        prop_assert!(served(&polled)? == model.messages(0, u64::MAX), "the reopened log differs from the model");
    }
    log.close().await.map_err(|e| io_err("last close", e))?;
    Ok(())
}

/// `PROPTEST_CASES` overrides the default number of cases (for longer local runs).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default)
}

fn sim_config() -> ProptestConfig {
    ProptestConfig { cases: cases(64), failure_persistence: None, ..ProptestConfig::default() }
}

fn uring_config() -> ProptestConfig {
    ProptestConfig { cases: cases(16), max_shrink_iters: 200, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(sim_config())]

    #[test]
    fn partition_matches_model_on_sim_storage(
        seed in any::<u64>(),
        config in config(true),
        ops in ops(),
    ) {
        let storage = SimStorage::new(seed);
        common::run(run_ops(storage, Path::new("/sim/partition"), config, ops))?;
    }
}

proptest! {
    #![proptest_config(uring_config())]

    #[test]
    fn partition_matches_model_on_uring_storage(config in config(true), ops in ops()) {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("partition");
        common::run(run_ops(UringStorage, &path, config, ops))?;
    }
}
