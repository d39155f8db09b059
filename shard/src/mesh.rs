//! The mesh: one inbox per shard (a lock-free crossbeam channel plus an eventfd doorbell) and a
//! mailbox for each, cloned to every shard and the acceptor. Messages are one-way descriptors:
//! a request carries who to answer, the answer travels back the same way.

use std::fs::File;
use std::io;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use crate::wake::{Doorbell, Waiter, eventfd};

/// Sends to one shard from any thread.
#[derive(Debug)]
pub struct Mailbox<M> {
    sender: Sender<M>,
    doorbell: Arc<Doorbell>,
}

impl<M> Clone for Mailbox<M> {
    fn clone(&self) -> Self {
        Mailbox { sender: self.sender.clone(), doorbell: self.doorbell.clone() }
    }
}

/// Why a message could not be delivered: the shard has stopped.
#[derive(Debug, thiserror::Error)]
#[error("shard inbox is closed")]
pub struct Closed<M>(pub M);

impl<M> Mailbox<M> {
    pub fn send(&self, message: M) -> Result<(), Closed<M>> {
        self.sender.send(message).map_err(|e| Closed(e.0))?;
        self.doorbell.ring();
        Ok(())
    }
}

/// A shard's receiving end, before it is moved onto the shard's thread.
pub struct InboxParts<M> {
    receiver: Receiver<M>,
    waiter: File,
}

/// A shard's receiving end on its runtime.
pub struct Inbox<M> {
    receiver: Receiver<M>,
    waiter: Waiter,
}

/// Every shard's mailbox (to clone to senders) and inbox (to move onto its thread).
pub type Mesh<M> = (Vec<Mailbox<M>>, Vec<InboxParts<M>>);

/// Builds the inbox and mailbox of each of `shards` shards.
pub fn mesh<M>(shards: usize) -> io::Result<Mesh<M>> {
    let mut mailboxes = Vec::with_capacity(shards);
    let mut inboxes = Vec::with_capacity(shards);
    for _ in 0..shards {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let (doorbell, waiter) = eventfd()?;
        mailboxes.push(Mailbox { sender, doorbell: Arc::new(doorbell) });
        inboxes.push(InboxParts { receiver, waiter });
    }
    Ok((mailboxes, inboxes))
}

impl<M> InboxParts<M> {
    /// Finishes the inbox on the shard's own runtime.
    pub fn open(self) -> io::Result<Inbox<M>> {
        Ok(Inbox { receiver: self.receiver, waiter: Waiter::new(self.waiter)? })
    }
}

impl<M> Inbox<M> {
    /// Moves every waiting message into `batch`, waiting for the doorbell when there is none.
    /// Returns `false` once every mailbox is gone.
    pub async fn receive(&self, batch: &mut Vec<M>) -> io::Result<bool> {
        loop {
            loop {
                match self.receiver.try_recv() {
                    Ok(message) => batch.push(message),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return Ok(!batch.is_empty()),
                }
            }
            if !batch.is_empty() {
                return Ok(true);
            }
            // A message sent after the drain rang the doorbell, so this read returns at once.
            self.waiter.wait().await?;
        }
    }
}
