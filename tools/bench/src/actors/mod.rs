//! The actors: one OS thread each, with its own monoio runtime and its own connection.
//!
//! An actor connects and prepares (builds its send, joins its group), reports
//! [`Event::Ready`], and blocks until the coordinator sends [`Start`] (or drops the sender to
//! abort). It then runs its loop through a [`Driver`] and reports [`Event::Done`] with its
//! measurements, or [`Event::Failed`]. Nothing here is `Send` except what crosses the
//! channels: [`Start`], [`Event`] and the [`Shared`] counters.

mod consumer;
mod driver;
mod end_to_end;
mod group;
mod producer;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use bytes::Bytes;
use whippet_client::protocol::types::Identifier;
use whippet_client::{Client, ClientError, Message};

use crate::config::Config;
use crate::error::BenchError;
use crate::scenario::{ActorSpec, Role, TOPIC_NAME, stream_name};
use crate::stats::ActorStats;

pub use driver::Driver;

/// When the measured phase runs; the same for every actor of a run.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    /// Warmup ends here.
    pub measure_from: Instant,
    /// `--duration`: the measured phase ends here.
    pub until: Option<Instant>,
}

/// What an actor tells the coordinator; the `usize` is its position in the plan.
pub enum Event {
    Ready(usize),
    Done(usize, ActorStats),
    Failed(usize, BenchError),
}

/// Counters every actor of a run shares.
#[derive(Debug, Default)]
pub struct Shared {
    /// Set when the run must end early (an actor failed).
    stop: AtomicBool,
    /// Measured totals so far, for the progress line.
    pub progress_messages: AtomicU64,
    pub progress_bytes: AtomicU64,
    /// Messages sent so far to each `streams × partitions` slot (pinned producers).
    produced: Vec<AtomicU64>,
    /// Producers still running.
    producers_running: AtomicU32,
    /// Messages the consumer group of each stream has taken so far.
    group_consumed: Vec<AtomicU64>,
}

impl Shared {
    pub fn new(config: &Config) -> Shared {
        let slots = (config.streams * config.partitions) as usize;
        Shared {
            produced: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            producers_running: AtomicU32::new(config.producers),
            group_consumed: (0..config.streams).map(|_| AtomicU64::new(0)).collect(),
            ..Shared::default()
        }
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub fn produced(&self, slot: usize) -> u64 {
        self.produced[slot].load(Ordering::SeqCst)
    }

    pub fn producers_running(&self) -> u32 {
        self.producers_running.load(Ordering::SeqCst)
    }

    pub fn group_consumed(&self, stream: u32) -> u64 {
        self.group_consumed[stream as usize].load(Ordering::SeqCst)
    }

    fn add_produced(&self, slot: usize, messages: u64) {
        self.produced[slot].fetch_add(messages, Ordering::SeqCst);
    }

    fn add_group_consumed(&self, stream: u32, messages: u64) {
        self.group_consumed[stream as usize].fetch_add(messages, Ordering::SeqCst);
    }
}

/// Counts a producer out when it ends, however it ends, so consumers never wait on it.
struct ProducerRunning<'a>(&'a Shared);

impl Drop for ProducerRunning<'_> {
    fn drop(&mut self) {
        self.0.producers_running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One actor's view of the run.
pub struct ActorContext {
    pub config: Arc<Config>,
    pub shared: Arc<Shared>,
    pub spec: ActorSpec,
}

impl ActorContext {
    fn stream(&self) -> Identifier {
        Identifier::Name(stream_name(self.spec.stream))
    }

    fn topic(&self) -> Identifier {
        Identifier::Name(TOPIC_NAME.to_owned())
    }

    /// Turns a client error during `action` into the run's failure, naming this actor.
    fn failure(&self, action: &'static str) -> impl FnOnce(ClientError) -> BenchError + '_ {
        move |error| self.error(action, error.to_string())
    }

    fn error(&self, action: &'static str, reason: String) -> BenchError {
        BenchError::Actor { actor: self.spec.label(), action, reason }
    }

    /// The batch every send repeats: `messages_per_batch` messages of `message_size` bytes.
    fn batch(&self) -> Vec<Message> {
        let size = self.config.message_size as usize;
        let payload: Bytes = (0..size).map(|index| b'a' + (index % 26) as u8).collect::<Vec<u8>>().into();
        (0..self.config.messages_per_batch).map(|_| Message::new(payload.clone())).collect()
    }
}

/// The start line: an actor reports ready here and waits for the coordinator's go.
pub struct Gate<'a> {
    id: usize,
    events: &'a Sender<Event>,
    start: &'a Receiver<Start>,
}

impl Gate<'_> {
    fn wait(self, context: &ActorContext) -> Result<Start, BenchError> {
        let aborted = || context.error("start", "the run was aborted before it started".into());
        self.events.send(Event::Ready(self.id)).map_err(|_| aborted())?;
        // Blocks the thread: its runtime has nothing else to do until the run starts.
        self.start.recv().map_err(|_| aborted())
    }
}

/// Starts actor `id` on its own thread.
pub fn spawn(
    id: usize,
    context: ActorContext,
    events: Sender<Event>,
    start: Receiver<Start>,
) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new().name(format!("bench-actor-{id}")).spawn(move || {
        let gate = Gate { id, events: &events, start: &start };
        let outcome = catch_unwind(AssertUnwindSafe(|| run_thread(&context, gate)));
        let event = match outcome {
            Ok(Ok(stats)) => Event::Done(id, stats),
            Ok(Err(error)) => Event::Failed(id, error),
            Err(panic) => {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|text| (*text).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panicked".to_owned());
                Event::Failed(id, context.error("run", format!("panicked: {reason}")))
            }
        };
        // The coordinator may have given up waiting; nothing is left to tell then.
        let _ = events.send(event);
    })
}

fn run_thread(context: &ActorContext, gate: Gate<'_>) -> Result<ActorStats, BenchError> {
    let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .map_err(|source| BenchError::Runtime { what: format!("the runtime of {}", context.spec.label()), source })?;
    runtime.block_on(run_actor(context, gate))
}

async fn run_actor(context: &ActorContext, gate: Gate<'_>) -> Result<ActorStats, BenchError> {
    let _running = (context.spec.role == Role::Producer).then(|| ProducerRunning(&context.shared));
    let config = &context.config;
    let mut client = Client::connect_and_login(config.address, config.dialect, &config.credentials)
        .await
        .map_err(context.failure("connect and log in"))?;
    match context.spec.role {
        Role::Producer => producer::run(context, &mut client, gate).await,
        Role::Consumer => consumer::run(context, &mut client, gate).await,
        Role::GroupConsumer => group::run(context, &mut client, gate).await,
        Role::ProducingConsumer => end_to_end::run(context, &mut client, gate).await,
    }
}
