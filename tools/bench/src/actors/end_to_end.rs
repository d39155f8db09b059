//! end-to-end: each actor sends a batch to its own partition, then polls until that batch is
//! back; latency is the whole round trip (send + polls). Bytes count each batch once.

use whippet_client::protocol::types::{Consumer, ConsumerKind, Identifier, Partitioning, PollingStrategy};
use whippet_client::{Client, PollSpec, now_micros};

use super::driver::{Driver, Limit, Stall};
use super::{ActorContext, Gate};
use crate::error::BenchError;
use crate::stats::ActorStats;

pub async fn run(context: &ActorContext, client: &mut Client, gate: Gate<'_>) -> Result<ActorStats, BenchError> {
    let partition = context.spec.partition.expect("end-to-end actors own a partition");
    let mut prepared = client
        .prepare_send(&context.stream(), &context.topic(), Partitioning::PartitionId(partition), &context.batch())
        .map_err(context.failure("prepare the batch"))?;
    let batch = u64::from(prepared.count());
    let mut poll = PollSpec {
        consumer: Consumer {
            kind: ConsumerKind::Consumer,
            id: Identifier::Name(format!("bench-end-to-end-{}", context.spec.index)),
        },
        stream: context.stream(),
        topic: context.topic(),
        partition_id: Some(partition),
        strategy: PollingStrategy::Offset(0),
        count: context.config.messages_per_batch,
        auto_commit: false,
    };
    let start = gate.wait(context)?;
    let mut driver = Driver::new(context, &start, Limit::from_config(context, &start));
    // The next offset to read: the partition is this actor's alone.
    let mut cursor = 0u64;
    while let Some(reference) = driver.next().await {
        prepared.restamp(now_micros());
        prepared = client.send_prepared(prepared).await.map_err(context.failure("send"))?;
        let target = cursor + batch;
        let mut bytes = 0u64;
        let mut stall = Stall::new();
        while cursor < target {
            poll.strategy = PollingStrategy::Offset(cursor);
            poll.count = u32::try_from(target - cursor).expect("a batch's count fits u32");
            let polled = client.poll_messages(&poll).await.map_err(context.failure("poll"))?;
            let Some(first) = polled.messages.first() else {
                stall.check(context, || format!("waiting for offset {cursor} of the batch just sent"))?;
                continue;
            };
            if first.offset != cursor {
                return Err(context.error("poll", format!("asked for offset {cursor}, got {}", first.offset)));
            }
            stall.progressed();
            cursor += polled.messages.len() as u64;
            bytes += polled.messages.iter().map(|message| message.payload.len() as u64).sum::<u64>();
        }
        driver.record(reference, batch, bytes);
    }
    Ok(driver.finish())
}
