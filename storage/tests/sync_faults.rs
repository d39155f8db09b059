//! Failed `fdatasync`s on the simulated disk: a full disk that shows up only at the sync
//! (thin provisioning, NFS, delayed allocation) fails the partition until it recovers in place
//! on a later change, once the retry time has passed; an I/O error fails it until it is
//! reopened. Reads go on throughout, and nothing acknowledged is lost.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{messages, record, run};
use whippet_storage::sim::{SimStorage, SyncFailure};
use whippet_storage::{Appended, Durability, Partition, PartitionConfig, ReadFrom, StorageError};

const DIR: &str = "/sim/sync/partition";
const RETRY: Duration = Duration::from_millis(40);

fn config(durability: Durability, segment_size: u64) -> PartitionConfig {
    PartitionConfig { durability, segment_size, no_space_retry: RETRY, ..PartitionConfig::default() }
}

async fn open(disk: &SimStorage, config: &PartitionConfig) -> Partition<SimStorage> {
    Partition::open(disk.clone(), Path::new(DIR), 0, config.clone()).await.expect("open").0
}

/// (offset, id) of every message, read from the start.
async fn stored(log: &Partition<SimStorage>) -> Vec<(u64, u128)> {
    let polled = log.read(ReadFrom::First, u32::MAX).await.expect("read");
    messages(&polled).into_iter().map(|(offset, id, _)| (offset, id)).collect()
}

/// (offset, id) of the messages of an acknowledged append of `record(serial, count, _)`.
fn acked(appended: Appended, serial: u64) -> Vec<(u64, u128)> {
    (0..appended.count)
        .map(|i| (appended.base_offset + u64::from(i), u128::from(serial * 1000 + u64::from(i) + 1)))
        .collect()
}

fn assert_prefix(stored: &[(u64, u128)], expected: &[(u64, u128)], what: &str) {
    assert!(stored.len() >= expected.len() && stored[..expected.len()] == *expected, "{what}: {stored:?}");
}

fn assert_no_space_failure(error: &StorageError, what: &str) {
    assert!(matches!(error, StorageError::Failed { no_space: true, .. }), "{what}: {error}");
    assert!(error.is_no_space(), "{what}: {error}");
}

/// A sync on a full disk fails the partition; it refuses changes until the retry time, then
/// recovers in place on the next append: the unsynced records the kernel kept stay, those it
/// dropped are cut, and the log goes on at the next offset.
async fn full_disk_at_sync(durability: Durability, failure: SyncFailure) {
    let what = format!("{durability:?} {failure:?}");
    let always = durability == Durability::Always;
    let disk = SimStorage::new(1);
    let config = config(durability, 64 << 10);
    let log = open(&disk, &config).await;
    let mut durable = Vec::new();
    for serial in 0..4 {
        durable.extend(acked(log.append(record(serial, 2, 100)).await.expect("append"), serial));
    }
    log.sync().await.expect("sync");
    // Under `never`, appends acknowledged but not yet synced.
    let mut unsynced = Vec::new();
    if !always {
        for serial in 4..6 {
            unsynced.extend(acked(log.append(record(serial, 2, 100)).await.expect("append"), serial));
        }
    }
    disk.fail_syncs(1, failure);
    let failed = if always { log.append(record(6, 3, 100)).await.map(drop) } else { log.sync().await };
    assert_no_space_failure(&failed.expect_err("a sync on a full disk"), &what);
    assert!(log.stats().failed, "{what}: stats show the failure");
    let refused = log.append(record(7, 1, 100)).await.expect_err("refused before the retry time");
    assert_no_space_failure(&refused, &what);
    let mut visible = durable.clone();
    visible.extend(&unsynced);
    assert_eq!(stored(&log).await, visible, "{what}: reads go on while failed");

    monoio::time::sleep(RETRY + Duration::from_millis(10)).await;
    let appended =
        log.append(record(8, 2, 100)).await.unwrap_or_else(|e| panic!("{what}: append after the retry time: {e}"));
    assert!(!log.stats().failed, "{what}: recovered");
    let mut kept = durable.clone();
    if failure == SyncFailure::NoSpace {
        // The kernel kept the unsynced records: acknowledged ones keep their offsets, and the
        // refused group of `always` stays too, as it may after a crash.
        kept.extend(&unsynced);
        if always {
            kept.extend((0..3).map(|i| (8 + i, 6001 + u128::from(i))));
        }
    }
    assert_eq!(appended.base_offset, kept.len() as u64, "{what}: the next offset after the recovery");
    kept.extend(acked(appended, 8));
    assert_eq!(stored(&log).await, kept, "{what}: the log after the recovery");

    // A power cut now keeps everything the recovery synced (and, under `always`, the append).
    let (after, _) = Partition::open(disk.crash(), Path::new(DIR), 0, config.clone()).await.expect("open");
    let survived = stored(&after).await;
    let synced = if always { kept.len() } else { kept.len() - 2 };
    assert_prefix(&survived, &kept[..synced], &format!("{what}: after a power cut"));
    // A clean close and reopen finds the same log, with nothing to repair.
    log.close().await.unwrap_or_else(|e| panic!("{what}: close: {e}"));
    let (reopened, report) = Partition::open(disk, Path::new(DIR), 0, config).await.expect("reopen");
    assert!(report.is_clean(), "{what}: a clean close needed repair: {report:?}");
    assert_eq!(stored(&reopened).await, kept, "{what}: after a clean reopen");
}

#[test]
fn a_full_disk_at_sync_heals_in_place_under_always() {
    run(full_disk_at_sync(Durability::Always, SyncFailure::NoSpace));
}

#[test]
fn a_full_disk_at_sync_that_drops_the_unsynced_pages_heals_in_place_under_always() {
    run(full_disk_at_sync(Durability::Always, SyncFailure::NoSpaceDropping));
}

#[test]
fn a_full_disk_at_sync_heals_in_place_under_never() {
    run(full_disk_at_sync(Durability::Never, SyncFailure::NoSpace));
}

#[test]
fn a_full_disk_at_sync_that_drops_the_unsynced_pages_heals_in_place_under_never() {
    run(full_disk_at_sync(Durability::Never, SyncFailure::NoSpaceDropping));
}

/// While the disk stays full, each try to recover fails and the partition keeps refusing, with
/// a no-space error; once syncs succeed again the next try recovers it.
#[test]
fn a_disk_that_stays_full_keeps_the_partition_failed_until_space_returns() {
    run(async {
        let disk = SimStorage::new(2);
        let log = open(&disk, &config(Durability::Always, 64 << 10)).await;
        let first = log.append(record(0, 2, 100)).await.expect("append");
        disk.fail_syncs(3, SyncFailure::NoSpace);
        assert_no_space_failure(&log.append(record(1, 1, 100)).await.expect_err("sync fails"), "first");
        for attempt in 0..2 {
            monoio::time::sleep(RETRY + Duration::from_millis(10)).await;
            let refused = log.append(record(2, 1, 100)).await.expect_err("the recovery's sync fails too");
            assert_no_space_failure(&refused, &format!("try {attempt}"));
        }
        monoio::time::sleep(RETRY + Duration::from_millis(10)).await;
        let appended = log.append(record(3, 1, 100)).await.expect("recovered");
        // The refused record 1 was intact, so the recovery kept it (offset 2).
        assert_eq!(appended.base_offset, 3);
        let mut expected = acked(first, 0);
        expected.push((2, 1001));
        expected.extend(acked(appended, 3));
        assert_eq!(stored(&log).await, expected);
    });
}

/// EIO at a sync fails the partition for good: it refuses changes after the retry time too,
/// reads go on, and a reopen (the server's restart) recovers it with everything acknowledged.
#[test]
fn an_io_error_at_sync_fails_the_partition_until_it_is_reopened() {
    run(async {
        let disk = SimStorage::new(3);
        let config = config(Durability::Always, 64 << 10);
        let log = open(&disk, &config).await;
        let mut expected = Vec::new();
        for serial in 0..3 {
            expected.extend(acked(log.append(record(serial, 2, 100)).await.expect("append"), serial));
        }
        disk.fail_syncs(1, SyncFailure::Io);
        let error = log.append(record(3, 1, 100)).await.expect_err("EIO at sync");
        assert!(matches!(error, StorageError::Failed { no_space: false, .. }), "{error}");
        assert!(!error.is_no_space());
        monoio::time::sleep(RETRY + Duration::from_millis(10)).await;
        let refused = log.append(record(4, 1, 100)).await.expect_err("still failed");
        assert!(matches!(refused, StorageError::Failed { no_space: false, .. }), "{refused}");
        assert!(log.stats().failed);
        assert_eq!(stored(&log).await, expected, "reads go on");
        drop(log);
        let reopened = open(&disk, &config).await;
        let survived = stored(&reopened).await;
        assert_prefix(&survived, &expected, "after a reopen");
        let appended = reopened.append(record(5, 1, 100)).await.expect("a reopened partition takes appends");
        assert_eq!(appended.base_offset, survived.len() as u64);
    });
}

/// A segment roll under `always` whose sync of the old segment fails must not acknowledge the
/// records of the same group written to that segment (it used to: the group's final sync was
/// of the new, empty segment). Then the recovery keeps or cuts them and the log goes on.
async fn failed_roll(failure: SyncFailure, seed: u64) {
    let what = format!("{failure:?} seed {seed}");
    let disk = SimStorage::new(seed);
    // 604-byte records (256-byte header, 48-byte frame, 300-byte payload): two per segment.
    let config = config(Durability::Always, 1_300);
    let log = open(&disk, &config).await;
    let first = log.append(record(0, 1, 300)).await.expect("append");
    disk.fail_syncs(1, failure);
    // One group: record 1 fills the segment, record 2 rolls it and the roll's sync fails.
    let (one, two) = futures_util::future::join(log.append(record(1, 1, 300)), log.append(record(2, 1, 300))).await;
    assert_no_space_failure(&two.expect_err("the roll failed"), &what);
    assert_no_space_failure(&one.expect_err("written to the segment whose sync failed"), &what);
    let (crashed, _) = Partition::open(disk.crash(), Path::new(DIR), 0, config.clone()).await.expect("open");
    assert_prefix(&stored(&crashed).await, &acked(first, 0), &format!("{what}: after a power cut"));

    monoio::time::sleep(RETRY + Duration::from_millis(10)).await;
    let appended = log.append(record(3, 1, 300)).await.unwrap_or_else(|e| panic!("{what}: after the retry: {e}"));
    let mut expected = acked(first, 0);
    if failure == SyncFailure::NoSpace {
        expected.push((1, 1001));
    }
    assert_eq!(appended.base_offset, expected.len() as u64, "{what}");
    expected.extend(acked(appended, 3));
    assert_eq!(stored(&log).await, expected, "{what}");
    log.close().await.expect("close");
    let (reopened, report) = Partition::open(disk, Path::new(DIR), 0, config).await.expect("reopen");
    assert!(report.is_clean(), "{what}: {report:?}");
    assert_eq!(stored(&reopened).await, expected, "{what}: after a clean reopen");
}

#[test]
fn a_failed_roll_acknowledges_nothing_it_did_not_sync_and_heals() {
    for seed in 0..20 {
        run(failed_roll(SyncFailure::NoSpace, seed));
        run(failed_roll(SyncFailure::NoSpaceDropping, seed));
    }
}
