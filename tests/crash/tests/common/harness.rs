//! The cycle loop. One data directory and one port for the whole run; each cycle runs a load
//! against the server, kills it with SIGKILL at a random moment, sometimes kills the next
//! start too while it recovers, starts it again and reconciles everything it serves with the
//! ledger (see `ledger`).

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use whippet_client::TopicSpec;
use whippet_protocol::types::Identifier;
use whippet_testkit::{STARTUP_TIMEOUT, free_port};

use crate::common::ledger::{Findings, Loss, PartitionLedger};
use crate::common::load::{self, ConsumerReport, ProducerPlan, Sent};
use crate::common::server::{ServerConfig, ServerLog, ServerProcess};
use crate::common::summary::Summary;
use crate::common::wire::{self, CallError, ServedMessage, Target};

const STREAM: &str = "crash";
const TOPIC: &str = "events";
/// Enough partitions that both shards own some (asserted at setup).
const PARTITIONS: u32 = 6;
const SHARDS: usize = 2;
/// Small segments, so that segments roll every cycle or so and recovery meets closed ones.
/// Not smaller: the data directory's files cost time to create and delete (about 2 ms each
/// where the file system discards online).
const SEGMENT_SIZE: &str = "256KiB";
const PRODUCERS_MIN: usize = 2;
const PRODUCERS_MAX: usize = 4;
/// When the kill comes, after every actor has logged in.
const KILL_AFTER_MS_MIN: u64 = 50;
const KILL_AFTER_MS_MAX: u64 = 400;
/// One cycle in this many also kills the next start, this soon after the spawn.
const EARLY_KILL_ONE_IN: u32 = 6;
const EARLY_KILL_MS_MAX: u64 = 30;
/// Messages per poll when reading a partition back.
const READ_BACK_COUNT: u32 = 1000;
/// Messages in a topic after which the next cycle moves to a fresh topic (about 40 MB; the
/// default cycles of the `always` test pass it once).
const ROTATE_AFTER_MESSAGES: usize = 40_000;
/// How long the actors may take to report after the kill, and the read-back to finish.
const REPORT_TIMEOUT: Duration = Duration::from_secs(30);
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(120);

/// One run's parameters.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server's `--durability`.
    pub durability: String,
    pub loss: Loss,
    pub cycles: u32,
    pub seed: u64,
}

impl Settings {
    /// `WHIPPET_CRASH_CYCLES` overrides the cycle count and `WHIPPET_CRASH_SEED` the seed,
    /// which is random otherwise (the summary and every failure print it).
    pub fn from_env(durability: &str, loss: Loss, cycles: u32) -> Settings {
        let number = |name: &str| std::env::var(name).ok().and_then(|value| parse_number(&value));
        Settings {
            durability: durability.to_owned(),
            loss,
            cycles: number("WHIPPET_CRASH_CYCLES").map_or(cycles, |n| u32::try_from(n).expect("cycle count")),
            seed: number("WHIPPET_CRASH_SEED").unwrap_or_else(|| fastrand::u64(..)),
        }
    }
}

/// Decimal or `0x` hexadecimal.
fn parse_number(text: &str) -> Option<u64> {
    match text.trim().strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.trim().parse().ok(),
    }
}

/// What one cycle's load left behind.
struct Load {
    producers: usize,
    kill_after: Duration,
    sends: Vec<Sent>,
    consumer: ConsumerReport,
    killed_at: Instant,
}

/// Everything the restarted server serves, per partition.
struct ReadBack {
    served: Vec<Vec<ServedMessage>>,
    stored_offsets: Vec<Option<u64>>,
}

/// Runs the cycles and returns what they saw; panics on the first broken promise.
pub fn run(settings: Settings) -> Summary {
    let mut harness = Harness::start(settings);
    for cycle in 0..harness.settings.cycles {
        harness.cycle(cycle);
    }
    harness.finish()
}

struct Harness {
    settings: Settings,
    rng: fastrand::Rng,
    config: ServerConfig,
    server: Option<ServerProcess>,
    target: Target,
    ledgers: Vec<PartitionLedger>,
    summary: Summary,
    started: Instant,
    cycle: u32,
    // Last, so it is removed after the server is gone.
    _data_dir: tempfile::TempDir,
}

impl Harness {
    fn start(settings: Settings) -> Harness {
        let data_dir = tempfile::Builder::new().prefix("whippet-crash-").tempdir().expect("tempdir");
        let config = ServerConfig {
            data_dir: data_dir.path().to_owned(),
            address: SocketAddr::from(([127, 0, 0, 1], free_port())),
            durability: settings.durability.clone(),
        };
        let server = ServerProcess::start(&config);
        let address = config.address;
        let target = wire::receive(
            &wire::spawn_on_runtime("crash-setup", move || create_topic(address, None, 0)),
            REPORT_TIMEOUT,
            "setup",
        )
        .unwrap_or_else(|error| panic!("setting up the topic: {error}"));
        let summary = Summary {
            durability: settings.durability.clone(),
            seed: settings.seed,
            cycles: settings.cycles,
            ..Summary::default()
        };
        Harness {
            rng: fastrand::Rng::with_seed(settings.seed),
            settings,
            config,
            server: Some(server),
            ledgers: (0..target.partitions).map(|_| PartitionLedger::default()).collect(),
            target,
            summary,
            started: Instant::now(),
            cycle: 0,
            _data_dir: data_dir,
        }
    }

    fn cycle(&mut self, cycle: u32) {
        self.cycle = cycle;
        let load = self.load_until_kill(cycle);
        let early_kill = self.rng.u32(0..EARLY_KILL_ONE_IN) == 0;
        if early_kill {
            let early = ServerProcess::spawn(&self.config);
            thread::sleep(Duration::from_millis(self.rng.u64(0..=EARLY_KILL_MS_MAX)));
            let log = early.kill();
            self.absorb(&log);
            self.summary.early_kills += 1;
            self.summary.early_kills_before_ready += u64::from(!log.was_ready());
        }
        let restart = Instant::now();
        self.server = Some(ServerProcess::start(&self.config));
        self.summary.restart_max = self.summary.restart_max.max(restart.elapsed());
        let restarted = restart.elapsed();
        let read_back = self.read_back();
        let served: usize = read_back.served.iter().map(Vec::len).sum();
        self.reconcile(&load, &read_back);
        let acked = load.sends.iter().filter(|sent| sent.base_offset.is_some()).count();
        eprintln!(
            "cycle {}/{}: {} producers killed {} ms in: {acked} sends acknowledged, {} unknown; {}restarted in {} \
             ms; {served} messages read back and verified in {} ms",
            cycle + 1,
            self.settings.cycles,
            load.producers,
            load.kill_after.as_millis(),
            load.sends.len() - acked,
            if early_kill { "killed during a start, " } else { "" },
            restarted.as_millis(),
            (restart.elapsed() - restarted).as_millis(),
        );
        let stored: usize = self.ledgers.iter().map(|ledger| ledger.log.len()).sum();
        if stored > ROTATE_AFTER_MESSAGES && cycle + 1 < self.settings.cycles {
            self.rotate();
        }
    }

    /// Producers and the consumer until the kill; checks how each of them ended.
    fn load_until_kill(&mut self, cycle: u32) -> Load {
        let producers = self.rng.usize(PRODUCERS_MIN..=PRODUCERS_MAX);
        let (ready_tx, ready) = mpsc::channel();
        let mut producer_reports = Vec::with_capacity(producers);
        for producer in 0..producers {
            let plan = ProducerPlan {
                address: self.config.address,
                target: self.target.clone(),
                id_base: (u128::from(cycle) + 1) << 96 | (producer as u128 + 1) << 64,
                seed: self.rng.u64(..),
            };
            producer_reports.push(load::spawn_producer(plan, ready_tx.clone()));
        }
        let from = self.ledgers.iter().map(|ledger| ledger.stored.map_or(0, |offset| offset + 1)).collect();
        let consumer = load::spawn_consumer(self.config.address, self.target.clone(), from, ready_tx);
        for _ in 0..=producers {
            if ready.recv_timeout(STARTUP_TIMEOUT).is_err() {
                self.fail("an actor did not log in".into());
            }
        }
        let kill_after = Duration::from_millis(self.rng.u64(KILL_AFTER_MS_MIN..=KILL_AFTER_MS_MAX));
        thread::sleep(kill_after);
        let killed_at = Instant::now();
        let log = self.server.take().expect("server running").kill();
        self.absorb(&log);
        let mut sends = Vec::new();
        for report in &producer_reports {
            let report = wire::receive(report, REPORT_TIMEOUT, "a producer");
            self.check_ended_by_kill("producer", report.failure.as_ref().map(|f| (f.at, &f.error)), killed_at);
            let unknown = report.sends.iter().filter(|sent| sent.base_offset.is_none()).count();
            if unknown > 1 || report.sends.iter().rev().skip(1).any(|sent| sent.base_offset.is_none()) {
                self.fail("a producer went on after an unanswered send".into());
            }
            sends.extend(report.sends);
        }
        let consumer = wire::receive(&consumer, REPORT_TIMEOUT, "the consumer");
        self.check_ended_by_kill("consumer", consumer.failure.as_ref().map(|f| (f.at, &f.error)), killed_at);
        Load { producers, kill_after, sends, consumer, killed_at }
    }

    fn check_ended_by_kill(&self, actor: &str, failure: Option<(Instant, &CallError)>, killed_at: Instant) {
        match failure {
            None => self.fail(format!("the {actor} was still running at its time limit")),
            Some((_, error)) if error.is_corrupt() => self.fail(format!("the {actor} was served: {error}")),
            Some((at, error)) if at < killed_at => self.fail(format!("the {actor} failed before the kill: {error}")),
            Some(_) => {}
        }
    }

    /// Reads every partition whole, and the consumer's stored offsets, from the restarted server.
    fn read_back(&self) -> ReadBack {
        let (address, target) = (self.config.address, self.target.clone());
        let outcome = wire::spawn_on_runtime("crash-read-back", move || read_all(address, target));
        match wire::receive(&outcome, READ_BACK_TIMEOUT, "the read-back") {
            Ok(read_back) => read_back,
            Err(error) => self.fail(format!("reading back after the restart: {error}")),
        }
    }

    fn reconcile(&mut self, load: &Load, read_back: &ReadBack) {
        let mut cycle = Findings::default();
        for (partition, ledger) in self.ledgers.iter_mut().enumerate() {
            let sends: Vec<&Sent> = load.sends.iter().filter(|sent| sent.partition as usize == partition).collect();
            let served = &read_back.served[partition];
            let findings = ledger.reconcile(served, &sends, self.settings.loss, load.killed_at);
            let findings = findings.and_then(|findings| {
                ledger.stores = load.consumer.stores[partition];
                let offsets = ledger.reconcile_offset(read_back.stored_offsets[partition], self.settings.loss)?;
                Ok((findings, offsets))
            });
            match findings {
                Ok((messages, offsets)) => {
                    cycle.add(messages);
                    cycle.add(offsets);
                }
                Err(error) => {
                    let error = format!("partition {partition}: {error}");
                    fail(&self.settings, self.cycle, error);
                }
            }
        }
        let acked: Vec<&Sent> = load.sends.iter().filter(|sent| sent.base_offset.is_some()).collect();
        let summary = &mut self.summary;
        summary.acked_batches += acked.len() as u64;
        summary.acked_messages += acked.iter().map(|sent| sent.messages.len() as u64).sum::<u64>();
        summary.unknown_batches += (load.sends.len() - acked.len()) as u64;
        summary.consumed_messages += load.consumer.messages_read;
        summary.stores_acked += load.consumer.stores_acked;
        summary.acked_lost_cycle_max = summary.acked_lost_cycle_max.max(cycle.acked_lost);
        summary.findings.add(cycle);
    }

    /// Moves to a fresh topic, deleting the verified one, so that a long run's read-backs and
    /// ledger stay bounded.
    fn rotate(&mut self) {
        let (address, previous) = (self.config.address, self.target.clone());
        self.summary.topics += 1;
        let generation = self.summary.topics;
        let created = wire::spawn_on_runtime("crash-rotate", move || create_topic(address, Some(previous), generation));
        match wire::receive(&created, REPORT_TIMEOUT, "the move to a fresh topic") {
            Ok(target) => self.target = target,
            Err(error) => self.fail(format!("moving to a fresh topic: {error}")),
        }
        self.summary.messages_in_deleted_topics += self.ledgers.iter().map(|l| l.log.len() as u64).sum::<u64>();
        self.ledgers = (0..self.target.partitions).map(|_| PartitionLedger::default()).collect();
    }

    fn absorb(&mut self, log: &ServerLog) {
        if log.panicked() {
            let lines: Vec<&String> = log.lines.iter().filter(|line| line.contains("panicked")).collect();
            self.fail(format!("the server panicked: {lines:?}"));
        }
        self.summary.recoveries.absorb(&log.lines);
    }

    fn finish(mut self) -> Summary {
        let log = self.server.take().expect("server running").stop();
        self.absorb(&log);
        self.summary.messages_at_end = self.ledgers.iter().map(|ledger| ledger.log.len() as u64).sum();
        self.summary.elapsed = self.started.elapsed();
        std::mem::take(&mut self.summary)
    }

    fn fail(&self, what: String) -> ! {
        fail(&self.settings, self.cycle, what)
    }
}

fn fail(settings: &Settings, cycle: u32, what: String) -> ! {
    panic!(
        "cycle {} of {} (durability {}): {what}\nreplay the random choices with WHIPPET_CRASH_SEED={:#x}",
        cycle + 1,
        settings.cycles,
        settings.durability,
        settings.seed
    )
}

/// Creates topic `generation` (the stream too, for the first), deleting the previous topic,
/// and checks that both shards own some of its partitions.
async fn create_topic(address: SocketAddr, previous: Option<Target>, generation: u32) -> Result<Target, CallError> {
    let mut client = wire::connect(address).await?;
    let stream_name = Identifier::named(STREAM).expect("stream name");
    let stream = match &previous {
        None => wire::bounded(client.create_stream(STREAM)).await?.stream.id,
        Some(previous) => {
            wire::bounded(client.delete_topic(&previous.stream, &previous.topic)).await?;
            wire::bounded(client.stream(&stream_name)).await?.expect("the stream exists").stream.id
        }
    };
    let name = format!("{TOPIC}-{generation}");
    let spec = TopicSpec::new(name.clone(), PARTITIONS).option("segment_size", SEGMENT_SIZE);
    let topic = wire::bounded(client.create_topic(&stream_name, &spec)).await?.topic.id;
    let owners: Vec<usize> = (0..PARTITIONS).map(|p| whippet_shard::owner(stream, topic, p, SHARDS)).collect();
    assert!(
        (0..SHARDS).all(|shard| owners.contains(&shard)),
        "partitions of stream {stream} topic {topic} all on one shard: {owners:?}"
    );
    Ok(Target { stream: stream_name, topic: Identifier::named(name).expect("topic name"), partitions: PARTITIONS })
}

async fn read_all(address: SocketAddr, target: Target) -> Result<ReadBack, CallError> {
    let mut client = wire::connect(address).await?;
    let reader = wire::consumer("crash-verifier");
    let owner = wire::consumer(load::CONSUMER_NAME);
    let mut read_back = ReadBack { served: Vec::new(), stored_offsets: Vec::new() };
    for partition in 0..target.partitions {
        let mut served: Vec<ServedMessage> = Vec::new();
        loop {
            let from = served.len() as u64;
            let page = wire::poll(&mut client, &target, &reader, partition, from, READ_BACK_COUNT).await?;
            if page.messages.is_empty() {
                if !served.is_empty() && page.current_offset + 1 != from {
                    return Err(CallError::Corrupt(format!(
                        "partition {partition}: {from} messages served, the current offset says {}",
                        page.current_offset
                    )));
                }
                break;
            }
            if page.messages[0].offset != from {
                return Err(CallError::Corrupt(format!(
                    "partition {partition}: a poll from offset {from} starts at {}",
                    page.messages[0].offset
                )));
            }
            served.extend(page.messages);
        }
        let stored = client.consumer_offset(&owner, &target.stream, &target.topic, Some(partition));
        read_back.stored_offsets.push(wire::bounded(stored).await?.map(|info| info.stored_offset));
        read_back.served.push(served);
    }
    Ok(read_back)
}
