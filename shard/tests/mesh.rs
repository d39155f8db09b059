//! Messages cross between shard threads and wake the receiver's io_uring runtime.

use std::time::Duration;

use whippet_shard::{ShardPlacement, mesh, spawn_shard};

#[test]
fn messages_cross_shards_and_answers_come_back() {
    let (mailboxes, mut inboxes) = mesh::<(usize, u64)>(2).unwrap();
    let to_first = mailboxes[0].clone();
    let second_inbox = inboxes.pop().unwrap();
    let first_inbox = inboxes.pop().unwrap();
    let placement =
        |index| ShardPlacement { index, core: None, ring_entries: 64, allow_legacy_driver: false, blocking: None };
    // Shard 1 answers every request x with x * 2.
    let (echo, _) = spawn_shard(placement(1), move |_| async move {
        let inbox = second_inbox.open().unwrap();
        let mut batch = Vec::new();
        while inbox.receive(&mut batch).await.unwrap() {
            for (from, value) in batch.drain(..) {
                if value == u64::MAX {
                    return;
                }
                assert_eq!(from, 0);
                to_first.send((1, value * 2)).unwrap();
            }
        }
    })
    .unwrap();
    let to_second = mailboxes[1].clone();
    let (client, _) = spawn_shard(placement(0), move |_| async move {
        let inbox = first_inbox.open().unwrap();
        let mut batch = Vec::new();
        let mut sum = 0;
        for round in 0..200u64 {
            to_second.send((0, round)).unwrap();
            if round % 7 == 0 {
                monoio::time::sleep(Duration::from_millis(1)).await;
            }
            batch.clear();
            assert!(inbox.receive(&mut batch).await.unwrap());
            for (from, value) in batch.drain(..) {
                assert_eq!(from, 1);
                sum += value;
            }
        }
        assert_eq!(sum, (0..200).map(|x| x * 2).sum::<u64>());
        to_second.send((0, u64::MAX)).unwrap();
    })
    .unwrap();
    client.join().unwrap();
    echo.join().unwrap();
}
