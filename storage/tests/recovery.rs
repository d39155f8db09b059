//! Recovery on open: torn and corrupt tails are cut, missing or short indexes rebuilt, closed
//! segments whose index disagrees with their size scanned, and damage elsewhere never served.

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common::{messages, record, run};
use whippet_storage::io::UringStorage;
use whippet_storage::{Durability, Partition, PartitionConfig, ReadFrom, StorageError};

const RECORD_LEN: u64 = 256 + 5 * (48 + 100);

fn config() -> PartitionConfig {
    PartitionConfig { durability: Durability::Always, segment_size: 4 * RECORD_LEN, ..PartitionConfig::default() }
}

/// Appends `records` records of 5 messages; returns the partition still open.
async fn write(dir: &Path, records: u64) -> Partition {
    let (log, _) = Partition::open(UringStorage, dir, 0, config()).await.unwrap();
    for r in 0..records {
        log.append(record(r, 5, 100)).await.unwrap();
    }
    log
}

fn segment_files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

fn flip_byte(path: &Path, position: u64) {
    let file = OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, position).unwrap();
    file.write_all_at(&[byte[0] ^ 0x5a], position).unwrap();
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let file = OpenOptions::new().append(true).open(path).unwrap();
    let len = file.metadata().unwrap().len();
    file.write_all_at(bytes, len).unwrap();
}

async fn all_offsets(log: &Partition) -> Vec<u64> {
    let polled = log.read(ReadFrom::First, 10_000).await.unwrap();
    messages(&polled).iter().map(|m| m.0).collect()
}

#[test]
fn a_clean_reopen_rescans_only_the_last_record() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        write(dir.path(), 10).await.close().await.unwrap();
        let (log, report) = Partition::open(UringStorage, dir.path(), 0, config()).await.unwrap();
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(report.records_scanned, 1);
        assert_eq!(report.segments, 3);
        assert_eq!(report.next_offset, 50);
        assert_eq!(all_offsets(&log).await, (0..50).collect::<Vec<_>>());
    });
}

#[test]
fn a_corrupt_byte_in_the_tail_record_is_detected_and_truncated() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        drop(write(dir.path(), 10).await); // no close: as after a crash
        let last = segment_files(dir.path(), "log").pop().unwrap();
        let len = std::fs::metadata(&last).unwrap().len();
        flip_byte(&last, len - RECORD_LEN / 2);
        let (log, report) = Partition::open(UringStorage, dir.path(), 0, config()).await.unwrap();
        assert_eq!(report.bytes_truncated, RECORD_LEN, "{report:?}");
        assert_eq!(report.truncations.len(), 1);
        assert_eq!(report.next_offset, 45);
        assert_eq!(all_offsets(&log).await, (0..45).collect::<Vec<_>>());
        // The partition goes on from the cut.
        assert_eq!(log.append(record(9, 5, 100)).await.unwrap().base_offset, 45);
    });
}

#[test]
fn a_torn_tail_is_cut_whether_garbage_or_zeros() {
    for tail in [vec![0u8; 700], record(99, 5, 100)[..500].to_vec(), vec![0xff; 40]] {
        let dir = tempfile::tempdir().unwrap();
        run(async {
            drop(write(dir.path(), 6).await);
            let last = segment_files(dir.path(), "log").pop().unwrap();
            append_bytes(&last, &tail);
            let (log, report) = Partition::open(UringStorage, dir.path(), 0, config()).await.unwrap();
            assert_eq!(report.bytes_truncated, tail.len() as u64);
            assert_eq!(all_offsets(&log).await, (0..30).collect::<Vec<_>>());
        });
    }
}

#[test]
fn a_missing_or_short_index_is_rebuilt() {
    for damage in ["missing", "short", "garbage"] {
        let dir = tempfile::tempdir().unwrap();
        run(async {
            write(dir.path(), 10).await.close().await.unwrap();
            let index = segment_files(dir.path(), "index").pop().unwrap();
            match damage {
                "missing" => std::fs::remove_file(&index).unwrap(),
                "short" => OpenOptions::new().write(true).open(&index).unwrap().set_len(13).unwrap(),
                _ => append_bytes(&index, &[0xab; 32]),
            }
            let (log, report) = Partition::open(UringStorage, dir.path(), 0, config()).await.unwrap();
            assert!(report.bytes_truncated == 0, "{damage}: {report:?}");
            if damage == "garbage" {
                assert_eq!(report.index_entries_rebuilt, 0, "{report:?}");
                assert_eq!(std::fs::metadata(&index).unwrap().len(), 2 * 32, "the garbage entry is cut");
            } else {
                assert!(report.index_entries_rebuilt >= 1, "{damage}: {report:?}");
            }
            assert_eq!(all_offsets(&log).await, (0..50).collect::<Vec<_>>());
            drop(log);
            let (_, again) = Partition::open(UringStorage, dir.path(), 0, config()).await.unwrap();
            assert_eq!(again.index_entries_rebuilt, 0, "{damage}: index was persisted");
        });
    }
}

#[test]
fn a_closed_segment_whose_index_disagrees_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        write(dir.path(), 10).await.close().await.unwrap();
        let first_index = segment_files(dir.path(), "index").remove(0);
        OpenOptions::new().write(true).open(&first_index).unwrap().set_len(32).unwrap();
        let (log, report) = Partition::open(UringStorage, dir.path(), 0, config()).await.unwrap();
        assert_eq!(report.segments_scanned, 2, "{report:?}");
        assert_eq!(report.records_scanned, 4 + 1);
        assert_eq!(all_offsets(&log).await, (0..50).collect::<Vec<_>>());
    });
}

#[test]
fn damage_inside_the_log_is_an_error_never_data() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        write(dir.path(), 10).await.close().await.unwrap();
        let first = segment_files(dir.path(), "log").remove(0);
        flip_byte(&first, RECORD_LEN + 300);
        let config = PartitionConfig { cache_size: 0, ..config() };
        let (log, _) = Partition::open(UringStorage, dir.path(), 0, config).await.unwrap();
        let damaged = log.read(ReadFrom::Offset(5), 5).await;
        assert!(matches!(damaged, Err(StorageError::Corrupt { .. })), "{damaged:?}");
        let fine = log.read(ReadFrom::Offset(10), 40).await.unwrap();
        assert_eq!(messages(&fine).len(), 40);
    });
}

#[test]
fn records_lost_before_a_later_segment_drop_what_follows_so_offsets_stay_dense() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        write(dir.path(), 10).await.close().await.unwrap();
        // A power cut before the middle segment's background close: its tail and index are
        // gone while the next segment survived.
        let logs = segment_files(dir.path(), "log");
        let middle = &logs[1];
        let len = std::fs::metadata(middle).unwrap().len();
        OpenOptions::new().write(true).open(middle).unwrap().set_len(len - RECORD_LEN).unwrap();
        std::fs::remove_file(&segment_files(dir.path(), "index")[1]).unwrap();
        let (log, report) = Partition::open(UringStorage, dir.path(), 0, config()).await.unwrap();
        assert_eq!(report.segments_dropped, vec![40], "{report:?}");
        assert_eq!(report.next_offset, 35);
        assert_eq!(all_offsets(&log).await, (0..35).collect::<Vec<_>>());
        assert_eq!(segment_files(dir.path(), "log").len(), 2);
        assert_eq!(log.append(record(7, 5, 100)).await.unwrap().base_offset, 35);
    });
}

/// The same loss when the shortened segment's index agrees with what is left of it (the index
/// entries of the lost records were never written): the segment is trusted without a scan, and
/// the gap after it must still be found.
///
/// Bug: the gap check ran only for scanned segments, so the log reopened with offsets 0..35
/// followed by 40..50, not dense.
#[test]
fn records_lost_before_a_later_segment_are_found_when_the_index_agrees() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        write(dir.path(), 10).await.close().await.unwrap();
        let middle_log = &segment_files(dir.path(), "log")[1];
        let middle_index = &segment_files(dir.path(), "index")[1];
        let len = std::fs::metadata(middle_log).unwrap().len();
        OpenOptions::new().write(true).open(middle_log).unwrap().set_len(len - RECORD_LEN).unwrap();
        OpenOptions::new().write(true).open(middle_index).unwrap().set_len(3 * 32).unwrap();
        let (log, report) = Partition::open(UringStorage, dir.path(), 0, config()).await.unwrap();
        assert_eq!(report.segments_dropped, vec![40], "{report:?}");
        assert_eq!(all_offsets(&log).await, (0..35).collect::<Vec<_>>());
        assert_eq!(log.append(record(7, 5, 100)).await.unwrap().base_offset, 35);
    });
}
