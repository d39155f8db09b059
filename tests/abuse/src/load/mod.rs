//! `whippet-abuse load`: many concurrent connections doing small sends and polls.
//!
//! 1. Setup: a fresh stream and topic (and a personal access token, see [`LoginMode`]).
//! 2. Connect: each of `threads` monoio runtimes connects and logs in its share of the
//!    connections, at most `login_concurrency` at once per runtime; the time until the last
//!    login is reported apart from the load.
//! 3. Load: when every runtime is done connecting, every connection (one task each) makes one
//!    request per `interval`, a send of `batch` messages of `message_size` bytes to its
//!    partition and a poll of up to `poll_count` messages with its own consumer offset
//!    (`Next`, auto-commit) in turn. Latency is the service time of each call (the schedule
//!    never bursts to catch up), recorded per kind in hdrhistogram.
//! 4. Clean up: the stream and the token are deleted.
//!
//! Any failed call counts as an error and ends its connection; every call is bounded by
//! `call_timeout`, the connect phase by [`CONNECT_PHASE_LIMIT`].

mod connection;
mod report;
mod setup;
mod stats;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use whippet_client::protocol::types::Identifier;
use whippet_client::{ClientError, Credentials, Dialect, Message};

pub use report::{LoadReport, ServerMemory};
pub use setup::Names;
pub use stats::{Figures, Kind, ThreadStats};

use crate::descriptors;
use crate::memory::{self, RssSampler};

/// No connection starts connecting later than this after the connect phase began.
pub const CONNECT_PHASE_LIMIT: Duration = Duration::from_secs(120);
/// Descriptors beyond one per connection: the runtimes, stdio, the setup connection.
const DESCRIPTOR_MARGIN: u64 = 64;
const RSS_SAMPLE_PERIOD: Duration = Duration::from_millis(100);
/// io_uring entries per runtime: every connection has at most one operation in flight.
const RING_ENTRIES: u32 = 4096;

/// How the load's connections log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoginMode {
    /// A personal access token made for the run (a fast hash on the server).
    Token,
    /// The password: every login costs the server an argon2 check on its password thread.
    Password,
}

/// What to run; `LoadConfig::new` has the CLI's defaults.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub address: SocketAddr,
    pub connections: usize,
    pub duration: Duration,
    /// Runtime threads the connections are spread over.
    pub threads: usize,
    pub message_size: usize,
    /// Messages per send.
    pub batch: u32,
    /// Messages per poll at most.
    pub poll_count: u32,
    /// Time between a connection's requests (think time included); zero = back to back.
    pub interval: Duration,
    pub partitions: u32,
    pub login: LoginMode,
    /// Logins in flight per runtime at most.
    pub login_concurrency: usize,
    pub dialect: Dialect,
    pub username: String,
    pub password: String,
    pub call_timeout: Duration,
    /// The server's process, for its memory (`/proc/PID/status`, same machine only).
    pub server_pid: Option<u32>,
}

impl LoadConfig {
    pub fn new(address: SocketAddr) -> LoadConfig {
        LoadConfig {
            address,
            connections: 1000,
            duration: Duration::from_secs(60),
            threads: 2,
            message_size: 100,
            batch: 10,
            poll_count: 10,
            interval: Duration::from_millis(100),
            partitions: 16,
            login: LoginMode::Token,
            login_concurrency: 32,
            dialect: Dialect::V011,
            username: "iggy".to_string(),
            password: "iggy".to_string(),
            call_timeout: Duration::from_secs(10),
            server_pid: None,
        }
    }

    fn validate(&self) -> Result<(), LoadError> {
        let positive = [
            ("connections", self.connections as u64),
            ("threads", self.threads as u64),
            ("message size", self.message_size as u64),
            ("batch", u64::from(self.batch)),
            ("poll count", u64::from(self.poll_count)),
            ("partitions", u64::from(self.partitions)),
            ("login concurrency", self.login_concurrency as u64),
        ];
        match positive.iter().find(|(_, value)| *value == 0) {
            Some((name, _)) => Err(LoadError::Config(format!("{name} must be at least 1"))),
            None => Ok(()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Descriptors(String),
    #[error("cannot {what}: {source}")]
    Setup { what: &'static str, source: ClientError },
    #[error("cannot build a monoio runtime: {0}")]
    Runtime(std::io::Error),
    #[error("load thread {0} failed: {1}")]
    Thread(usize, String),
}

/// Opened once by the main thread with the instant the load starts; the runtime threads wait
/// for it (bounded) after connecting.
#[derive(Default)]
struct StartGate {
    start: Mutex<Option<Instant>>,
    opened: Condvar,
}

impl StartGate {
    fn open(&self, start: Instant) {
        *self.start.lock().expect("gate lock") = Some(start);
        self.opened.notify_all();
    }

    fn wait(&self, limit: Duration) -> Option<Instant> {
        let guard = self.start.lock().expect("gate lock");
        let (guard, _) = self.opened.wait_timeout_while(guard, limit, |start| start.is_none()).expect("gate lock");
        *guard
    }
}

type Runtime = monoio::FusionRuntime<
    monoio::time::TimeDriver<monoio::IoUringDriver>,
    monoio::time::TimeDriver<monoio::LegacyDriver>,
>;

fn runtime() -> Result<Runtime, LoadError> {
    monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .with_entries(RING_ENTRIES)
        .enable_timer()
        .build()
        .map_err(LoadError::Runtime)
}

/// Runs the load `config` describes and reports; errors of individual calls are in the report.
pub fn run(config: &LoadConfig) -> Result<LoadReport, LoadError> {
    config.validate()?;
    let open_files = descriptors::ensure_open_files(config.connections as u64 + DESCRIPTOR_MARGIN)
        .map_err(LoadError::Descriptors)?;
    let names = Names::new();
    let mut setup_runtime = runtime()?;
    let credentials = setup_runtime.block_on(setup::prepare(config, &names))?;
    let plan = plan(config, &names, credentials)?;
    let before = config.server_pid.and_then(|pid| memory::read(pid).ok());
    let sampler = config.server_pid.map(|pid| RssSampler::start(pid, RSS_SAMPLE_PERIOD));
    let outcome = load(config, &plan);
    let during = sampler.map(RssSampler::stop);
    let cleaned = setup_runtime.block_on(setup::clean_up(config, &names));
    if let Err(error) = cleaned {
        eprintln!("whippet-abuse: warning: clean-up failed: {error}");
    }
    let (stats, connect_all, connected_memory, elapsed, connected) = outcome?;
    let server_memory = during.map(|during| ServerMemory { before, connected: connected_memory, during });
    Ok(build_report(config, &stats, connect_all, elapsed, connected, server_memory, open_files))
}

type Outcome = (ThreadStats, Duration, Option<memory::Memory>, Duration, usize);

/// Connects on every thread, opens the gate, and merges what the threads measured.
fn load(config: &LoadConfig, plan: &connection::Plan) -> Result<Outcome, LoadError> {
    let gate = Arc::new(StartGate::default());
    let (connected_tx, connected_rx) = mpsc::channel::<usize>();
    let connect_started = Instant::now();
    let threads: Vec<_> = (0..config.threads)
        .map(|thread_index| {
            let indexes: Vec<usize> = (thread_index..config.connections).step_by(config.threads).collect();
            let (plan, gate, connected_tx) = (plan.clone(), gate.clone(), connected_tx.clone());
            let (duration, concurrency) = (config.duration, config.login_concurrency);
            thread::Builder::new()
                .name(format!("load-{thread_index}"))
                .spawn(move || worker(plan, indexes, concurrency, duration, &gate, &connected_tx))
                .map_err(|error| LoadError::Thread(thread_index, error.to_string()))
        })
        .collect::<Result<_, _>>()?;
    drop(connected_tx);
    let wait_limit = CONNECT_PHASE_LIMIT + config.call_timeout * 2;
    let mut connected = 0;
    for _ in 0..config.threads {
        match connected_rx.recv_timeout(wait_limit.saturating_sub(connect_started.elapsed())) {
            Ok(count) => connected += count,
            Err(_) => break,
        }
    }
    let connect_all = connect_started.elapsed();
    let connected_memory = config.server_pid.and_then(|pid| memory::read(pid).ok());
    let start = Instant::now();
    gate.open(start);
    let mut total = ThreadStats::default();
    for (thread_index, thread) in threads.into_iter().enumerate() {
        match thread.join() {
            Ok(Ok(stats)) => total.merge(&stats),
            Ok(Err(error)) => return Err(LoadError::Thread(thread_index, error.to_string())),
            Err(_) => return Err(LoadError::Thread(thread_index, "panicked".to_string())),
        }
    }
    Ok((total, connect_all, connected_memory, start.elapsed().min(config.duration), connected))
}

/// One runtime thread: connect its share, report how many, wait for the gate, drive them.
fn worker(
    plan: connection::Plan,
    indexes: Vec<usize>,
    concurrency: usize,
    duration: Duration,
    gate: &StartGate,
    connected_tx: &mpsc::Sender<usize>,
) -> Result<ThreadStats, LoadError> {
    let mut runtime = runtime()?;
    let plan = Rc::new(plan);
    let stats: connection::Stats = Rc::default();
    let deadline = Instant::now() + CONNECT_PHASE_LIMIT;
    let clients = runtime.block_on(connection::connect_all(&plan, indexes, concurrency, deadline, &stats));
    let _ = connected_tx.send(clients.len());
    let gate_limit = CONNECT_PHASE_LIMIT + plan.call_timeout * 4;
    if let Some(start) = gate.wait(gate_limit) {
        let end = start + duration;
        runtime.block_on(connection::drive_all(clients, plan, start, end, stats.clone()));
    }
    Ok(stats.take())
}

fn plan(config: &LoadConfig, names: &Names, credentials: Credentials) -> Result<connection::Plan, LoadError> {
    let identifier =
        |name: &str| Identifier::named(name).map_err(|error| LoadError::Config(format!("name `{name}`: {error}")));
    // Printable, and different per message, so a poll that served the wrong bytes would show.
    let messages = (0..config.batch)
        .map(|index| {
            let payload: Vec<u8> =
                (0..config.message_size).map(|at| b'a' + ((at + index as usize) % 26) as u8).collect();
            Message::new(Bytes::from(payload))
        })
        .collect();
    Ok(connection::Plan {
        address: config.address,
        dialect: config.dialect,
        credentials,
        stream: identifier(&names.stream)?,
        topic: identifier(&names.topic)?,
        partitions: config.partitions,
        messages,
        message_size: config.message_size,
        poll_count: config.poll_count,
        interval: config.interval,
        connections: config.connections,
        call_timeout: config.call_timeout,
    })
}

fn build_report(
    config: &LoadConfig,
    stats: &ThreadStats,
    connect_all: Duration,
    elapsed: Duration,
    connected: usize,
    server_memory: Option<ServerMemory>,
    open_files: descriptors::OpenFiles,
) -> LoadReport {
    let elapsed_seconds = elapsed.as_secs_f64();
    LoadReport {
        connections: config.connections,
        threads: config.threads,
        dialect: config.dialect.name().to_string(),
        login: format!("{:?}", config.login).to_lowercase(),
        seconds: config.duration.as_secs_f64(),
        interval_ms: u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX),
        batch: config.batch,
        message_size: config.message_size,
        partitions: config.partitions,
        connect_all_seconds: connect_all.as_secs_f64(),
        connected,
        elapsed_seconds,
        requests_per_second: LoadReport::requests(stats) as f64 / elapsed_seconds.max(f64::EPSILON),
        messages_sent: stats.messages_sent,
        messages_polled: stats.messages_polled,
        connections_lost: stats.connections_lost,
        errors: stats.errors(),
        error_samples: stats.error_samples.clone(),
        connect: stats.connect.figures(),
        send: stats.send.figures(),
        poll: stats.poll.figures(),
        server_memory,
        open_files,
    }
}
