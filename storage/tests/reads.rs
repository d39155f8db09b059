//! Every read mode across segment boundaries and record slices, from the cache and from disk.

mod common;

use common::{messages, payload, record, run};
use whippet_protocol::batch::{self, BatchHeader, Verify};
use whippet_storage::io::UringStorage;
use whippet_storage::{ConsumerKey, Partition, PartitionConfig, ReadFrom};

/// 20 records of 5 messages (offsets 0..100) in segments of about three records each.
async fn filled(dir: &std::path::Path, cache_size: usize) -> (Partition, Vec<u64>) {
    let config = PartitionConfig { segment_size: 2_000, cache_size, ..PartitionConfig::default() };
    let (log, _) = Partition::open(UringStorage, dir, 9, config).await.unwrap();
    let mut timestamps = Vec::new();
    for r in 0..20 {
        let appended = log.append(record(r, 5, 100)).await.unwrap();
        assert_eq!(appended.base_offset, r * 5);
        timestamps.push(appended.base_timestamp);
    }
    assert!(log.stats().segments > 5, "segments must roll");
    (log, timestamps)
}

fn expect_offsets(polled: &whippet_storage::Polled, from: u64, count: u64) {
    let got = messages(polled);
    let offsets: Vec<u64> = got.iter().map(|m| m.0).collect();
    assert_eq!(offsets, (from..from + count).collect::<Vec<_>>());
    for (offset, id, bytes) in got {
        let (r, i) = (offset / 5, (offset % 5) as u32);
        assert_eq!(id, u128::from(r * 1000 + u64::from(i) + 1));
        assert_eq!(bytes, payload(r, i, 100));
    }
    assert_eq!(u64::from(polled.count), count);
    if count > 0 {
        assert_eq!(polled.first_offset, from);
    }
}

/// Every record served (sliced or whole) is well formed, with header count and length fixed.
fn records_are_valid(polled: &whippet_storage::Polled) {
    let mut joined = Vec::new();
    polled.chunks.iter().for_each(|c| joined.extend_from_slice(c));
    let mut at = 0;
    while at < joined.len() {
        let header = BatchHeader::read(&joined[at..]).unwrap();
        let record = &joined[at..at + header.batch_length as usize];
        assert_eq!(batch::batch_checksum(record), header.batch_checksum);
        assert_eq!(header.partition_id, 9);
        assert!(record[52..256].iter().all(|&b| b == 0), "reserved bytes stay zero");
        assert_eq!(batch::Frames::new(record).count() as u32, header.message_count);
        if batch::Frames::new(record).next().unwrap().offset_delta == 0 {
            batch::validate(record, Verify::ALL).unwrap();
        }
        at += header.batch_length as usize;
    }
}

fn every_mode(cache_size: usize) {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, timestamps) = filled(dir.path(), cache_size).await;
        for (start, count) in [(0, 100), (0, 7), (3, 4), (3, 30), (14, 1), (42, 50), (99, 10), (97, 2)] {
            let polled = log.read(ReadFrom::Offset(start), count as u32).await.unwrap();
            expect_offsets(&polled, start, count.min(100 - start));
            records_are_valid(&polled);
        }
        let past_end = log.read(ReadFrom::Offset(100), 10).await.unwrap();
        assert_eq!((past_end.count, past_end.chunks.len(), past_end.next_offset), (0, 0, 100));
        assert_eq!(log.read(ReadFrom::Offset(5), 0).await.unwrap().count, 0);

        expect_offsets(&log.read(ReadFrom::First, 12).await.unwrap(), 0, 12);
        let last = log.read(ReadFrom::Last, 12).await.unwrap();
        expect_offsets(&last, 88, 12);
        records_are_valid(&last);
        expect_offsets(&log.read(ReadFrom::Last, 500).await.unwrap(), 0, 100);

        // Every message of a record shares its base timestamp; records are stamped in order.
        for (r, &timestamp) in timestamps.iter().enumerate() {
            let first_with = timestamps.iter().position(|&t| t >= timestamp).unwrap() as u64;
            let polled = log.read(ReadFrom::Timestamp(timestamp), 3).await.unwrap();
            expect_offsets(&polled, first_with * 5, 3);
            assert!(first_with <= r as u64);
        }
        let future = log.read(ReadFrom::Timestamp(u64::MAX), 3).await.unwrap();
        assert_eq!(future.count, 0);
        expect_offsets(&log.read(ReadFrom::Timestamp(0), 3).await.unwrap(), 0, 3);

        let consumer = ConsumerKey::Consumer(7);
        expect_offsets(&log.read(ReadFrom::Next(consumer), 4).await.unwrap(), 0, 4);
        log.store_offset(consumer, 41).await.unwrap();
        expect_offsets(&log.read(ReadFrom::Next(consumer), 4).await.unwrap(), 42, 4);
        assert_eq!(log.stored_offset(consumer), Some(41));
        assert!(log.store_offset(consumer, 100).await.is_err(), "offset past the end");
    });
}

#[test]
fn every_mode_from_the_cache() {
    every_mode(64 << 20);
}

#[test]
fn every_mode_from_disk() {
    every_mode(0);
}

#[test]
fn a_small_cache_serves_the_tail_and_the_disk_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = filled(dir.path(), 2_000).await;
        let polled = log.read(ReadFrom::Offset(2), 98).await.unwrap();
        expect_offsets(&polled, 2, 98);
        records_are_valid(&polled);
        let stats = log.stats();
        assert!(stats.cache_bytes > 0 && stats.cache_bytes <= 2_000);
        assert!(stats.cache_misses > 0);
        let tail = log.read(ReadFrom::Last, 2).await.unwrap();
        expect_offsets(&tail, 98, 2);
        assert!(log.stats().cache_hits > stats.cache_hits);
    });
}

#[test]
fn a_read_is_bounded_in_bytes_but_never_empty() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let config = PartitionConfig { max_read_size: 1_000, cache_size: 0, ..PartitionConfig::default() };
        let (log, _) = Partition::open(UringStorage, dir.path(), 9, config).await.unwrap();
        for r in 0..4 {
            log.append(record(r, 5, 100)).await.unwrap();
        }
        let polled = log.read(ReadFrom::First, 100).await.unwrap();
        assert!(polled.count >= 5 && polled.count < 20, "bounded: {}", polled.count);
        expect_offsets(&polled, 0, u64::from(polled.count));
        let big = log.read(ReadFrom::Offset(3), 1).await.unwrap();
        expect_offsets(&big, 3, 1);
    });
}
