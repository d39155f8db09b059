//! The event log: replay, torn and corrupt tails on real files (io_uring) and on the simulated
//! disk, refusal of foreign records, failed writes, and the leader on top of it.

mod common;

use std::io::Write;
use std::path::Path;

use common::{block_on, create_stream, create_topic, name, run_uring};
use whippet_metadata::log::{LOG_FILE_NAME, RECORD_HEADER_BYTES, encode_record};
use whippet_metadata::{Event, EventLog, Leader, LogError, Metadata, Ref, SubmitError, TailDamage};
use whippet_storage::io::{LogFile, OpenMode, Storage, UringStorage};
use whippet_storage::sim::{Failure, SimStorage};

fn events(count: u64) -> Vec<(u64, Event)> {
    (1..=count)
        .map(|version| {
            let name = format!("stream-{version}");
            (version, Event::StreamCreated { id: version as u32 - 1, name, created_at: version * 10 })
        })
        .collect()
}

async fn append_all<S: Storage>(log: &mut EventLog<S>, events: &[(u64, Event)]) {
    for (version, event) in events {
        log.append(*version, event).await.unwrap();
    }
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    std::fs::OpenOptions::new().append(true).open(path).unwrap().write_all(bytes).unwrap();
}

#[test]
fn uring_replays_what_it_appended() {
    let dir = tempfile::tempdir().unwrap();
    run_uring(async {
        let (mut log, replayed, report) = EventLog::open(UringStorage, dir.path()).await.unwrap();
        assert!(replayed.is_empty());
        assert_eq!((report.records, report.truncated), (0, None));
        append_all(&mut log, &events(20)).await;
        let length_bytes = log.len_bytes();
        drop(log);
        let (log, replayed, report) = EventLog::open(UringStorage, dir.path()).await.unwrap();
        assert_eq!(replayed, events(20));
        assert_eq!((report.last_version, report.valid_bytes, report.truncated), (20, length_bytes, None));
        assert_eq!(log.last_version(), 20);
    });
}

#[test]
fn uring_cuts_garbage_appended_after_the_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(LOG_FILE_NAME);
    run_uring(async {
        let (mut log, _, _) = EventLog::open(UringStorage, dir.path()).await.unwrap();
        append_all(&mut log, &events(5)).await;
        let valid_bytes = log.len_bytes();
        drop(log);
        let mut rng = fastrand::Rng::with_seed(7);
        let garbage: Vec<u8> = (0..333).map(|_| rng.u8(..)).collect();
        append_bytes(&path, &garbage);
        let (mut log, replayed, report) = EventLog::open(UringStorage, dir.path()).await.unwrap();
        assert_eq!(replayed, events(5));
        assert_eq!(report.valid_bytes, valid_bytes);
        let (cut_bytes, _) = report.truncated.expect("tail cut");
        assert_eq!(cut_bytes, 333);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), valid_bytes);
        // The log goes on after the cut, and a clean reopen replays all of it.
        append_all(&mut log, &events(8)[5..]).await;
        drop(log);
        let (_, replayed, report) = EventLog::open(UringStorage, dir.path()).await.unwrap();
        assert_eq!((replayed, report.truncated), (events(8), None));
    });
}

#[test]
fn uring_cuts_a_torn_record_and_a_rotten_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(LOG_FILE_NAME);
    run_uring(async {
        let (mut log, _, _) = EventLog::open(UringStorage, dir.path()).await.unwrap();
        append_all(&mut log, &events(3)).await;
        let three_bytes = log.len_bytes();
        drop(log);
        // A record torn in its payload: only part of version 4 reached the disk.
        let record = encode_record(4, &events(4)[3].1).unwrap();
        append_bytes(&path, &record[..record.len() - 3]);
        let (_, replayed, report) = EventLog::open(UringStorage, dir.path()).await.unwrap();
        assert_eq!(replayed, events(3));
        assert_eq!(report.truncated, Some((record.len() as u64 - 3, TailDamage::ShortPayload)));
        // A record torn in its header.
        append_bytes(&path, &record[..RECORD_HEADER_BYTES - 1]);
        let (_, _, report) = EventLog::open(UringStorage, dir.path()).await.unwrap();
        assert_eq!(report.truncated, Some((RECORD_HEADER_BYTES as u64 - 1, TailDamage::ShortHeader)));
        // A whole record whose last payload byte rotted.
        let mut rotten = record.clone();
        *rotten.last_mut().unwrap() ^= 0x40;
        append_bytes(&path, &rotten);
        let (_, replayed, report) = EventLog::open(UringStorage, dir.path()).await.unwrap();
        assert_eq!((replayed.len(), report.truncated), (3, Some((record.len() as u64, TailDamage::Checksum))));
        // Zeros, as a file system may leave after a crash while extending a file.
        append_bytes(&path, &[0u8; 64]);
        let (_, _, report) = EventLog::open(UringStorage, dir.path()).await.unwrap();
        assert_eq!(report.truncated, Some((64, TailDamage::Checksum)));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), three_bytes);
    });
}

#[test]
fn whole_records_out_of_sequence_are_refused_not_cut() {
    let storage = SimStorage::new(1);
    let dir = Path::new("/meta");
    let file = block_on(storage.open(&dir.join(LOG_FILE_NAME), OpenMode::CREATE)).unwrap();
    let all = events(3);
    let first = encode_record(1, &all[0].1).unwrap();
    let third = encode_record(3, &all[2].1).unwrap();
    let position = first.len() as u64;
    block_on(file.write_all_at(first, 0)).0.unwrap();
    block_on(file.write_all_at(third, position)).0.unwrap();
    let error = block_on(EventLog::open(storage.clone(), dir)).unwrap_err();
    assert!(matches!(error, LogError::VersionGap { expected: 2, found: 3, .. }), "{error}");
    // A record that checks out but does not decode is refused too.
    let mut bogus = vec![0u8; RECORD_HEADER_BYTES];
    let payload = [0xff, 0xff, 0xff];
    let mut hasher = xxh3_of(2, &payload).to_le_bytes().to_vec();
    bogus[0..4].copy_from_slice(&3u32.to_le_bytes());
    bogus[4..12].copy_from_slice(&2u64.to_le_bytes());
    bogus[12..20].swap_with_slice(&mut hasher[..]);
    bogus.extend_from_slice(&payload);
    block_on(file.write_all_at(bogus, position)).0.unwrap();
    let error = block_on(EventLog::open(storage, dir)).unwrap_err();
    assert!(matches!(error, LogError::Undecodable { version: 2, .. }), "{error}");
}

fn xxh3_of(version: u64, payload: &[u8]) -> u64 {
    let mut bytes = version.to_le_bytes().to_vec();
    bytes.extend_from_slice(payload);
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

#[test]
fn a_power_cut_keeps_every_acknowledged_append() {
    for seed in 0..200 {
        let storage = SimStorage::new(seed);
        let dir = Path::new("/data/metadata");
        let all = events(12);
        let (mut log, _, _) = block_on(EventLog::open(storage.clone(), dir)).unwrap();
        let mut acknowledged = 0;
        storage.fail_after_writes(seed % 15, Failure::Crash);
        for (version, event) in &all {
            if block_on(log.append(*version, event)).is_err() {
                break;
            }
            acknowledged = *version;
        }
        let after = storage.crash();
        let (_, replayed, report) = block_on(EventLog::open(after.clone(), dir)).unwrap();
        let replayed_version = replayed.len() as u64;
        // The torn append was never acknowledged; it may have landed whole all the same.
        assert!((acknowledged..=acknowledged + 1).contains(&replayed_version), "seed {seed}");
        assert_eq!(replayed, all[..replayed_version as usize], "seed {seed}");
        assert_eq!(report.valid_bytes, after.file_len(&dir.join(LOG_FILE_NAME)).unwrap(), "seed {seed}");
    }
}

#[test]
fn a_failed_write_is_cut_back_and_the_log_goes_on() {
    let storage = SimStorage::new(3);
    let dir = Path::new("/meta");
    let all = events(4);
    let (mut log, _, _) = block_on(EventLog::open(storage.clone(), dir)).unwrap();
    block_on(log.append(1, &all[0].1)).unwrap();
    storage.fail_after_writes(0, Failure::NoSpace);
    let error = block_on(log.append(2, &all[1].1)).expect_err("a write on a full disk");
    assert!(matches!(error, LogError::WriteUndone { .. }) && error.is_no_space(), "{error}");
    storage.free_space();
    for (version, event) in &all[1..] {
        block_on(log.append(*version, event)).unwrap();
    }
    let (_, replayed, report) = block_on(EventLog::open(storage.crash(), dir)).unwrap();
    assert_eq!((replayed, report.truncated), (all, None));
}

#[test]
fn a_dead_disk_poisons_the_log() {
    let storage = SimStorage::new(4);
    let dir = Path::new("/meta");
    let all = events(3);
    let (mut log, _, _) = block_on(EventLog::open(storage.clone(), dir)).unwrap();
    storage.fail_after_writes(0, Failure::Crash);
    assert!(block_on(log.append(1, &all[0].1)).is_err());
    assert!(matches!(block_on(log.append(1, &all[0].1)), Err(LogError::Poisoned)));
}

#[test]
fn the_leader_bootstraps_root_once_and_replays_its_state() {
    let storage = SimStorage::new(5);
    let dir = Path::new("/meta");
    let (mut leader, report) = block_on(Leader::open(storage.clone(), dir)).unwrap();
    assert_eq!((leader.version(), report.records), (0, 0));
    let root = block_on(leader.bootstrap_root("iggy", "$argon2id$root", 1)).unwrap();
    assert_eq!(root.version, 1);
    block_on(leader.submit(&create_stream("orders"), 2)).unwrap();
    let committed = block_on(leader.submit(&create_topic(name("orders"), "eu", 3), 3)).unwrap();
    assert_eq!(committed.version, 3);
    let refused = block_on(leader.submit(&create_stream("orders"), 4)).unwrap_err();
    assert!(matches!(refused, SubmitError::Rejected(ref error) if error.iggy_code() == 1012));
    let expected = leader.metadata().clone();
    drop(leader);
    let (leader, report) = block_on(Leader::open(storage.crash(), dir)).unwrap();
    assert_eq!((report.records, report.truncated), (3, None));
    assert_eq!(leader.metadata(), &expected);
    assert_eq!(leader.metadata().topic(&Ref::Id(0), &name("eu")).unwrap().partitions_count, 3);
    assert_eq!(leader.metadata().user_by_name("iggy").unwrap().id, 0);
    assert_ne!(leader.metadata(), &Metadata::new());
}
