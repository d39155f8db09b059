//! The load of one cycle, each actor on its own thread and connection until the kill breaks it:
//! producers that send small random batches to random partitions and journal every send
//! (acknowledged with the base offset the server gave, or unknown when the connection died
//! under it), and a consumer that reads behind them, verifying what it is served, and stores
//! its offsets.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use whippet_client::Client;
use whippet_protocol::batch::RecordBuilder;
use xxhash_rust::xxh3::xxh3_64;

use crate::common::ledger::Expected;
use crate::common::wire::{self, CallError, Target};

/// Messages per send.
const BATCH_MESSAGES_MAX: u32 = 20;
/// Payload sizes, bytes.
const PAYLOAD_BYTES_MIN: usize = 10;
const PAYLOAD_BYTES_MAX: usize = 2000;
/// A safety net: actors stop by themselves if the kill never comes.
const LOAD_LIMIT: Duration = Duration::from_secs(15);
/// Messages the consumer asks for per poll, and its pause between rounds.
const CONSUMER_POLL_COUNT: u32 = 100;
const CONSUMER_PAUSE: Duration = Duration::from_millis(3);
pub const CONSUMER_NAME: &str = "crash-consumer";

/// One send a producer made.
#[derive(Debug, Clone)]
pub struct Sent {
    pub partition: u32,
    pub messages: Vec<Expected>,
    /// Where the server said the batch landed; `None` when the reply never came (unknown).
    pub base_offset: Option<u64>,
    pub acked_at: Option<Instant>,
}

/// How an actor's connection ended.
#[derive(Debug)]
pub struct Failure {
    pub at: Instant,
    pub error: CallError,
}

#[derive(Debug)]
pub struct ProducerReport {
    pub sends: Vec<Sent>,
    pub failure: Option<Failure>,
}

/// The consumer's offset stores to one partition in one cycle.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stores {
    /// The newest value the server acknowledged.
    pub acked: Option<u64>,
    /// The newest value sent, acknowledged or not.
    pub issued: Option<u64>,
}

#[derive(Debug)]
pub struct ConsumerReport {
    pub stores: Vec<Stores>,
    pub stores_acked: u64,
    pub messages_read: u64,
    pub failure: Option<Failure>,
}

/// What makes one producer's sends unique and replayable.
#[derive(Debug, Clone)]
pub struct ProducerPlan {
    pub address: SocketAddr,
    pub target: Target,
    /// High bits of every message id it sends (cycle and producer); the low 64 count messages.
    pub id_base: u128,
    pub seed: u64,
}

/// Starts a producer; it says `ready` once logged in (or failed) and reports when its
/// connection breaks.
pub fn spawn_producer(plan: ProducerPlan, ready: mpsc::Sender<()>) -> mpsc::Receiver<ProducerReport> {
    wire::spawn_on_runtime("crash-producer", move || produce(plan, ready))
}

async fn produce(plan: ProducerPlan, ready: mpsc::Sender<()>) -> ProducerReport {
    let mut report = ProducerReport { sends: Vec::new(), failure: None };
    let connected = wire::connect(plan.address).await;
    let _ = ready.send(());
    let mut client = match connected {
        Ok(client) => client,
        Err(error) => {
            report.failure = Some(Failure { at: Instant::now(), error });
            return report;
        }
    };
    let mut rng = fastrand::Rng::with_seed(plan.seed);
    let mut sequence = 0u64;
    let deadline = Instant::now() + LOAD_LIMIT;
    while Instant::now() < deadline {
        let partition = rng.u32(0..plan.target.partitions);
        let count = rng.u32(1..=BATCH_MESSAGES_MAX);
        let mut builder = RecordBuilder::new(whippet_client::now_micros());
        let mut messages = Vec::with_capacity(count as usize);
        for _ in 0..count {
            sequence += 1;
            let mut payload = vec![0u8; rng.usize(PAYLOAD_BYTES_MIN..=PAYLOAD_BYTES_MAX)];
            rng.fill(&mut payload);
            let expected = Expected {
                id: plan.id_base | u128::from(sequence),
                payload_hash: xxh3_64(&payload),
                payload_len: payload.len() as u32,
            };
            builder.push(expected.id, whippet_client::now_micros(), &payload, &[]);
            messages.push(expected);
        }
        let record = builder.finish();
        let outcome = wire::send(&mut client, &plan.target, partition, &record, count).await;
        let mut sent = Sent { partition, messages, base_offset: None, acked_at: None };
        match outcome {
            Ok(base_offset) => {
                sent.base_offset = Some(base_offset);
                sent.acked_at = Some(Instant::now());
                report.sends.push(sent);
            }
            Err(error) => {
                report.sends.push(sent);
                report.failure = Some(Failure { at: Instant::now(), error });
                break;
            }
        }
    }
    report
}

/// Starts the consumer at `from[p]` of every partition `p`.
pub fn spawn_consumer(
    address: SocketAddr,
    target: Target,
    from: Vec<u64>,
    ready: mpsc::Sender<()>,
) -> mpsc::Receiver<ConsumerReport> {
    wire::spawn_on_runtime("crash-consumer", move || consume(address, target, from, ready))
}

async fn consume(address: SocketAddr, target: Target, mut next: Vec<u64>, ready: mpsc::Sender<()>) -> ConsumerReport {
    let mut report = ConsumerReport {
        stores: vec![Stores::default(); next.len()],
        stores_acked: 0,
        messages_read: 0,
        failure: None,
    };
    let connected = wire::connect(address).await;
    let _ = ready.send(());
    let mut client = match connected {
        Ok(client) => client,
        Err(error) => {
            report.failure = Some(Failure { at: Instant::now(), error });
            return report;
        }
    };
    let deadline = Instant::now() + LOAD_LIMIT;
    while Instant::now() < deadline {
        for partition in 0..target.partitions {
            if let Err(error) = read_and_store(&mut client, &target, partition, &mut next, &mut report).await {
                report.failure = Some(Failure { at: Instant::now(), error });
                return report;
            }
        }
        monoio::time::sleep(CONSUMER_PAUSE).await;
    }
    report
}

/// One poll of `partition` from where the consumer is, then a store of the last offset read.
async fn read_and_store(
    client: &mut Client,
    target: &Target,
    partition: u32,
    next: &mut [u64],
    report: &mut ConsumerReport,
) -> Result<(), CallError> {
    let consumer = wire::consumer(CONSUMER_NAME);
    let index = partition as usize;
    let page = wire::poll(client, target, &consumer, partition, next[index], CONSUMER_POLL_COUNT).await?;
    let Some(last) = page.messages.last().map(|m| m.offset) else {
        return Ok(());
    };
    for (position, message) in page.messages.iter().enumerate() {
        let expected = next[index] + position as u64;
        if message.offset != expected {
            return Err(CallError::Corrupt(format!(
                "partition {partition}: live poll from {} served offset {} where {expected} belongs",
                next[index], message.offset
            )));
        }
    }
    report.messages_read += page.messages.len() as u64;
    next[index] = last + 1;
    report.stores[index].issued = Some(last);
    wire::bounded(client.store_consumer_offset(&consumer, &target.stream, &target.topic, Some(partition), last))
        .await?;
    report.stores[index].acked = Some(last);
    report.stores_acked += 1;
    Ok(())
}
