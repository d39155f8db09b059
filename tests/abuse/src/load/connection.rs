//! One runtime thread's connections: log them all in with bounded concurrency, then drive each
//! as its own task, one request per `interval`, sends and polls in turn.
//!
//! Everything here lives on one monoio runtime (thread): the [`Plan`] and the thread's
//! [`ThreadStats`] are shared by its tasks through `Rc`, never across threads.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use whippet_client::protocol::types::{Consumer, ConsumerKind, Identifier, Partitioning, PollingStrategy};
use whippet_client::{Client, ClientError, Credentials, Dialect, Message, PollSpec, PreparedSend, now_micros};

use super::stats::{Kind, ThreadStats};

/// What every connection of a run does, the same on every thread.
#[derive(Debug, Clone)]
pub struct Plan {
    pub address: SocketAddr,
    pub dialect: Dialect,
    pub credentials: Credentials,
    pub stream: Identifier,
    pub topic: Identifier,
    pub partitions: u32,
    /// One send's messages.
    pub messages: Vec<Message>,
    pub message_size: usize,
    pub poll_count: u32,
    /// Time from one request's start to the next one's on a connection.
    pub interval: Duration,
    /// Connections over all threads (staggers the first requests over one interval).
    pub connections: usize,
    pub call_timeout: Duration,
}

pub type Stats = Rc<RefCell<ThreadStats>>;

/// Runs `call` within the plan's call timeout.
async fn bounded<T>(limit: Duration, call: impl Future<Output = Result<T, ClientError>>) -> Result<T, String> {
    match monoio::time::timeout(limit, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no reply within {limit:?}")),
    }
}

/// Connects and logs in the connections numbered `indexes`, at most `concurrency` at once;
/// none is started after `deadline`. Failures are counted in `stats`.
pub async fn connect_all(
    plan: &Rc<Plan>,
    indexes: Vec<usize>,
    concurrency: usize,
    deadline: Instant,
    stats: &Stats,
) -> Vec<(usize, Client)> {
    let queue = Rc::new(RefCell::new(VecDeque::from(indexes)));
    let connected = Rc::new(RefCell::new(Vec::new()));
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (plan, queue, connected, stats) = (plan.clone(), queue.clone(), connected.clone(), stats.clone());
            monoio::spawn(async move {
                loop {
                    let Some(index) = queue.borrow_mut().pop_front() else { break };
                    if Instant::now() >= deadline {
                        stats.borrow_mut().error(Kind::Connect, format!("connection {index}: connect phase deadline"));
                        continue;
                    }
                    let started = Instant::now();
                    let login = Client::connect_and_login(plan.address, plan.dialect, &plan.credentials);
                    match bounded(plan.call_timeout, login).await {
                        Ok(client) => {
                            stats.borrow_mut().record(Kind::Connect, started.elapsed());
                            connected.borrow_mut().push((index, client));
                        }
                        Err(error) => stats.borrow_mut().error(Kind::Connect, format!("connection {index}: {error}")),
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await;
    }
    connected.take()
}

/// Drives every connection from `start` until `end`, each on its own task, and waits for all.
pub async fn drive_all(clients: Vec<(usize, Client)>, plan: Rc<Plan>, start: Instant, end: Instant, stats: Stats) {
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(index, client)| monoio::spawn(drive(index, client, plan.clone(), (start, end), stats.clone())))
        .collect();
    for task in tasks {
        task.await;
    }
}

/// One connection's loop. A failed call ends the connection (it is counted as lost).
async fn drive(index: usize, mut client: Client, plan: Rc<Plan>, (start, end): (Instant, Instant), stats: Stats) {
    let partition_id = index as u32 % plan.partitions;
    let mut prepared =
        match client.prepare_send(&plan.stream, &plan.topic, Partitioning::PartitionId(partition_id), &plan.messages) {
            Ok(prepared) => Some(prepared),
            Err(error) => {
                lost(&stats, Kind::Send, format!("connection {index}: prepare: {error}"));
                return;
            }
        };
    let poll = PollSpec {
        consumer: Consumer { kind: ConsumerKind::Consumer, id: Identifier::Numeric(index as u32 + 1) },
        stream: plan.stream.clone(),
        topic: plan.topic.clone(),
        partition_id: Some(partition_id),
        strategy: PollingStrategy::Next,
        count: plan.poll_count,
        auto_commit: true,
    };
    // Spread the first requests over one interval so the connections do not tick together.
    let stagger = plan.interval.mul_f64(index as f64 / plan.connections.max(1) as f64);
    let mut next = start + stagger;
    let mut kind = if index.is_multiple_of(2) { Kind::Send } else { Kind::Poll };
    while next < end {
        monoio::time::sleep_until(monoio::time::Instant::from_std(next)).await;
        let started = Instant::now();
        let outcome = match kind {
            Kind::Send => send(&mut client, &mut prepared, &plan).await,
            _ => poll_once(&mut client, &poll, &plan).await,
        };
        match outcome {
            Ok(messages) => {
                let mut stats = stats.borrow_mut();
                stats.record(kind, started.elapsed());
                match kind {
                    Kind::Send => stats.messages_sent += messages,
                    _ => stats.messages_polled += messages,
                }
            }
            Err(error) => {
                lost(&stats, kind, format!("connection {index}: {error}"));
                return;
            }
        }
        kind = if kind == Kind::Send { Kind::Poll } else { Kind::Send };
        // A late tick is not made up for with a burst.
        next = (next + plan.interval).max(Instant::now());
    }
}

fn lost(stats: &Stats, kind: Kind, what: String) {
    let mut stats = stats.borrow_mut();
    stats.error(kind, what);
    stats.connections_lost += 1;
}

/// One send of the prepared batch, restamped now. Returns the messages sent.
async fn send(client: &mut Client, prepared: &mut Option<PreparedSend>, plan: &Plan) -> Result<u64, String> {
    let mut batch = prepared.take().ok_or("the prepared send was lost to an earlier failure")?;
    batch.restamp(now_micros());
    let count = u64::from(batch.count());
    *prepared = Some(bounded(plan.call_timeout, client.send_prepared(batch)).await?);
    Ok(count)
}

/// One poll from the consumer's stored offset (committed by the poll itself). The reply must
/// hold at most `poll_count` messages of the size sent, in ascending offsets.
async fn poll_once(client: &mut Client, spec: &PollSpec, plan: &Plan) -> Result<u64, String> {
    let polled = bounded(plan.call_timeout, client.poll_messages(spec)).await?;
    if polled.messages.len() > plan.poll_count as usize {
        return Err(format!("poll of {} returned {} messages", plan.poll_count, polled.messages.len()));
    }
    if let Some(bad) = polled.messages.iter().find(|m| m.payload.len() != plan.message_size) {
        return Err(format!(
            "polled offset {} has {} payload bytes, sent {}",
            bad.offset,
            bad.payload.len(),
            plan.message_size
        ));
    }
    if polled.messages.windows(2).any(|pair| pair[1].offset <= pair[0].offset) {
        return Err("poll reply offsets do not ascend".to_string());
    }
    Ok(polled.messages.len() as u64)
}
