//! Retention by age and size, deleting the oldest segments, and purge.

mod common;

use std::time::Duration;

use common::{messages, record, run};
use whippet_storage::io::UringStorage;
use whippet_storage::{Partition, PartitionConfig, ReadFrom, RetentionPolicy};

const RECORD_LEN: u64 = 256 + 5 * (48 + 100);

fn config() -> PartitionConfig {
    PartitionConfig { segment_size: 4 * RECORD_LEN, ..PartitionConfig::default() }
}

async fn filled(dir: &std::path::Path) -> Partition {
    let (log, _) = Partition::open(UringStorage, dir, 0, config()).await.unwrap();
    for r in 0..10 {
        log.append(record(r, 5, 100)).await.unwrap();
    }
    assert_eq!(log.stats().segments, 3);
    log
}

async fn offsets(log: &Partition) -> Vec<u64> {
    messages(&log.read(ReadFrom::First, 1_000).await.unwrap()).iter().map(|m| m.0).collect()
}

fn log_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "log"))
        .count()
}

#[test]
fn age_deletes_closed_segments_whose_newest_message_expired() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let log = filled(dir.path()).await;
        let now = log.read(ReadFrom::Last, 1).await.unwrap();
        let newest = messages(&now).len();
        assert_eq!(newest, 1);
        let policy = RetentionPolicy { max_age: Some(Duration::from_secs(3600)), max_size: None };
        let young = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as u64;
        assert_eq!(log.apply_retention(policy, young).await.unwrap().segments, 0, "nothing expired yet");
        let later = young + 2 * 3_600_000_000;
        let removed = log.apply_retention(policy, later).await.unwrap();
        assert_eq!((removed.segments, removed.messages, removed.bytes), (2, 40, 8 * RECORD_LEN));
        assert_eq!(offsets(&log).await, (40..50).collect::<Vec<_>>(), "the active segment stays");
        assert_eq!(log_files(dir.path()), 1);
        assert_eq!(log.read(ReadFrom::Offset(3), 2).await.unwrap().first_offset, 40);
    });
}

#[test]
fn size_deletes_the_oldest_until_under_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let log = filled(dir.path()).await;
        let policy = RetentionPolicy { max_age: None, max_size: Some(7 * RECORD_LEN) };
        let removed = log.apply_retention(policy, 0).await.unwrap();
        assert_eq!(removed.segments, 1);
        assert_eq!(log.stats().size_bytes, 6 * RECORD_LEN);
        assert_eq!(offsets(&log).await, (20..50).collect::<Vec<_>>());
        drop(log);
        let (log, report) = Partition::open(UringStorage, dir.path(), 0, config()).await.unwrap();
        assert_eq!((report.segments, log.stats().first_offset), (2, 20), "survives a reopen");
    });
}

#[test]
fn delete_oldest_segments_and_purge_keep_the_next_offset() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let log = filled(dir.path()).await;
        assert_eq!(log.delete_oldest_segments(1).await.unwrap().segments, 1);
        assert_eq!(log.stats().first_offset, 20);
        let purged = log.delete_oldest_segments(10).await.unwrap();
        assert_eq!(purged.segments, 2);
        assert_eq!(offsets(&log).await, Vec::<u64>::new());
        let stats = log.stats();
        assert_eq!((stats.first_offset, stats.next_offset, stats.size_bytes), (50, 50, 0));
        assert_eq!(log.append(record(10, 5, 100)).await.unwrap().base_offset, 50);
        log.purge().await.unwrap();
        log.purge().await.unwrap();
        assert_eq!(log.append(record(11, 5, 100)).await.unwrap().base_offset, 55);
        drop(log);
        let (log, _) = Partition::open(UringStorage, dir.path(), 0, config()).await.unwrap();
        assert_eq!(offsets(&log).await, (55..60).collect::<Vec<_>>());
        assert_eq!(log_files(dir.path()), 1);
    });
}
