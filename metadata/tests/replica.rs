//! A replica applies in version order whatever the arrival order, and its fence wakes exactly
//! the waits whose version has been applied.

mod common;

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Wake, Waker};

use common::{commit, create_stream, run_uring};
use whippet_metadata::{Event, Metadata, Offered, Replica};

/// The leader's events for `count` stream creations, and its final state.
fn history(count: usize) -> (Vec<(u64, Arc<Event>)>, Metadata) {
    let mut leader = Metadata::new();
    let events = (0..count)
        .map(|index| {
            let event = commit(&mut leader, create_stream(&format!("s{index}")));
            (leader.version(), Arc::new(event))
        })
        .collect();
    (events, leader)
}

#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn offers_apply_in_version_order_and_drop_duplicates() {
    let (events, leader) = history(5);
    let mut replica = Replica::new(Metadata::new());
    assert_eq!(replica.offer(3, events[2].1.clone()), Offered::Buffered);
    assert_eq!(replica.offer(2, events[1].1.clone()), Offered::Buffered);
    assert_eq!(replica.offer(3, events[2].1.clone()), Offered::Duplicate);
    assert_eq!(replica.pending_len(), 2);
    assert_eq!(replica.offer(1, events[0].1.clone()), Offered::Applied { applied: 3 });
    assert_eq!(replica.offer(2, events[1].1.clone()), Offered::Duplicate);
    assert_eq!(replica.offer(5, events[4].1.clone()), Offered::Buffered);
    assert_eq!(replica.offer(4, events[3].1.clone()), Offered::Applied { applied: 2 });
    assert_eq!((replica.applied_version(), replica.pending_len()), (5, 0));
    assert_eq!(replica.metadata(), &leader);
}

#[test]
fn the_fence_wakes_only_waits_that_are_satisfied() {
    let (events, _) = history(3);
    let mut replica = Replica::new(Metadata::new());
    let fence = replica.fence();
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(counter.clone());
    let mut context = Context::from_waker(&waker);
    let mut wait_two = pin!(fence.wait_for(2));
    let mut wait_three = pin!(fence.wait_for(3));
    assert!(wait_two.as_mut().poll(&mut context).is_pending());
    assert!(wait_three.as_mut().poll(&mut context).is_pending());
    assert!(wait_two.as_mut().poll(&mut context).is_pending()); // a re-poll replaces its waker
    replica.offer(1, events[0].1.clone());
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    replica.offer(2, events[1].1.clone());
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    assert!(wait_two.as_mut().poll(&mut context).is_ready());
    assert!(wait_three.as_mut().poll(&mut context).is_pending());
    replica.offer(3, events[2].1.clone());
    assert_eq!(counter.0.load(Ordering::SeqCst), 2);
    assert!(wait_three.as_mut().poll(&mut context).is_ready());
    assert!(pin!(fence.wait_for(1)).poll(&mut context).is_ready());
}

#[test]
fn a_dropped_wait_leaves_no_waker_behind() {
    let (events, _) = history(1);
    let mut replica = Replica::new(Metadata::new());
    let fence = replica.fence();
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(counter.clone());
    {
        let mut wait = pin!(fence.wait_for(1));
        assert!(wait.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    }
    replica.offer(1, events[0].1.clone());
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
}

#[test]
fn connections_on_a_monoio_shard_wait_for_their_version() {
    let (events, leader) = history(4);
    run_uring(async move {
        let replica = Rc::new(RefCell::new(Replica::new(Metadata::new())));
        let fence = replica.borrow().fence();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let mut connections = Vec::new();
        for version in [4, 1, 3] {
            let (fence, replica, seen) = (fence.clone(), replica.clone(), seen.clone());
            connections.push(monoio::spawn(async move {
                fence.wait_for(version).await;
                let applied = replica.borrow().applied_version();
                assert!(applied >= version);
                seen.borrow_mut().push(version);
            }));
        }
        monoio::time::sleep(std::time::Duration::from_millis(1)).await;
        assert!(seen.borrow().is_empty());
        for (version, event) in events.into_iter().rev() {
            replica.borrow_mut().offer(version, event);
            monoio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        for connection in connections {
            connection.await;
        }
        assert_eq!(*seen.borrow(), [1, 3, 4]);
        assert_eq!(replica.borrow().metadata(), &leader);
    });
}

#[test]
fn a_missing_version_holds_back_everything_after_it() {
    let (events, _) = history(6);
    let mut replica = Replica::new(Metadata::new());
    let fence = replica.fence();
    for (version, event) in &events[1..] {
        assert_eq!(replica.offer(*version, event.clone()), Offered::Buffered);
    }
    assert_eq!((replica.applied_version(), fence.applied_version(), replica.pending_len()), (0, 0, 5));
    assert!(replica.metadata().streams().is_empty());
    assert_eq!(replica.offer(1, events[0].1.clone()), Offered::Applied { applied: 6 });
    assert_eq!(fence.applied_version(), 6);
}
