//! A shard's copy of the metadata and the read-your-writes fence.
//!
//! # Who owns what
//! Every shard owns one [`Replica`], on its own thread: it is `!Send` and never shared. The
//! leader broadcasts each durable event as `(version, Arc<Event>)` to every shard's inbox;
//! the shard hands them to [`Replica::offer`] in whatever order they arrive, and the replica
//! applies them strictly in version order, buffering early ones and dropping duplicates.
//!
//! A connection that asked the leader for a change learns the version of its event; before it
//! answers the client it awaits [`VersionFence::wait_for`] on its own shard's fence, so that
//! whatever the client reads next on that connection already includes its write. The fence
//! is a cheap `Rc` handle (clone one per connection); `offer` wakes the waiters whose version
//! has been applied. No locks: everything runs on the shard's single-threaded runtime.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::event::Event;
use crate::model::Metadata;

/// Most out-of-order events a replica buffers. Broadcasts travel on FIFO channels, so more
/// than a handful means a version was lost and the replica can never catch up.
pub const PENDING_MAX: usize = 1 << 16;

/// One shard's copy of the metadata (see the module doc).
#[derive(Debug)]
pub struct Replica {
    metadata: Metadata,
    pending: BTreeMap<u64, Arc<Event>>,
    fence: Rc<FenceState>,
}

/// What [`Replica::offer`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// It was the next one: it and `applied` events in all (itself included) were applied.
    Applied { applied: u64 },
    /// It is ahead of the next one and waits for the gap to fill.
    Buffered,
    /// Its version was already applied or buffered.
    Duplicate,
}

impl Replica {
    /// A replica starting from `metadata` (the leader's state after its replay).
    pub fn new(metadata: Metadata) -> Replica {
        let fence = Rc::new(FenceState {
            applied_version: Cell::new(metadata.version()),
            waiters: RefCell::new(BTreeMap::new()),
            next_ticket: Cell::new(0),
        });
        Replica { metadata, pending: BTreeMap::new(), fence }
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    pub fn applied_version(&self) -> u64 {
        self.metadata.version()
    }

    /// Events received ahead of their turn.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// A handle for connections on this shard to wait for a version.
    pub fn fence(&self) -> VersionFence {
        VersionFence { state: self.fence.clone() }
    }

    /// Takes the leader's event of `version`, applies every event whose turn has come and
    /// wakes the connections waiting for what is now applied.
    ///
    /// # Panics
    /// When more than [`PENDING_MAX`] events wait for a gap (a broadcast was lost).
    pub fn offer(&mut self, version: u64, event: Arc<Event>) -> Offered {
        if version <= self.metadata.version() {
            return Offered::Duplicate;
        }
        if let Some(buffered) = self.pending.get(&version) {
            debug_assert_eq!(**buffered, *event, "two different events for version {version}");
            return Offered::Duplicate;
        }
        self.pending.insert(version, event);
        assert!(self.pending.len() <= PENDING_MAX, "replica stuck at version {}", self.metadata.version());
        let mut applied = 0;
        while let Some(event) = self.pending.remove(&(self.metadata.version() + 1)) {
            self.metadata.apply(self.metadata.version() + 1, &event);
            applied += 1;
        }
        if applied == 0 {
            return Offered::Buffered;
        }
        self.fence.advance(self.metadata.version());
        Offered::Applied { applied }
    }
}

#[derive(Debug)]
struct FenceState {
    applied_version: Cell<u64>,
    /// Wakers of pending waits, by (version awaited, ticket of the wait).
    waiters: RefCell<BTreeMap<(u64, u64), Waker>>,
    next_ticket: Cell<u64>,
}

impl FenceState {
    fn advance(&self, version: u64) {
        self.applied_version.set(version);
        let ready = {
            let mut waiters = self.waiters.borrow_mut();
            let later = waiters.split_off(&(version + 1, 0));
            std::mem::replace(&mut *waiters, later)
        };
        ready.into_values().for_each(Waker::wake);
    }
}

/// Waits, on the replica's own shard, until the replica has applied a version. `!Send`.
#[derive(Debug, Clone)]
pub struct VersionFence {
    state: Rc<FenceState>,
}

impl VersionFence {
    pub fn applied_version(&self) -> u64 {
        self.state.applied_version.get()
    }

    /// Resolves once the replica has applied `version` (at once if it already has).
    pub fn wait_for(&self, version: u64) -> WaitFor {
        WaitFor { state: self.state.clone(), version, ticket: None }
    }
}

/// The future of [`VersionFence::wait_for`]. Dropping it withdraws the wait.
#[derive(Debug)]
#[must_use = "a fence does nothing unless awaited"]
pub struct WaitFor {
    state: Rc<FenceState>,
    version: u64,
    ticket: Option<u64>,
}

impl Future for WaitFor {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.state.applied_version.get() >= this.version {
            this.withdraw();
            return Poll::Ready(());
        }
        let ticket = *this.ticket.get_or_insert_with(|| {
            let ticket = this.state.next_ticket.get();
            this.state.next_ticket.set(ticket + 1);
            ticket
        });
        this.state.waiters.borrow_mut().insert((this.version, ticket), cx.waker().clone());
        Poll::Pending
    }
}

impl WaitFor {
    fn withdraw(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.state.waiters.borrow_mut().remove(&(self.version, ticket));
        }
    }
}

impl Drop for WaitFor {
    fn drop(&mut self) {
        self.withdraw();
    }
}
