//! Fault injection on the simulated disk: dying devices mid-append, full disks and power cuts,
//! each followed by a recovery that must keep what the durability policy promised.
//!
//! Every test loops over many seeds; a failure names its seed and the test's label, so it can
//! be replayed alone.

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use common::run;
use whippet_protocol::batch::{self, BatchHeader, Frames, RecordBuilder, Verify};
use whippet_storage::sim::{Failure, SimStorage, SyncFailure};
use whippet_storage::{
    Appended, ConsumerKey, Durability, Partition, PartitionConfig, ReadFrom, RecoveryReport, StorageError,
};

const PARTITION_ID: u32 = 3;
const DIR: &str = "/sim/faults/partition";

const KEYS: [ConsumerKey; 4] =
    [ConsumerKey::Consumer(1), ConsumerKey::Consumer(2), ConsumerKey::Group(1), ConsumerKey::Group(2)];

// ---------------------------------------------------------------------------------------------
// Records and what was sent

type Messages = Vec<(u128, Vec<u8>)>;

/// A record of messages with the given payload sizes; ids encode `serial` and the index.
fn build(serial: u64, sizes: &[usize]) -> (BytesMut, Messages) {
    let mut builder = RecordBuilder::new(5_000 + serial);
    let mut messages = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let id = u128::from(serial) * 100 + i as u128 + 1;
        let payload = common::payload(serial, i as u32, size);
        builder.push(id, 5_000 + serial, &payload, b"");
        messages.push((id, payload));
    }
    (builder.finish(), messages)
}

fn serial_of(id: u128) -> u64 {
    ((id - 1) / 100) as u64
}

fn random_sizes(rng: &mut fastrand::Rng) -> Vec<usize> {
    (0..rng.usize(1..=5)).map(|_| rng.usize(1..300)).collect()
}

fn random_config(rng: &mut fastrand::Rng, durability: Durability) -> PartitionConfig {
    PartitionConfig {
        durability,
        segment_size: rng.u64(512..4096),
        cache_size: if rng.bool() { 0 } else { 1 << 20 },
        verify_checksums: true,
        direct_io: rng.u8(0..4) == 0,
        max_read_size: 16 << 20,
        ..PartitionConfig::default()
    }
}

/// Everything sent to the log, acknowledged or not.
#[derive(Default)]
struct Sent {
    records: BTreeMap<u64, Messages>,
    /// Serials in the order the appends were submitted.
    order: Vec<u64>,
    next_serial: u64,
}

impl Sent {
    fn record(&mut self, rng: &mut fastrand::Rng) -> (u64, BytesMut) {
        self.next_serial += 1;
        let serial = self.next_serial;
        let (record, messages) = build(serial, &random_sizes(rng));
        self.records.insert(serial, messages);
        self.order.push(serial);
        (serial, record)
    }
}

/// Acknowledged appends: what each got, and the serial of its record.
type Acked = Vec<(Appended, u64)>;

/// What a consumer offset may read back as after a crash: the value guaranteed durable
/// (`floor`, `None` when no value is) or any value written after it.
#[derive(Default, Clone, Debug)]
struct OffsetModel {
    floor: Option<u64>,
    later: Vec<u64>,
    /// The value the live partition reports (the last acknowledged store).
    current: Option<u64>,
}

impl OffsetModel {
    fn allows(&self, value: Option<u64>) -> bool {
        value == self.floor || value.is_some_and(|v| self.later.contains(&v))
    }
}

#[derive(Default)]
struct Offsets(BTreeMap<ConsumerKey, OffsetModel>);

impl Offsets {
    fn acked(&mut self, key: ConsumerKey, offset: u64, always: bool) {
        let model = self.0.entry(key).or_default();
        model.current = Some(offset);
        if always {
            model.floor = Some(offset);
            model.later.clear();
        } else {
            model.later.push(offset);
        }
    }

    /// A store that failed with an I/O error: what it wrote may or may not be on the disk.
    fn maybe(&mut self, key: ConsumerKey, offset: u64) {
        self.0.entry(key).or_default().later.push(offset);
    }

    /// A sync (or close) was acknowledged: every acknowledged value is durable.
    fn synced(&mut self) {
        for model in self.0.values_mut() {
            model.floor = model.current;
            model.later.clear();
        }
    }

    fn check(&self, log: &Partition<SimStorage>, ctx: &str) {
        for key in KEYS {
            let model = self.0.get(&key).cloned().unwrap_or_default();
            let got = log.stored_offset(key);
            assert!(model.allows(got), "{ctx}: offset of {key:?} recovered as {got:?}, allowed {model:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading back and checking a recovered log

/// The log as read back: (base offset, serial) per record, and its offsets.
struct Recovered {
    records: Vec<(u64, u64)>,
    first_offset: u64,
    next_offset: u64,
}

/// Reads the whole log and checks that it is well formed: every record validates with every
/// checksum, belongs to this partition, has dense offsets from `first_offset` to
/// `next_offset`, and is exactly (whole, same ids and payloads) a record that was sent, at
/// most once.
async fn read_back(log: &Partition<SimStorage>, sent: &Sent, ctx: &str) -> Recovered {
    let stats = log.stats();
    let polled = log.read(ReadFrom::First, u32::MAX).await.unwrap_or_else(|e| panic!("{ctx}: read: {e}"));
    assert_eq!(polled.next_offset, stats.next_offset, "{ctx}: polled next offset");
    let mut joined = Vec::new();
    polled.chunks.iter().for_each(|c| joined.extend_from_slice(c));
    let mut records = Vec::new();
    let mut seen = HashSet::new();
    let mut expected_offset = stats.first_offset;
    let mut at = 0;
    while at < joined.len() {
        let header = BatchHeader::read(&joined[at..]).unwrap_or_else(|e| panic!("{ctx}: header at {at}: {e}"));
        let end = at + header.batch_length as usize;
        assert!(end <= joined.len(), "{ctx}: record at byte {at} runs past the read");
        let record = &joined[at..end];
        batch::validate(record, Verify::ALL).unwrap_or_else(|e| panic!("{ctx}: record at {at} is invalid: {e}"));
        assert_eq!(header.partition_id, u64::from(PARTITION_ID), "{ctx}: partition id");
        assert_eq!(header.base_offset, expected_offset, "{ctx}: offsets are not dense");
        let messages: Messages = Frames::new(record).map(|f| (f.id, f.payload(record).to_vec())).collect();
        let serial = serial_of(messages[0].0);
        let Some(original) = sent.records.get(&serial) else {
            panic!("{ctx}: record at offset {} was never sent (serial {serial})", header.base_offset)
        };
        assert!(
            &messages == original,
            "{ctx}: record at offset {} differs from record {serial} as sent",
            header.base_offset
        );
        assert!(seen.insert(serial), "{ctx}: record {serial} stored twice");
        records.push((header.base_offset, serial));
        expected_offset += u64::from(header.message_count);
        at = end;
    }
    assert_eq!(expected_offset, stats.next_offset, "{ctx}: read ends before next_offset");
    assert_eq!(polled.count as u64, stats.next_offset - stats.first_offset, "{ctx}: polled count");
    Recovered { records, first_offset: stats.first_offset, next_offset: stats.next_offset }
}

impl Recovered {
    /// Every record in `required` is stored at the offset it was acknowledged with.
    fn assert_holds(&self, required: &Acked, ctx: &str) {
        let stored: BTreeMap<u64, u64> = self.records.iter().copied().collect();
        for (appended, serial) in required {
            assert_eq!(
                stored.get(&appended.base_offset),
                Some(serial),
                "{ctx}: acknowledged record {serial} at offset {} is lost (log holds {}..{})",
                appended.base_offset,
                self.first_offset,
                self.next_offset
            );
        }
    }

    /// The records are a prefix of `order` (their submission order).
    fn assert_prefix_of(&self, order: &[u64], ctx: &str) {
        let serials: Vec<u64> = self.records.iter().map(|r| r.1).collect();
        assert!(
            serials.len() <= order.len() && serials[..] == order[..serials.len()],
            "{ctx}: recovered records {serials:?} are not a prefix of the appends {order:?}"
        );
    }
}

async fn open(storage: &SimStorage, config: &PartitionConfig, ctx: &str) -> (Partition<SimStorage>, RecoveryReport) {
    Partition::open(storage.clone(), Path::new(DIR), PARTITION_ID, config.clone())
        .await
        .unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"))
}

/// After recovery the log must take appends at its next offset, and a clean close and reopen
/// must find exactly the same log plus the new record, repairing nothing new (offset files
/// found unreadable by the recovery, `report`, stay so: recovery does not remove them).
async fn recovered_log_stays_usable(
    storage: &SimStorage,
    config: &PartitionConfig,
    (log, first_report): (Partition<SimStorage>, RecoveryReport),
    sent: &mut Sent,
    recovered: &Recovered,
    rng: &mut fastrand::Rng,
    ctx: &str,
) {
    let (serial, record) = sent.record(rng);
    let appended = log.append(record).await.unwrap_or_else(|e| panic!("{ctx}: append after recovery: {e}"));
    assert_eq!(appended.base_offset, recovered.next_offset, "{ctx}: offset of the first append after recovery");
    log.close().await.unwrap_or_else(|e| panic!("{ctx}: close after recovery: {e}"));
    let (log, report) = Partition::open(storage.clone(), Path::new(DIR), PARTITION_ID, config.clone())
        .await
        .unwrap_or_else(|e| panic!("{ctx}: second open: {e}"));
    assert!(
        report.bytes_truncated == 0 && report.offsets_unreadable <= first_report.offsets_unreadable,
        "{ctx}: a clean close needed repair: {report:?}"
    );
    let again = read_back(&log, sent, ctx).await;
    let mut expected = recovered.records.clone();
    expected.push((appended.base_offset, serial));
    assert_eq!(again.records, expected, "{ctx}: the log changed across a clean reopen");
    log.close().await.unwrap_or_else(|e| panic!("{ctx}: last close: {e}"));
}

/// Yields to the runtime once, letting spawned tasks and the flusher run.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// A dying device in the middle of appends

/// Appends (one at a time and in concurrent groups), offset stores and syncs until and past a
/// write that tears and kills the device, then a power cut and recovery.
async fn crash_during_appends(seed: u64, durability: Durability) {
    let always = durability == Durability::Always;
    let ctx = format!("seed {seed} {durability:?}");
    let ctx = ctx.as_str();
    let mut rng = fastrand::Rng::with_seed(seed);
    let config = random_config(&mut rng, durability);
    let storage = SimStorage::new(seed);
    let (log, _) = open(&storage, &config, ctx).await;
    storage.fail_after_writes(rng.u64(0..60), Failure::Crash);
    let mut sent = Sent::default();
    let mut acked: Acked = Vec::new();
    // Appends guaranteed to survive: under `always` each acknowledged one, under `never` those
    // acknowledged before an acknowledged sync.
    let mut required: Acked = Vec::new();
    let mut offsets = Offsets::default();
    for _ in 0..rng.usize(1..40) {
        match rng.u8(0..20) {
            0..=11 => {
                let (serial, record) = sent.record(&mut rng);
                if let Ok(appended) = log.append(record).await {
                    acked.push((appended, serial));
                }
            }
            12..=14 => {
                let mut serials = Vec::new();
                let mut futures = Vec::new();
                for _ in 0..rng.usize(2..=5) {
                    let (serial, record) = sent.record(&mut rng);
                    serials.push(serial);
                    futures.push(log.append(record));
                }
                for (result, serial) in futures_util::future::join_all(futures).await.into_iter().zip(serials) {
                    if let Ok(appended) = result {
                        acked.push((appended, serial));
                    }
                }
            }
            15..=17 => {
                let key = KEYS[rng.usize(0..KEYS.len())];
                let next = log.stats().next_offset;
                if next == 0 {
                    continue;
                }
                let offset = rng.u64(0..next);
                match log.store_offset(key, offset).await {
                    Ok(()) => offsets.acked(key, offset, always),
                    Err(StorageError::Io { .. }) => offsets.maybe(key, offset),
                    Err(_) => {}
                }
            }
            _ => {
                let before = acked.clone();
                if log.sync().await.is_ok() {
                    required = before;
                    offsets.synced();
                }
            }
        }
        if always {
            required = acked.clone();
        }
    }
    // Acknowledged offsets follow the submission order of the appends.
    let positions: BTreeMap<u64, usize> = sent.order.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    for pair in acked.windows(2) {
        assert!(
            pair[0].0.base_offset < pair[1].0.base_offset && positions[&pair[0].1] < positions[&pair[1].1],
            "{ctx}: acknowledged offsets out of submission order: {pair:?}"
        );
    }
    let crashed = storage.crash();
    drop(log);
    let (log, report) = open(&crashed, &config, ctx).await;
    let recovered = read_back(&log, &sent, ctx).await;
    assert_eq!(recovered.first_offset, 0, "{ctx}: the log lost its start");
    recovered.assert_holds(&required, ctx);
    recovered.assert_prefix_of(&sent.order, ctx);
    offsets.check(&log, ctx);
    recovered_log_stays_usable(&crashed, &config, (log, report), &mut sent, &recovered, &mut rng, ctx).await;
}

#[test]
fn crash_during_appends_keeps_every_acknowledged_append_under_always() {
    for seed in 0..300 {
        run(crash_during_appends(seed, Durability::Always));
    }
}

#[test]
fn crash_during_appends_keeps_a_valid_prefix_under_never() {
    for seed in 0..300 {
        run(crash_during_appends(seed, Durability::Never));
    }
}

// ---------------------------------------------------------------------------------------------
// A full disk

/// Appends until the disk fills: every failure must be a no-space error that loses nothing
/// acknowledged and leaves reads working; once space returns appends go on at the next offset.
async fn disk_fills_up(seed: u64, durability: Durability) {
    let always = durability == Durability::Always;
    let ctx = format!("seed {seed} {durability:?}");
    let ctx = ctx.as_str();
    let mut rng = fastrand::Rng::with_seed(seed);
    let config = random_config(&mut rng, durability);
    let storage = SimStorage::new(seed);
    let (log, _) = open(&storage, &config, ctx).await;
    let mut sent = Sent::default();
    let mut acked: Acked = Vec::new();
    let mut offsets = Offsets::default();
    let check_error = |error: &StorageError, what: &str| {
        assert!(error.is_no_space(), "{ctx}: {what} failed with {error} on a full disk, not a no-space error");
    };
    for _ in 0..rng.usize(0..6) {
        let (serial, record) = sent.record(&mut rng);
        acked.push((log.append(record).await.unwrap_or_else(|e| panic!("{ctx}: append: {e}")), serial));
    }
    storage.fail_after_writes(rng.u64(0..30), Failure::NoSpace);
    let mut failures = 0;
    let mut steps = 0;
    // Go on until a few operations have failed (each later one must fail too).
    while failures < 3 && steps < 200 {
        steps += 1;
        match rng.u8(0..10) {
            0..=6 => {
                let (serial, record) = sent.record(&mut rng);
                match log.append(record).await {
                    Ok(appended) => {
                        assert_eq!(failures, 0, "{ctx}: an append succeeded on a full disk");
                        acked.push((appended, serial));
                    }
                    Err(error) => {
                        check_error(&error, "an append");
                        failures += 1;
                    }
                }
            }
            7..=8 => {
                let mut serials = Vec::new();
                let mut futures = Vec::new();
                for _ in 0..rng.usize(2..=4) {
                    let (serial, record) = sent.record(&mut rng);
                    serials.push(serial);
                    futures.push(log.append(record));
                }
                for (result, serial) in futures_util::future::join_all(futures).await.into_iter().zip(serials) {
                    match result {
                        Ok(appended) => {
                            assert_eq!(failures, 0, "{ctx}: an append succeeded on a full disk");
                            acked.push((appended, serial));
                        }
                        Err(error) => {
                            check_error(&error, "a concurrent append");
                            failures += 1;
                        }
                    }
                }
            }
            _ => {
                let key = KEYS[rng.usize(0..KEYS.len())];
                let next = log.stats().next_offset;
                if next == 0 {
                    continue;
                }
                let offset = rng.u64(0..next);
                match log.store_offset(key, offset).await {
                    Ok(()) => {
                        assert_eq!(failures, 0, "{ctx}: an offset store succeeded on a full disk");
                        offsets.acked(key, offset, always);
                    }
                    Err(error) => {
                        check_error(&error, "an offset store");
                        offsets.maybe(key, offset);
                        failures += 1;
                    }
                }
            }
        }
    }
    // Reads still serve every acknowledged append.
    let full = read_back(&log, &sent, &format!("{ctx}, disk full")).await;
    full.assert_holds(&acked, ctx);
    assert_eq!(full.records.len(), acked.len(), "{ctx}: a failed append is readable");
    for key in KEYS {
        assert_eq!(
            log.stored_offset(key),
            offsets.0.get(&key).and_then(|m| m.current),
            "{ctx}: a failed store changed the offset of {key:?}"
        );
    }
    // Space returns: appends go on at the next offset and everything is there.
    storage.free_space();
    let mut next = full.next_offset;
    for _ in 0..rng.usize(1..8) {
        let (serial, record) = sent.record(&mut rng);
        let appended = log.append(record).await.unwrap_or_else(|e| panic!("{ctx}: append after space returned: {e}"));
        assert_eq!(appended.base_offset, next, "{ctx}: offsets after space returned");
        next += u64::from(appended.count);
        acked.push((appended, serial));
    }
    let mut futures = Vec::new();
    let mut serials = Vec::new();
    for _ in 0..3 {
        let (serial, record) = sent.record(&mut rng);
        serials.push(serial);
        futures.push(log.append(record));
    }
    for (result, serial) in futures_util::future::join_all(futures).await.into_iter().zip(serials) {
        let appended = result.unwrap_or_else(|e| panic!("{ctx}: concurrent append after space returned: {e}"));
        assert_eq!(appended.base_offset, next, "{ctx}: offsets after space returned");
        next += u64::from(appended.count);
        acked.push((appended, serial));
    }
    let key = KEYS[rng.usize(0..KEYS.len())];
    log.store_offset(key, next - 1).await.unwrap_or_else(|e| panic!("{ctx}: offset store after space returned: {e}"));
    offsets.acked(key, next - 1, always);
    let order_after: Vec<u64> = acked.iter().map(|a| a.1).collect();
    let live = read_back(&log, &sent, ctx).await;
    live.assert_holds(&acked, ctx);
    live.assert_prefix_of(&order_after, ctx);
    assert_eq!(live.next_offset, next, "{ctx}: next offset");

    // A power cut now keeps every acknowledged append under `always`, a prefix otherwise.
    let crashed = storage.crash();
    {
        let ctx = &format!("{ctx}, after a power cut");
        let (log, _) = open(&crashed, &config, ctx).await;
        let recovered = read_back(&log, &sent, ctx).await;
        if always {
            recovered.assert_holds(&acked, ctx);
        }
        recovered.assert_prefix_of(&order_after, ctx);
        offsets.check(&log, ctx);
        log.close().await.unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
    }
    // A clean close and reopen keeps everything.
    log.close().await.unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
    let ctx = &format!("{ctx}, after a clean reopen");
    let (log, report) = Partition::open(storage.clone(), Path::new(DIR), PARTITION_ID, config.clone())
        .await
        .unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
    assert!(report.is_clean(), "{ctx}: repair needed: {report:?}");
    let reopened = read_back(&log, &sent, ctx).await;
    assert_eq!(reopened.records, live.records, "{ctx}: the log changed");
    for key in KEYS {
        assert_eq!(log.stored_offset(key), offsets.0.get(&key).and_then(|m| m.current), "{ctx}: offset of {key:?}");
    }
}

#[test]
fn full_disk_fails_appends_with_no_space_and_loses_nothing_under_always() {
    for seed in 0..200 {
        run(disk_fills_up(seed, Durability::Always));
    }
}

#[test]
fn full_disk_fails_appends_with_no_space_and_loses_nothing_under_never() {
    for seed in 0..200 {
        run(disk_fills_up(seed, Durability::Never));
    }
}

// ---------------------------------------------------------------------------------------------
// Power cuts with no failing write

/// A mix of awaited and spawned (in-flight) appends, offset stores, syncs and purges, then a
/// power cut at an arbitrary moment, possibly with appends still queued.
async fn power_cut(seed: u64, durability: Durability) {
    let always = durability == Durability::Always;
    let ctx = format!("seed {seed} {durability:?}");
    let ctx = ctx.as_str();
    let mut rng = fastrand::Rng::with_seed(seed);
    let config = random_config(&mut rng, durability);
    let storage = SimStorage::new(seed);
    let (log, _) = open(&storage, &config, ctx).await;
    let mut sent = Sent::default();
    let acked: Rc<RefCell<Acked>> = Rc::default();
    let mut handles = Vec::new();
    let mut required: Acked = Vec::new();
    let mut offsets = Offsets::default();
    // Offsets below this were purged.
    let mut purged_before = 0;
    for _ in 0..rng.usize(1..40) {
        match rng.u8(0..20) {
            0..=7 => {
                let (serial, record) = sent.record(&mut rng);
                let appended = log.append(record).await.unwrap_or_else(|e| panic!("{ctx}: append: {e}"));
                acked.borrow_mut().push((appended, serial));
            }
            8..=11 => {
                for _ in 0..rng.usize(1..=4) {
                    let (serial, record) = sent.record(&mut rng);
                    let (log, acked) = (log.clone(), acked.clone());
                    handles.push(monoio::spawn(async move {
                        let appended = log.append(record).await.expect("spawned append");
                        acked.borrow_mut().push((appended, serial));
                    }));
                }
            }
            12..=13 => {
                for _ in 0..rng.usize(1..4) {
                    yield_now().await;
                }
            }
            14..=15 => {
                let key = KEYS[rng.usize(0..KEYS.len())];
                let next = log.stats().next_offset;
                if next > 0 {
                    let offset = rng.u64(0..next);
                    log.store_offset(key, offset).await.unwrap_or_else(|e| panic!("{ctx}: store: {e}"));
                    offsets.acked(key, offset, always);
                }
            }
            16..=17 => {
                let before = acked.borrow().clone();
                log.sync().await.unwrap_or_else(|e| panic!("{ctx}: sync: {e}"));
                required = before;
                offsets.synced();
            }
            18 => {
                for handle in handles.drain(..) {
                    handle.await;
                }
            }
            _ => {
                for handle in handles.drain(..) {
                    handle.await;
                }
                log.purge().await.unwrap_or_else(|e| panic!("{ctx}: purge: {e}"));
                purged_before = log.stats().next_offset;
                acked.borrow_mut().clear();
                required.clear();
            }
        }
        if always {
            required = acked.borrow().clone();
        }
    }
    for _ in 0..rng.usize(0..3) {
        yield_now().await;
    }
    if always {
        required = acked.borrow().clone();
    }
    let crashed = storage.crash();
    drop(handles);
    let (log, report) = open(&crashed, &config, ctx).await;
    let recovered = read_back(&log, &sent, ctx).await;
    recovered.assert_holds(&required, ctx);
    offsets.check(&log, ctx);
    assert_eq!(recovered.first_offset, purged_before, "{ctx}: first offset after purge and power cut");
    recovered_log_stays_usable(&crashed, &config, (log, report), &mut sent, &recovered, &mut rng, ctx).await;
}

#[test]
fn power_cut_never_loses_an_acknowledged_append_under_always() {
    for seed in 0..200 {
        run(power_cut(seed, Durability::Always));
    }
}

#[test]
fn power_cut_keeps_everything_synced_under_never() {
    for seed in 0..200 {
        run(power_cut(seed, Durability::Never));
    }
}

// ---------------------------------------------------------------------------------------------
// Failing syncs

/// Whether a change refused while syncs fail says the partition failed for good; panics when
/// the error is not a partition failure.
fn failed_for_good(error: &StorageError, ctx: &str) -> bool {
    match error {
        StorageError::Failed { no_space, .. } => !no_space,
        other => panic!("{ctx}: a failed sync refused a change with {other}, not a partition failure"),
    }
}

/// Appends (one at a time and in concurrent groups) and syncs while file syncs fail now and
/// then, with ENOSPC keeping or dropping the unsynced writes, or with EIO. Every refusal must
/// be a partition failure; one caused by a full disk heals in place once the retry time has
/// passed, one caused by EIO only with a reopen. What a successful sync covered (under
/// `always`, every acknowledged append) stays readable, and survives a power cut at the end;
/// under `never`, appends acknowledged but unsynced when a failed sync dropped the page cache
/// are lost, as in a power cut.
async fn syncs_fail(seed: u64, durability: Durability) {
    let always = durability == Durability::Always;
    let ctx = format!("seed {seed} {durability:?}");
    let ctx = ctx.as_str();
    let mut rng = fastrand::Rng::with_seed(seed);
    let config = PartitionConfig { no_space_retry: Duration::from_millis(1), ..random_config(&mut rng, durability) };
    let storage = SimStorage::new(seed);
    let (mut log, _) = open(&storage, &config, ctx).await;
    let mut sent = Sent::default();
    let mut acked: Acked = Vec::new();
    let mut required: Acked = Vec::new();
    let mut for_good = false;
    // Serials a failed sync may have dropped: acknowledged and unsynced when a dropping failure
    // was armed, or acknowledged while it was.
    let mut at_risk: HashSet<u64> = HashSet::new();
    let mut dropping_armed = false;
    for _ in 0..rng.usize(1..50) {
        dropping_armed &= storage.sync_failures_left() > 0;
        match rng.u8(0..20) {
            0..=9 => {
                let (serial, record) = sent.record(&mut rng);
                match log.append(record).await {
                    Ok(appended) => acked.push((appended, serial)),
                    Err(error) => for_good |= failed_for_good(&error, ctx),
                }
                if dropping_armed {
                    at_risk.insert(serial);
                }
            }
            10..=12 => {
                let mut serials = Vec::new();
                let mut futures = Vec::new();
                for _ in 0..rng.usize(2..=5) {
                    let (serial, record) = sent.record(&mut rng);
                    serials.push(serial);
                    futures.push(log.append(record));
                }
                for (result, serial) in futures_util::future::join_all(futures).await.into_iter().zip(serials) {
                    match result {
                        Ok(appended) => acked.push((appended, serial)),
                        Err(error) => for_good |= failed_for_good(&error, ctx),
                    }
                    if dropping_armed {
                        at_risk.insert(serial);
                    }
                }
            }
            13..=14 => {
                let before: Acked = acked.iter().filter(|a| !at_risk.contains(&a.1)).copied().collect();
                match log.sync().await {
                    Ok(()) => required = before,
                    Err(error) => for_good |= failed_for_good(&error, ctx),
                }
            }
            15..=16 => {
                let failure = match rng.u8(0..10) {
                    0..=4 => SyncFailure::NoSpace,
                    5..=8 => SyncFailure::NoSpaceDropping,
                    _ => SyncFailure::Io,
                };
                if failure == SyncFailure::NoSpaceDropping {
                    let synced: HashSet<u64> = required.iter().map(|a| a.1).collect();
                    at_risk.extend(acked.iter().map(|a| a.1).filter(|serial| !synced.contains(serial)));
                    dropping_armed = true;
                }
                storage.fail_syncs(rng.u32(1..=2), failure);
            }
            17..=18 => monoio::time::sleep(Duration::from_millis(2)).await,
            _ if always => {
                // Under `always` everything visible was synced: reads go on through failures.
                read_back(&log, &sent, ctx).await.assert_holds(&acked, ctx);
            }
            _ => {}
        }
        if always {
            required = acked.clone();
        }
    }
    storage.fail_syncs(0, SyncFailure::Io);
    if !for_good {
        monoio::time::sleep(Duration::from_millis(2)).await;
        let (serial, record) = sent.record(&mut rng);
        match log.append(record).await {
            Ok(appended) => acked.push((appended, serial)),
            Err(error) => for_good = failed_for_good(&error, ctx),
        }
        if always {
            required = acked.clone();
        }
    }
    if for_good {
        drop(log);
        (log, _) = open(&storage, &config, &format!("{ctx}, reopened after a failure for good")).await;
    }
    let live = read_back(&log, &sent, ctx).await;
    live.assert_holds(&required, ctx);
    let crashed = storage.crash();
    let ctx = &format!("{ctx}, after a power cut");
    let (after, report) = open(&crashed, &config, ctx).await;
    let recovered = read_back(&after, &sent, ctx).await;
    recovered.assert_holds(&required, ctx);
    recovered_log_stays_usable(&crashed, &config, (after, report), &mut sent, &recovered, &mut rng, ctx).await;
}

#[test]
fn failing_syncs_keep_every_acknowledged_append_under_always() {
    for seed in 0..200 {
        run(syncs_fail(seed, Durability::Always));
    }
}

#[test]
fn failing_syncs_keep_everything_synced_under_never() {
    for seed in 0..200 {
        run(syncs_fail(seed, Durability::Never));
    }
}

// ---------------------------------------------------------------------------------------------
// Smallest reproducers of the bugs the randomized tests above found

/// Under `never`, an offset made durable by an acknowledged `sync()` must survive a power cut
/// (lib.rs: a power cut "may lose everything since the last" sync, nothing before it).
///
/// Bug: it can be lost. Store 0 (sequence 1, slot 1), `sync()`, store 1 (sequence 2, slot 0,
/// unsynced), store 2 (sequence 3, slot 1 again, unsynced: it overwrites the synced value).
/// A power cut that loses the second write and tears the third leaves no valid slot: the
/// offset reads back as `None` and the file counts as unreadable. Seeds 1, 2, 10, 12, 17 and
/// 19 of these do that. The two-slot scheme assumes the slot not written by the previous store
/// holds a durable value, which only `always` (a sync per store) guarantees.
#[test]
fn synced_offset_survives_two_unsynced_stores_and_a_power_cut_under_never() {
    for seed in 0..20 {
        run(async move {
            let config = PartitionConfig { durability: Durability::Never, ..PartitionConfig::default() };
            let storage = SimStorage::new(seed);
            let (log, _) = open(&storage, &config, "").await;
            log.append(common::record(1, 3, 10)).await.expect("append");
            let key = ConsumerKey::Consumer(1);
            log.store_offset(key, 0).await.expect("store");
            log.sync().await.expect("sync");
            log.store_offset(key, 1).await.expect("store");
            log.store_offset(key, 2).await.expect("store");
            let crashed = storage.crash();
            let (log, report) = open(&crashed, &config, "").await;
            let got = log.stored_offset(key);
            assert!(
                matches!(got, Some(0..=2)),
                "seed {seed}: offset synced as 0 (then 1, 2 unsynced) recovered as {got:?}; {report:?}"
            );
        });
    }
}

/// A segment roll on a full disk: the append must fail with a no-space error and the partition
/// must take appends again once space returns (`StorageError::is_no_space`'s promise).
///
/// Bug: the roll's index write (`close_files` -> `persist_index`) fails with ENOSPC and
/// `close_files` turns that into `fail(.., "index write failed on close", StorageError::Closed)`:
/// the append fails with `Failed { reason: "index write failed on close: partition is closed" }`
/// (`is_no_space()` is false, and the reason names the wrong cause), and every later append
/// fails the same way after `free_space()`, until the partition is reopened. Under `never`
/// every roll has index entries to write, so any roll on a full disk does it; under `always`
/// it happens when the previous append's index write was the one that hit the full disk.
async fn full_disk_during_a_roll(durability: Durability) {
    let config = PartitionConfig { durability, segment_size: 512, ..PartitionConfig::default() };
    let storage = SimStorage::new(0);
    let (log, _) = open(&storage, &config, "").await;
    if durability == Durability::Always {
        // Write 0 is the record, write 1 its index entry (after the sync): that one fills the disk.
        storage.fail_after_writes(1, Failure::NoSpace);
        log.append(common::record(1, 1, 100)).await.expect("the record itself was written and synced");
    } else {
        log.append(common::record(1, 1, 100)).await.expect("append");
        storage.fail_after_writes(0, Failure::NoSpace);
    }
    // 404 + 404 bytes do not fit in 512: this append rolls the segment.
    match log.append(common::record(2, 1, 100)).await {
        Ok(appended) => panic!("{durability:?}: an append succeeded on a full disk: {appended:?}"),
        Err(error) => assert!(error.is_no_space(), "{durability:?}: the roll failed with {error}, not no-space"),
    }
    storage.free_space();
    let appended = log
        .append(common::record(3, 1, 100))
        .await
        .unwrap_or_else(|e| panic!("{durability:?}: append once space returned: {e}"));
    assert_eq!(appended.base_offset, 1);
    let polled = log.read(ReadFrom::First, 10).await.expect("read");
    let ids: Vec<u128> = common::messages(&polled).iter().map(|m| m.1).collect();
    assert_eq!(ids, [1001, 3001]);
}

#[test]
fn full_disk_during_a_segment_roll_is_a_no_space_error_under_never() {
    run(full_disk_during_a_roll(Durability::Never));
}

#[test]
fn full_disk_during_a_segment_roll_is_a_no_space_error_under_always() {
    run(full_disk_during_a_roll(Durability::Always));
}

/// A first offset store for a consumer that fails on a full disk must leave nothing behind: the
/// next open after a clean close must be clean.
///
/// Bug: `store_offset` creates the offset file (`OpenMode::CREATE`) before writing it; when the
/// write fails the empty file stays on disk, untracked, and every later open reports it as
/// `offsets_unreadable: 1` (`RecoveryReport::is_clean()` is false), though nothing was damaged.
#[test]
fn failed_first_offset_store_on_a_full_disk_leaves_the_next_open_clean() {
    run(async {
        let config = PartitionConfig { durability: Durability::Always, ..PartitionConfig::default() };
        let storage = SimStorage::new(0);
        let (log, _) = open(&storage, &config, "").await;
        log.append(common::record(1, 1, 100)).await.expect("append");
        storage.fail_after_writes(0, Failure::NoSpace);
        let error = log.store_offset(ConsumerKey::Group(4), 0).await.expect_err("a store on a full disk");
        assert!(error.is_no_space(), "{error}");
        storage.free_space();
        log.close().await.expect("close");
        let (log, report) = open(&storage, &config, "").await;
        assert_eq!(log.stored_offset(ConsumerKey::Group(4)), None);
        assert!(report.is_clean(), "a clean close needed repair: {report:?}");
    });
}
