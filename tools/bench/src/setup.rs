//! Before the actors start (not measured): delete and recreate the bench streams, each with
//! one topic of `--partitions` partitions and the `--durability` option, create the consumer
//! groups, and seed the streams consumer scenarios read.

use std::time::Instant;

use bytes::Bytes;

use whippet_client::protocol::types::{Identifier, Partitioning};
use whippet_client::{Client, Message, TopicSpec};

use crate::config::Config;
use crate::error::BenchError;
use crate::scenario::{GROUP_NAME, Scenario, TOPIC_NAME, seeded_messages, stream_name};

/// Runs the whole setup on its own connection.
pub async fn prepare(config: &Config) -> Result<(), BenchError> {
    let mut client = Client::connect_and_login(config.address, config.dialect, &config.credentials)
        .await
        .map_err(BenchError::setup(format!("connect to {} and log in", config.address)))?;
    for stream in 0..config.streams {
        recreate(&mut client, config, stream).await?;
    }
    if config.scenario.seeds() {
        seed(&mut client, config).await?;
    }
    Ok(())
}

async fn recreate(client: &mut Client, config: &Config, stream: u32) -> Result<(), BenchError> {
    let name = stream_name(stream);
    let stream_id = Identifier::Name(name.clone());
    match client.delete_stream(&stream_id).await {
        Ok(()) => {}
        Err(error) if error.is_not_found() => {}
        Err(error) => return Err(BenchError::setup(format!("delete stream {name}"))(error)),
    }
    client.create_stream(&name).await.map_err(BenchError::setup(format!("create stream {name}")))?;
    let mut topic = TopicSpec::new(TOPIC_NAME, config.partitions);
    if let Some(durability) = &config.durability {
        topic = topic.option("durability", durability.as_str());
    }
    client
        .create_topic(&stream_id, &topic)
        .await
        .map_err(BenchError::setup(format!("create topic {name}/{TOPIC_NAME}")))?;
    if config.scenario == Scenario::BalancedConsumerGroup {
        client
            .create_group(&stream_id, &Identifier::Name(TOPIC_NAME.to_owned()), GROUP_NAME)
            .await
            .map_err(BenchError::setup(format!("create consumer group {name}/{TOPIC_NAME}/{GROUP_NAME}")))?;
    }
    Ok(())
}

/// Tops every partition up to what the scenario reads from it.
async fn seed(client: &mut Client, config: &Config) -> Result<(), BenchError> {
    let began = Instant::now();
    let topic = Identifier::Name(TOPIC_NAME.to_owned());
    let mut total = 0u64;
    for stream in 0..config.streams {
        let name = stream_name(stream);
        let stream_id = Identifier::Name(name.clone());
        let details = client
            .topic(&stream_id, &topic)
            .await
            .map_err(BenchError::setup(format!("read topic {name}/{TOPIC_NAME}")))?
            .ok_or_else(|| BenchError::Config(format!("topic {name}/{TOPIC_NAME} vanished during setup")))?;
        for (partition, wanted) in (0u32..).zip(seeded_messages(config, stream)) {
            let held = details.partitions.iter().find(|p| p.id == partition).map_or(0, |p| p.messages_count);
            let missing = wanted.saturating_sub(held);
            if missing > 0 {
                eprintln!("seeding {name} partition {partition} with {missing} messages (not measured)");
                fill(client, config, (&name, partition), missing).await?;
                total += missing;
            }
        }
    }
    if total > 0 {
        eprintln!("seeded {total} messages in {:.1} s", began.elapsed().as_secs_f64());
    }
    Ok(())
}

async fn fill(
    client: &mut Client,
    config: &Config,
    (name, partition): (&str, u32),
    mut missing: u64,
) -> Result<(), BenchError> {
    let stream = Identifier::Name(name.to_owned());
    let topic = Identifier::Name(TOPIC_NAME.to_owned());
    let partitioning = Partitioning::PartitionId(partition);
    let payload: Bytes = (0..config.message_size).map(|index| b'a' + (index % 26) as u8).collect::<Vec<u8>>().into();
    let messages = |count: u64| vec![Message::new(payload.clone()); count as usize];
    let step = || BenchError::setup(format!("seed {name} partition {partition}"));
    let batch = u64::from(config.messages_per_batch);
    if missing >= batch {
        let mut prepared =
            client.prepare_send(&stream, &topic, partitioning.clone(), &messages(batch)).map_err(step())?;
        while missing >= batch {
            prepared = client.send_prepared(prepared).await.map_err(step())?;
            missing -= batch;
        }
    }
    if missing > 0 {
        client.send_messages(&stream, &topic, partitioning, &messages(missing)).await.map_err(step())?;
    }
    Ok(())
}
