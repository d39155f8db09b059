//! What each durability policy promises, checked on the simulated disk (power cuts included).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{messages, record, run};
use whippet_storage::sim::{Failure, SimStorage};
use whippet_storage::{ConsumerKey, Durability, Partition, PartitionConfig, ReadFrom, StorageError};

fn config(durability: Durability) -> PartitionConfig {
    PartitionConfig { durability, segment_size: 8_192, ..PartitionConfig::default() }
}

async fn offsets(log: &Partition<SimStorage>) -> Vec<u64> {
    messages(&log.read(ReadFrom::First, 100_000).await.unwrap()).iter().map(|m| m.0).collect()
}

#[test]
fn concurrent_always_appends_share_syncs() {
    run(async {
        let disk = SimStorage::new(1);
        let (log, _) = Partition::open(disk.clone(), Path::new("/p"), 0, config(Durability::Always)).await.unwrap();
        let (_, syncs_before) = disk.counts();
        let handles: Vec<_> = (0..64)
            .map(|r| {
                let log = log.clone();
                monoio::spawn(async move { log.append(record(r, 2, 50)).await })
            })
            .collect();
        let mut bases = Vec::new();
        for handle in handles {
            bases.push(handle.await.unwrap().base_offset);
        }
        bases.sort_unstable();
        assert_eq!(bases, (0..64).map(|r| r * 2).collect::<Vec<_>>());
        let (_, syncs_after) = disk.counts();
        let syncs = syncs_after - syncs_before;
        // Segments of 8 KiB hold ~20 of these records, so a few rolls sync too; one sync per
        // append would be 64.
        assert!(syncs < 16, "{syncs} syncs for 64 appends");
        let crashed = disk.crash();
        let (after, _) = Partition::open(crashed, Path::new("/p"), 0, config(Durability::Always)).await.unwrap();
        assert_eq!(offsets(&after).await, (0..128).collect::<Vec<_>>());
    });
}

#[test]
fn always_survives_any_power_cut_over_many_seeds() {
    for seed in 0..200 {
        run(async {
            let disk = SimStorage::new(seed);
            let (log, _) = Partition::open(disk.clone(), Path::new("/p"), 0, config(Durability::Always)).await.unwrap();
            for r in 0..(10 + seed % 20) {
                log.append(record(r, 3, 90)).await.unwrap();
            }
            log.store_offset(ConsumerKey::Group(4), 7).await.unwrap();
            log.store_offset(ConsumerKey::Group(4), 11).await.unwrap();
            let expected = log.stats().next_offset;
            let (after, report) =
                Partition::open(disk.crash(), Path::new("/p"), 0, config(Durability::Always)).await.unwrap();
            assert_eq!(offsets(&after).await, (0..expected).collect::<Vec<_>>(), "seed {seed}: {report:?}");
            assert_eq!(after.stored_offset(ConsumerKey::Group(4)), Some(11), "seed {seed}");
        });
    }
}

#[test]
fn the_interval_saver_syncs_in_the_background() {
    run(async {
        let disk = SimStorage::new(2);
        let config = config(Durability::Interval(Duration::from_millis(20)));
        let (log, _) = Partition::open(disk.clone(), Path::new("/p"), 0, config.clone()).await.unwrap();
        let (_, syncs_before) = disk.counts();
        for r in 0..5 {
            log.append(record(r, 3, 90)).await.unwrap();
        }
        log.store_offset(ConsumerKey::Consumer(1), 9).await.unwrap();
        assert_eq!(disk.counts().1, syncs_before, "appends under interval do not sync");
        monoio::time::sleep(Duration::from_millis(120)).await;
        assert!(disk.counts().1 > syncs_before, "the saver synced");
        let (after, _) = Partition::open(disk.crash(), Path::new("/p"), 0, config).await.unwrap();
        assert_eq!(offsets(&after).await, (0..15).collect::<Vec<_>>());
        assert_eq!(after.stored_offset(ConsumerKey::Consumer(1)), Some(9));
    });
}

#[test]
fn never_keeps_what_an_explicit_sync_covered() {
    run(async {
        let disk = SimStorage::new(3);
        let (log, _) = Partition::open(disk.clone(), Path::new("/p"), 0, config(Durability::Never)).await.unwrap();
        for r in 0..5 {
            log.append(record(r, 3, 90)).await.unwrap();
        }
        log.sync().await.unwrap();
        for r in 5..8 {
            log.append(record(r, 3, 90)).await.unwrap();
        }
        let (after, _) = Partition::open(disk.crash(), Path::new("/p"), 0, config(Durability::Never)).await.unwrap();
        let survived = offsets(&after).await;
        assert!(survived.len() >= 15, "synced records survive");
        assert_eq!(survived, (0..survived.len() as u64).collect::<Vec<_>>(), "a dense prefix");
    });
}

#[test]
fn a_dead_disk_fails_appends_but_reads_go_on() {
    run(async {
        let disk = SimStorage::new(4);
        let (log, _) = Partition::open(disk.clone(), Path::new("/p"), 0, config(Durability::Never)).await.unwrap();
        for r in 0..4 {
            log.append(record(r, 3, 90)).await.unwrap();
        }
        disk.fail_after_writes(0, Failure::Crash);
        let failed = log.append(record(4, 3, 90)).await;
        assert!(failed.is_err());
        let next = log.append(record(5, 3, 90)).await;
        assert!(matches!(next, Err(StorageError::Failed { .. })), "{next:?}");
        assert_eq!(log.stats().next_offset, 12);
        let polled = log.read(ReadFrom::First, 100).await.unwrap();
        assert_eq!(messages(&polled).len(), 12, "served from the cache");
    });
}
