//! A producer: sends the same prepared batch over and over, restamped with the current
//! origin timestamp; latency is the send's round trip (from its due time when behind a
//! `--rate-limit`). Pinned producers send to their own partition, balanced ones let the
//! server pick.

use whippet_client::protocol::types::Partitioning;
use whippet_client::{Client, now_micros};

use super::driver::{Driver, Limit};
use super::{ActorContext, Gate};
use crate::error::BenchError;
use crate::stats::ActorStats;

pub async fn run(context: &ActorContext, client: &mut Client, gate: Gate<'_>) -> Result<ActorStats, BenchError> {
    let partitioning = match context.spec.partition {
        Some(partition) => Partitioning::PartitionId(partition),
        None => Partitioning::Balanced,
    };
    let mut prepared = client
        .prepare_send(&context.stream(), &context.topic(), partitioning, &context.batch())
        .map_err(context.failure("prepare the batch"))?;
    let slot = context.spec.slot(&context.config);
    let messages = u64::from(prepared.count());
    let bytes = context.config.batch_bytes();
    let start = gate.wait(context)?;
    let mut driver = Driver::new(context, &start, Limit::from_config(context, &start));
    while let Some(reference) = driver.next().await {
        prepared.restamp(now_micros());
        prepared = client.send_prepared(prepared).await.map_err(context.failure("send"))?;
        driver.record(reference, messages, bytes);
        if let Some(slot) = slot {
            context.shared.add_produced(slot, messages);
        }
    }
    Ok(driver.finish())
}
