//! O_DIRECT writes through aligned buffers: round trips, rolls, clean and unclean reopen.

mod common;

use common::{messages, payload, record, run};
use whippet_storage::io::UringStorage;
use whippet_storage::{Durability, Partition, PartitionConfig, ReadFrom};

fn config() -> PartitionConfig {
    PartitionConfig {
        direct_io: true,
        durability: Durability::Always,
        segment_size: 32 * 1024,
        cache_size: 0,
        ..PartitionConfig::default()
    }
}

async fn check(log: &Partition, records: u64) {
    let got = messages(&log.read(ReadFrom::First, 100_000).await.unwrap());
    assert_eq!(got.len() as u64, records * 7);
    for (offset, _, bytes) in got {
        let r = offset / 7;
        assert_eq!(bytes, payload(r, (offset % 7) as u32, 333 + r as usize));
    }
}

#[test]
fn unaligned_records_round_trip_through_o_direct() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = Partition::open(UringStorage, dir.path(), 0, config()).await.unwrap();
        for r in 0..40 {
            log.append(record(r, 7, 333 + r as usize)).await.unwrap();
        }
        assert!(log.stats().segments > 2);
        check(&log, 40).await;
        drop(log); // unclean: the last block's zero padding is still in the file
        let (log, report) = Partition::open(UringStorage, dir.path(), 0, config()).await.unwrap();
        assert_eq!(report.next_offset, 280);
        check(&log, 40).await;
        for r in 40..45 {
            log.append(record(r, 7, 333 + r as usize)).await.unwrap();
        }
        log.close().await.unwrap();
        let (log, report) = Partition::open(UringStorage, dir.path(), 0, config()).await.unwrap();
        assert!(report.is_clean(), "{report:?}");
        check(&log, 45).await;
    });
}
