//! A pinned consumer: polls its own partition at explicit offsets (no offsets stored).
//!
//! - pinned-consumer: reads the seeded `batches × messages_per_batch` messages once; with
//!   `--duration` (and during warmup) it wraps to offset 0 at the end. Latency is the poll's
//!   round trip.
//! - pinned-producer-and-consumer: follows its producer's partition until every producer
//!   has ended and it has read all they sent. Latency is each received batch's age: receive
//!   time minus the origin timestamp its producer stamped (one sample per producer batch).

use std::time::Duration;

use whippet_client::protocol::types::{Consumer, ConsumerKind, Identifier, PollingStrategy};
use whippet_client::{Client, PollSpec, Polled, now_micros};

use super::driver::{Driver, Limit, Stall};
use super::{ActorContext, Gate};
use crate::error::BenchError;
use crate::scenario::Scenario;
use crate::stats::ActorStats;

/// Pause after an empty poll when no data is on its way.
const IDLE_POLL_PAUSE: Duration = Duration::from_millis(1);

pub async fn run(context: &ActorContext, client: &mut Client, gate: Gate<'_>) -> Result<ActorStats, BenchError> {
    let partition = context.spec.partition.expect("pinned consumers own a partition");
    let poll = PollSpec {
        consumer: Consumer {
            kind: ConsumerKind::Consumer,
            id: Identifier::Name(format!("bench-consumer-{}", context.spec.index)),
        },
        stream: context.stream(),
        topic: context.topic(),
        partition_id: Some(partition),
        strategy: PollingStrategy::Offset(0),
        count: context.config.messages_per_batch,
        auto_commit: false,
    };
    let start = gate.wait(context)?;
    let reader = Reader { context, poll };
    if context.config.scenario == Scenario::PinnedProducerAndConsumer {
        reader.follow(client, Driver::new(context, &start, Limit::open())).await
    } else {
        let limit = Limit::from_config(context, &start);
        reader.read_seeded(client, Driver::new(context, &start, limit)).await
    }
}

struct Reader<'a> {
    context: &'a ActorContext,
    poll: PollSpec,
}

impl Reader<'_> {
    /// Polls up to `count` messages at `offset`; checks they start there.
    async fn poll_at(&mut self, client: &mut Client, offset: u64, count: u64) -> Result<Polled, BenchError> {
        let context = self.context;
        self.poll.strategy = PollingStrategy::Offset(offset);
        self.poll.count = u32::try_from(count.min(u64::from(context.config.messages_per_batch))).unwrap_or(u32::MAX);
        let polled = client.poll_messages(&self.poll).await.map_err(context.failure("poll"))?;
        match polled.messages.first() {
            Some(first) if first.offset != offset => {
                Err(context.error("poll", format!("asked for offset {offset}, got {}", first.offset)))
            }
            _ => Ok(polled),
        }
    }

    async fn read_seeded(mut self, client: &mut Client, mut driver: Driver<'_>) -> Result<ActorStats, BenchError> {
        let context = self.context;
        let by_count = context.config.duration.is_none();
        let target = context.config.batches * u64::from(context.config.messages_per_batch);
        let mut cursor = 0u64;
        let mut measured_from_zero = false;
        let mut stall = Stall::new();
        loop {
            if by_count && measured_from_zero && cursor >= target {
                break;
            }
            let Some(reference) = driver.next().await else { break };
            if driver.measuring() && !measured_from_zero {
                measured_from_zero = true;
                cursor = 0;
            }
            if cursor >= target {
                cursor = 0;
            }
            let polled = self.poll_at(client, cursor, target - cursor).await?;
            if polled.messages.is_empty() {
                stall.check(context, || format!("the seeded partition ends before offset {cursor} of {target}"))?;
                monoio::time::sleep(IDLE_POLL_PAUSE).await;
                continue;
            }
            stall.progressed();
            cursor += polled.messages.len() as u64;
            driver.record(reference, polled.messages.len() as u64, payload_bytes(&polled));
        }
        Ok(driver.finish())
    }

    async fn follow(mut self, client: &mut Client, mut driver: Driver<'_>) -> Result<ActorStats, BenchError> {
        let context = self.context;
        let slot = context.spec.slot(&context.config).expect("pinned consumers have a slot");
        let mut cursor = 0u64;
        let mut stall = Stall::new();
        loop {
            // Producers count their sends before they count themselves out, so a zero here
            // makes `produced` final.
            let producers_running = context.shared.producers_running();
            let produced = context.shared.produced(slot);
            if producers_running == 0 && cursor >= produced {
                break;
            }
            if driver.next().await.is_none() {
                break;
            }
            let polled = self.poll_at(client, cursor, u64::MAX).await?;
            let received_micros = now_micros();
            if polled.messages.is_empty() {
                if producers_running == 0 {
                    stall.check(context, || format!("read {cursor} of the {produced} messages produced"))?;
                    monoio::time::sleep(IDLE_POLL_PAUSE).await;
                }
                continue;
            }
            stall.progressed();
            cursor += polled.messages.len() as u64;
            // One sample per producer batch: a run of messages with one origin timestamp.
            for run in polled.messages.chunk_by(|a, b| a.origin_timestamp == b.origin_timestamp) {
                let age = Duration::from_micros(received_micros.saturating_sub(run[0].origin_timestamp));
                let bytes = run.iter().map(|message| message.payload.len() as u64).sum();
                driver.record_latency(age, run.len() as u64, bytes);
            }
        }
        Ok(driver.finish())
    }
}

pub(super) fn payload_bytes(polled: &Polled) -> u64 {
    polled.messages.iter().map(|message| message.payload.len() as u64).sum()
}
