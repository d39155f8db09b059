//! The well-behaved client that must keep working through the attacks: about every 50 ms it
//! sends three messages to one of its topic's two partitions and polls them back by offset,
//! checking that it gets exactly what it sent; every 20 rounds it connects and logs in again.
//! It runs whippet-client on a monoio runtime of its own thread; every call is bounded.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use whippet_client::protocol::types::{Consumer, ConsumerKind, Identifier, Partitioning, PollingStrategy};
use whippet_client::{Client, ClientError, Credentials, Dialect, Message, PollSpec, TopicSpec};
use whippet_testkit::{ROOT_PASSWORD, ROOT_USERNAME};

pub const CALL_LIMIT: Duration = Duration::from_secs(5);
const ROUND_PERIOD: Duration = Duration::from_millis(50);
const LOGIN_EVERY_ROUNDS: u64 = 20;
const MESSAGES_PER_ROUND: usize = 3;
const PARTITIONS: u32 = 2;
/// A client that failed this often stops trying.
const ERRORS_MAX: usize = 20;

/// What the client did, and every call that failed.
#[derive(Debug, Default)]
pub struct GoodReport {
    pub dialect: &'static str,
    pub rounds: u64,
    pub logins: u64,
    pub messages: u64,
    /// Every successful call's latency (login, send, poll).
    pub latencies: Vec<Duration>,
    pub errors: Vec<String>,
}

impl GoodReport {
    pub fn summary(&self) -> String {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let at =
            |quantile: f64| sorted.get(((sorted.len() as f64 * quantile) as usize).min(sorted.len().saturating_sub(1)));
        format!(
            "{}: {} rounds, {} logins, {} messages sent and polled back, {} calls: p50 {:?} p99 {:?} max {:?}, {} errors",
            self.dialect,
            self.rounds,
            self.logins,
            self.messages,
            sorted.len(),
            at(0.5).copied().unwrap_or_default(),
            at(0.99).copied().unwrap_or_default(),
            sorted.last().copied().unwrap_or_default(),
            self.errors.len()
        )
    }
}

/// Starts the client; it signals `ready` once its stream exists and runs until `stop`.
pub fn spawn(
    address: SocketAddr,
    dialect: Dialect,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<()>,
) -> JoinHandle<GoodReport> {
    thread::spawn(move || {
        let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .expect("monoio runtime for the good client");
        runtime.block_on(run(address, dialect, &stop, &ready))
    })
}

/// A call within [`CALL_LIMIT`], timed into `report`.
async fn timed<T>(
    report: &mut GoodReport,
    what: &str,
    call: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, String> {
    let started = Instant::now();
    match monoio::time::timeout(CALL_LIMIT, call).await {
        Ok(Ok(value)) => {
            report.latencies.push(started.elapsed());
            Ok(value)
        }
        Ok(Err(error)) => Err(format!("{what}: {error}")),
        Err(_) => Err(format!("{what}: no reply within {CALL_LIMIT:?}")),
    }
}

struct Session {
    client: Client,
    stream: Identifier,
    topic: Identifier,
    /// The next offset of each partition (only this client writes them).
    next: [u64; PARTITIONS as usize],
}

async fn login(address: SocketAddr, dialect: Dialect, report: &mut GoodReport) -> Result<Client, String> {
    let credentials = Credentials::Password { username: ROOT_USERNAME.into(), password: ROOT_PASSWORD.into() };
    let client = timed(report, "connect and log in", Client::connect_and_login(address, dialect, &credentials)).await?;
    report.logins += 1;
    Ok(client)
}

async fn run(address: SocketAddr, dialect: Dialect, stop: &AtomicBool, ready: &mpsc::Sender<()>) -> GoodReport {
    let mut report = GoodReport { dialect: dialect.name(), ..GoodReport::default() };
    let name = format!("good-{}", if dialect == Dialect::V011 { "vsr" } else { "legacy" });
    let setup = async {
        let mut client = login(address, dialect, &mut report).await?;
        timed(&mut report, "create stream", client.create_stream(&name)).await?;
        let stream = Identifier::named(name.clone()).map_err(|e| e.to_string())?;
        timed(&mut report, "create topic", client.create_topic(&stream, &TopicSpec::new("t", PARTITIONS))).await?;
        let topic = Identifier::named("t").map_err(|e| e.to_string())?;
        Ok::<_, String>(Session { client, stream, topic, next: [0; PARTITIONS as usize] })
    };
    let result = setup.await;
    let mut session = match result {
        Ok(session) => session,
        Err(error) => {
            report.errors.push(format!("setup: {error}"));
            let _ = ready.send(());
            return report;
        }
    };
    let _ = ready.send(());
    while !stop.load(Ordering::Acquire) && report.errors.len() < ERRORS_MAX {
        let round_started = Instant::now();
        if let Err(error) = round(address, &mut session, &mut report).await {
            report.errors.push(format!("round {}: {error}", report.rounds));
            // Start over on a fresh connection, from where the partitions really are.
            if let Err(error) = resync(address, &mut session, &mut report).await {
                report.errors.push(format!("round {}: resync: {error}", report.rounds));
            }
        }
        report.rounds += 1;
        let pause = ROUND_PERIOD.saturating_sub(round_started.elapsed());
        monoio::time::sleep(pause).await;
    }
    report
}

/// One round: (maybe) log in again, send three messages, poll them back.
async fn round(address: SocketAddr, session: &mut Session, report: &mut GoodReport) -> Result<(), String> {
    let number = report.rounds;
    if number > 0 && number.is_multiple_of(LOGIN_EVERY_ROUNDS) {
        session.client = login(address, session.client.dialect(), report).await?;
    }
    let partition_id = (number % u64::from(PARTITIONS)) as u32;
    let payloads: Vec<String> = (0..MESSAGES_PER_ROUND)
        .map(|index| format!("good {} round {number} message {index}", report.dialect))
        .collect();
    let messages: Vec<Message> = payloads.iter().map(|payload| Message::new(payload.clone())).collect();
    let (stream, topic) = (session.stream.clone(), session.topic.clone());
    let send = session.client.send_messages(&stream, &topic, Partitioning::PartitionId(partition_id), &messages);
    timed(report, "send", send).await?;
    let from = session.next[partition_id as usize];
    let spec = poll_spec(session, partition_id, from);
    let polled = timed(report, "poll", session.client.poll_messages(&spec)).await?;
    let offsets: Vec<u64> = polled.messages.iter().map(|m| m.offset).collect();
    let expected: Vec<u64> = (from..from + MESSAGES_PER_ROUND as u64).collect();
    let got: Vec<&[u8]> = polled.messages.iter().map(|m| &m.payload[..]).collect();
    let want: Vec<&[u8]> = payloads.iter().map(String::as_bytes).collect();
    if offsets != expected || got != want {
        return Err(format!(
            "partition {partition_id}: polled offsets {offsets:?} with payloads {:?}, sent offsets {expected:?} with {payloads:?}",
            got.iter().map(|p| String::from_utf8_lossy(p)).collect::<Vec<_>>()
        ));
    }
    session.next[partition_id as usize] = from + MESSAGES_PER_ROUND as u64;
    report.messages += MESSAGES_PER_ROUND as u64;
    Ok(())
}

fn poll_spec(session: &Session, partition_id: u32, from: u64) -> PollSpec {
    PollSpec {
        consumer: Consumer { kind: ConsumerKind::Consumer, id: Identifier::Numeric(7) },
        stream: session.stream.clone(),
        topic: session.topic.clone(),
        partition_id: Some(partition_id),
        strategy: PollingStrategy::Offset(from),
        count: 100,
        auto_commit: false,
    }
}

/// After a failure: a new connection, and each partition's next offset as the server has it.
async fn resync(address: SocketAddr, session: &mut Session, report: &mut GoodReport) -> Result<(), String> {
    session.client = login(address, session.client.dialect(), report).await?;
    for partition_id in 0..PARTITIONS {
        let spec = poll_spec(session, partition_id, 0);
        let polled = timed(report, "resync poll", session.client.poll_messages(&PollSpec { count: 1, ..spec })).await?;
        session.next[partition_id as usize] = if polled.messages.is_empty() { 0 } else { polled.current_offset + 1 };
    }
    Ok(())
}
