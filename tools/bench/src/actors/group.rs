//! A consumer-group member (balanced-consumer-group): joins the stream's group before the
//! start, then polls `Next` with auto-commit until the group has taken every seeded message
//! of its stream. Latency is the poll's round trip.
//!
//! Over 0.11 the member polls its assigned partitions by id in turn, as SDK 0.11 does (an
//! Iggy 0.11 server requires the partition); it learns them from the group's details and
//! re-learns them when the server answers with the resync sentinel. Over legacy the server
//! picks the partition. Warmup polls read offset 0 of one partition as a plain consumer, so
//! the group's offsets start measured.

use std::time::Duration;

use whippet_client::protocol::types::{Consumer, ConsumerKind, Identifier, PollingStrategy};
use whippet_client::{Client, Dialect, PollSpec};

use super::consumer::payload_bytes;
use super::driver::{Driver, Limit, Stall};
use super::{ActorContext, Gate};
use crate::error::BenchError;
use crate::scenario::{GROUP_NAME, seeded_messages};
use crate::stats::ActorStats;

/// What a 0.11 poll reply's partition id says when the member must re-sync its assignment.
const RESYNC_PARTITION: u32 = u32::MAX;
/// Pause after a poll that found nothing (a drained partition, or no partition assigned).
const IDLE_POLL_PAUSE: Duration = Duration::from_millis(1);

pub async fn run(context: &ActorContext, client: &mut Client, gate: Gate<'_>) -> Result<ActorStats, BenchError> {
    let group = Identifier::Name(GROUP_NAME.to_owned());
    client.join_group(&context.stream(), &context.topic(), &group).await.map_err(context.failure("join the group"))?;
    let start = gate.wait(context)?;
    let mut member = Member {
        context,
        assignment: Assignment::default(),
        poll: PollSpec {
            consumer: Consumer { kind: ConsumerKind::Group, id: group },
            stream: context.stream(),
            topic: context.topic(),
            partition_id: None,
            strategy: PollingStrategy::Next,
            count: context.config.messages_per_batch,
            auto_commit: true,
        },
    };
    member.refresh(client).await?;
    let limit = Limit { batches: None, until: start.until };
    member.consume(client, Driver::new(context, &start, limit)).await
}

/// The partitions a 0.11 member polls in turn.
#[derive(Debug, Default)]
struct Assignment {
    partitions: Vec<u32>,
    turn: usize,
}

struct Member<'a> {
    context: &'a ActorContext,
    assignment: Assignment,
    poll: PollSpec,
}

impl Member<'_> {
    fn legacy(&self) -> bool {
        self.context.config.dialect == Dialect::Legacy
    }

    /// Learns this member's partitions from the group's details (0.11 only).
    async fn refresh(&mut self, client: &mut Client) -> Result<(), BenchError> {
        if self.legacy() {
            return Ok(());
        }
        let context = self.context;
        let me = client.me().await.map_err(context.failure("ask the server who this client is"))?;
        let details = client
            .group(&self.poll.stream, &self.poll.topic, &self.poll.consumer.id)
            .await
            .map_err(context.failure("read the group's assignment"))?
            .ok_or_else(|| context.error("read the group's assignment", "the group is gone".into()))?;
        let mine = details.members.into_iter().find(|member| member.id == me.client.client_id);
        self.assignment = Assignment { partitions: mine.map(|member| member.partitions).unwrap_or_default(), turn: 0 };
        Ok(())
    }

    /// The partition field of the next poll: `Some(None)` lets the server pick (legacy),
    /// `Some(Some(p))` names an assigned partition (0.11), `None` means nothing is assigned.
    fn next_partition(&mut self) -> Option<Option<u32>> {
        if self.legacy() {
            return Some(None);
        }
        let assignment = &mut self.assignment;
        let partition = *assignment.partitions.get(assignment.turn % assignment.partitions.len().max(1))?;
        assignment.turn = assignment.turn.wrapping_add(1);
        Some(Some(partition))
    }

    async fn consume(mut self, client: &mut Client, mut driver: Driver<'_>) -> Result<ActorStats, BenchError> {
        let context = self.context;
        let stream = context.spec.stream;
        let expected: u64 = seeded_messages(&context.config, stream).iter().sum();
        let mut stall = Stall::new();
        let mut last_total = 0;
        loop {
            let total = context.shared.group_consumed(stream);
            if total >= expected {
                break;
            }
            if total != last_total {
                last_total = total;
                stall.progressed();
            }
            let Some(reference) = driver.next().await else { break };
            if !driver.measuring() {
                let (messages, bytes) = self.warmup_poll(client).await?;
                driver.record(reference, messages, bytes);
                continue;
            }
            let Some(partition) = self.next_partition() else {
                stall.check(context, || format!("the group took {total} of {expected} messages"))?;
                monoio::time::sleep(IDLE_POLL_PAUSE).await;
                continue;
            };
            self.poll.partition_id = partition;
            let polled = client.poll_messages(&self.poll).await.map_err(context.failure("poll"))?;
            if polled.partition_id == RESYNC_PARTITION && !self.legacy() {
                stall.check(context, || format!("the group took {total} of {expected} messages"))?;
                self.refresh(client).await?;
                continue;
            }
            if polled.messages.is_empty() {
                stall.check(context, || format!("the group took {total} of {expected} messages"))?;
                monoio::time::sleep(IDLE_POLL_PAUSE).await;
                continue;
            }
            let messages = polled.messages.len() as u64;
            context.shared.add_group_consumed(stream, messages);
            driver.record(reference, messages, payload_bytes(&polled));
        }
        Ok(driver.finish())
    }

    /// A poll that moves no group offset: offset 0 of one partition, as a plain consumer.
    async fn warmup_poll(&mut self, client: &mut Client) -> Result<(u64, u64), BenchError> {
        let context = self.context;
        let warmup = PollSpec {
            consumer: Consumer {
                kind: ConsumerKind::Consumer,
                id: Identifier::Name(format!("bench-warmup-{}", context.spec.index)),
            },
            partition_id: Some(context.spec.index % context.config.partitions),
            strategy: PollingStrategy::Offset(0),
            auto_commit: false,
            ..self.poll.clone()
        };
        let polled = client.poll_messages(&warmup).await.map_err(context.failure("poll (warmup)"))?;
        Ok((polled.messages.len() as u64, payload_bytes(&polled)))
    }
}
