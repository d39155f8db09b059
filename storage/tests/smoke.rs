mod common;

use common::{messages, record, run};
use whippet_storage::io::UringStorage;
use whippet_storage::{Durability, Partition, PartitionConfig, ReadFrom};

#[test]
fn append_read_reopen() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let config = PartitionConfig { durability: Durability::Always, segment_size: 4096, ..Default::default() };
        let (log, report) = Partition::open(UringStorage, dir.path(), 1, config.clone()).await.unwrap();
        assert!(report.is_clean());
        for r in 0..10 {
            let appended = log.append(record(r, 3, 500)).await.unwrap();
            assert_eq!(appended.base_offset, r * 3);
        }
        let polled = log.read(ReadFrom::Offset(4), 10).await.unwrap();
        let got = messages(&polled);
        assert_eq!(got.len(), 10);
        assert_eq!(got[0].0, 4);
        log.close().await.unwrap();
        let (log, report) = Partition::open(UringStorage, dir.path(), 1, config).await.unwrap();
        println!("{report:?}");
        assert!(report.is_clean());
        assert_eq!(log.stats().next_offset, 30);
        let polled = log.read(ReadFrom::First, 100).await.unwrap();
        assert_eq!(messages(&polled).len(), 30);
    });
}
