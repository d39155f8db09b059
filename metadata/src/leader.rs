//! The metadata leader: the one writer of the metadata.
//!
//! # Who owns what
//! One [`Leader`] exists per server, on shard 0. It holds the authoritative [`Metadata`] and
//! the [`EventLog`]. Every change, whichever shard its client is on, reaches it as a
//! [`Command`]; [`Leader::submit`] decides it, appends the event durably, applies it and
//! returns the `(version, event)` to broadcast to every shard's [`crate::Replica`] (shard 0's
//! own included). `submit` takes `&mut self` across the log's sync, so the server runs the
//! leader in one task that takes commands one at a time: versions are then dense and the
//! event stream totally ordered by construction.

use std::path::Path;
use std::sync::Arc;

use thiserror::Error;
use whippet_storage::io::Storage;

use crate::command::Command;
use crate::error::MetadataError;
use crate::event::Event;
use crate::log::{EventLog, LogError, OpenReport};
use crate::model::Metadata;

/// A durable, applied event, ready to broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub version: u64,
    pub event: Arc<Event>,
}

#[derive(Debug, Error)]
pub enum SubmitError {
    /// The command is refused; nothing changed.
    #[error(transparent)]
    Rejected(#[from] MetadataError),
    /// The event could not be made durable; nothing was applied. After
    /// [`LogError::WriteUndone`] the log is as it was and the leader may go on; after any other
    /// log error (a failed sync, [`LogError::Poisoned`]) the server should stop.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// The metadata leader (see the module doc). Lives on shard 0.
pub struct Leader<S: Storage> {
    metadata: Metadata,
    log: EventLog<S>,
}

impl<S: Storage> std::fmt::Debug for Leader<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leader").field("version", &self.metadata.version()).field("log", &self.log).finish()
    }
}

impl<S: Storage> Leader<S> {
    /// Opens the event log in `dir` and replays it. When the log is empty
    /// ([`Metadata::version`] is 0) the server follows with [`Leader::bootstrap_root`].
    pub async fn open(storage: S, dir: &Path) -> Result<(Leader<S>, OpenReport), LogError> {
        let (log, events, report) = EventLog::open(storage, dir).await?;
        let mut metadata = Metadata::new();
        for (version, event) in &events {
            metadata.apply(*version, event);
        }
        metadata.clear_memberships();
        Ok((Leader { metadata, log }, report))
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    pub fn version(&self) -> u64 {
        self.metadata.version()
    }

    /// Creates the root user as version 1 of an empty log.
    ///
    /// # Panics
    /// When the log is not empty.
    pub async fn bootstrap_root(
        &mut self,
        username: &str,
        password_hash: &str,
        now_micros: u64,
    ) -> Result<Committed, SubmitError> {
        assert_eq!(self.metadata.version(), 0, "root user bootstrap on a non-empty log");
        self.commit(Metadata::bootstrap_root(username, password_hash, now_micros)).await
    }

    /// Decides `command`, makes its event durable and applies it.
    pub async fn submit(&mut self, command: &Command, now_micros: u64) -> Result<Committed, SubmitError> {
        let event = self.metadata.decide(command, now_micros)?;
        self.commit(event).await
    }

    async fn commit(&mut self, event: Event) -> Result<Committed, SubmitError> {
        let version = self.metadata.version() + 1;
        self.log.append(version, &event).await?;
        self.metadata.apply(version, &event);
        Ok(Committed { version, event: Arc::new(event) })
    }
}
