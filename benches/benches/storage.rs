//! Partition log throughput: appends of ~1 MB records (1,000 messages of 1,000 B) under
//! `never` and `always` (one append in flight, and several at once so they share an
//! fdatasync), and reads of one ~1 MB record from the tail cache and from the segment file.
//!
//! Writes go to a tempdir on the real disk (`$WHIPPET_BENCH_DIR`, else the system temp dir)
//! with the default 1 GiB segments, so `never` includes the fdatasync of each segment as it
//! rolls. Uncached reads go through io_uring to the segment file, but the bytes were just
//! written, so they come from the page cache, not the disk.
//!
//! Run with `cargo bench -p whippet-benches --bench storage`; `scripts/bench-storage.sh`
//! runs it beside fio for a ratio against the disk.
#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use monoio::time::TimeDriver;
use monoio::{IoUringDriver, Runtime, RuntimeBuilder};
use whippet_protocol::batch::RecordBuilder;
use whippet_storage::io::UringStorage;
use whippet_storage::{Durability, Partition, PartitionConfig, ReadFrom};

const MESSAGES: u32 = 1_000;
const PAYLOAD: usize = 1_000;
/// Distinct records built up front; appends cycle through them.
const RECORDS: usize = 8;
/// Appends in flight at once for the group-commit variant.
const IN_FLIGHT: usize = 4;
/// Records written before the read benches; reads cycle through them.
const READ_RECORDS: u64 = 64;

/// A producer's record: 1,000 messages of 1,000 B (1,048,256 bytes with the headers).
fn build_record(n: u64) -> BytesMut {
    let mut builder = RecordBuilder::with_capacity(n, MESSAGES as usize * (PAYLOAD + 48));
    let payload: Vec<u8> = (0..PAYLOAD).map(|i| (i as u64 ^ n) as u8).collect();
    for i in 0..MESSAGES {
        builder.push(u128::from(n * 10_000 + u64::from(i) + 1), n, &payload, b"");
    }
    builder.finish()
}

fn records() -> Rc<Vec<BytesMut>> {
    Rc::new((0..RECORDS as u64).map(build_record).collect())
}

fn runtime() -> Runtime<TimeDriver<IoUringDriver>> {
    RuntimeBuilder::<IoUringDriver>::new().enable_timer().build().unwrap()
}

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("WHIPPET_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(PathBuf::from(dir)).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

/// Appends `iters` records with `in_flight` appends outstanding at once; returns the time
/// the appends took. Old segments are deleted afterwards, outside the timing, to bound disk use.
async fn append_batch(log: &Partition, records: &Rc<Vec<BytesMut>>, iters: u64, in_flight: usize) -> Duration {
    let start = Instant::now();
    if in_flight <= 1 {
        for i in 0..iters {
            let record = records[i as usize % records.len()].clone();
            log.append(record).await.unwrap();
        }
    } else {
        let next = Rc::new(Cell::new(0u64));
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| {
                let (log, records, next) = (log.clone(), records.clone(), next.clone());
                monoio::spawn(async move {
                    loop {
                        let i = next.get();
                        if i >= iters {
                            break;
                        }
                        next.set(i + 1);
                        let record = records[i as usize % records.len()].clone();
                        log.append(record).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
    }
    let elapsed = start.elapsed();
    let segments = log.stats().segments;
    if segments > 1 {
        log.delete_oldest_segments(segments - 1).await.unwrap();
    }
    elapsed
}

fn append(c: &mut Criterion) {
    let records = records();
    let record_len = records[0].len() as u64;
    let mut group = c.benchmark_group("storage/append");
    group.throughput(Throughput::Bytes(record_len));
    let variants = [
        ("never", Durability::Never, 1),
        ("always", Durability::Always, 1),
        ("always_x4", Durability::Always, IN_FLIGHT),
    ];
    for (name, durability, in_flight) in variants {
        let dir = bench_dir();
        let mut runtime = runtime();
        let config = PartitionConfig { durability, ..PartitionConfig::default() };
        let log = runtime.block_on(async { Partition::open(UringStorage, dir.path(), 0, config).await.unwrap().0 });
        group.bench_function(name, |b| {
            b.iter_custom(|iters| runtime.block_on(append_batch(&log, &records, iters, in_flight)))
        });
        runtime.block_on(log.close()).unwrap();
    }
    group.finish();
}

fn read(c: &mut Criterion) {
    let records = records();
    let record_len = records[0].len() as u64;
    let mut group = c.benchmark_group("storage/read");
    group.throughput(Throughput::Bytes(record_len));
    // cached: the default 8 MiB tail cache holds the newest records; read the newest 4 in turn.
    // uncached: no cache, every read is an io_uring read of the segment file (page cache).
    let variants = [("cached", PartitionConfig::default().cache_size, 4), ("uncached", 0, READ_RECORDS)];
    for (name, cache_size, span) in variants {
        let dir = bench_dir();
        let mut runtime = runtime();
        let config = PartitionConfig { durability: Durability::Never, cache_size, ..PartitionConfig::default() };
        let log = runtime.block_on(async {
            let (log, _) = Partition::open(UringStorage, dir.path(), 0, config).await.unwrap();
            for i in 0..READ_RECORDS {
                log.append(records[i as usize % records.len()].clone()).await.unwrap();
            }
            log.sync().await.unwrap();
            log
        });
        let first = READ_RECORDS - span;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for i in 0..iters {
                        let record = first + i % span;
                        let polled = log.read(ReadFrom::Offset(record * u64::from(MESSAGES)), MESSAGES).await.unwrap();
                        assert_eq!(polled.count, MESSAGES);
                        criterion::black_box(&polled);
                    }
                    start.elapsed()
                })
            })
        });
        let stats = log.stats();
        if cache_size == 0 {
            assert_eq!(stats.cache_hits, 0);
        } else {
            assert_eq!(stats.cache_misses, 0);
        }
        runtime.block_on(log.close()).unwrap();
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(2)).measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = storage;
    config = config();
    targets = append, read
}
criterion_main!(storage);
