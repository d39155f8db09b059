//! The command line, as users of iggy-bench know it:
//! `whippet-bench [--address HOST:PORT] [--dialect 0.11|legacy] [--json FILE] [--report FILE] <scenario> [options]`.
//! The global options may also follow the scenario.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use whippet_client::Dialect;

/// Load generator for Iggy-compatible servers: iggy-bench's scenarios, either dialect.
#[derive(Debug, Clone, Parser)]
#[command(name = "whippet-bench", version)]
pub struct Args {
    /// Server to load (HOST:PORT).
    #[arg(long, global = true, default_value = "127.0.0.1:8090")]
    pub address: String,
    /// Wire dialect: `0.11` (VSR framing) or `legacy` (length/code framing, servers <= 0.8).
    #[arg(long, global = true, default_value = "0.11")]
    pub dialect: Dialect,
    /// Writes the results, configuration and machine info as JSON to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Writes charts to FILE: an HTML page with inline SVG, or one SVG when FILE ends in `.svg`.
    #[arg(long, global = true, value_name = "FILE")]
    pub report: Option<PathBuf>,
    #[arg(long, global = true, default_value = "iggy")]
    pub username: String,
    #[arg(long, global = true, default_value = "iggy")]
    pub password: String,
    #[command(subcommand)]
    pub scenario: ScenarioArgs,
}

/// The scenarios, named as in iggy-bench.
#[derive(Debug, Clone, Subcommand)]
pub enum ScenarioArgs {
    /// Each producer sends to its own stream/partition.
    PinnedProducer(LoadArgs),
    /// Each consumer reads its own stream/partition (seeded first, not measured).
    PinnedConsumer(LoadArgs),
    /// Producers and consumers at once, pairwise on a partition; consumer latency is the
    /// message's age from its origin timestamp.
    PinnedProducerAndConsumer(LoadArgs),
    /// Producers send with balanced partitioning over --partitions partitions.
    BalancedProducer(LoadArgs),
    /// Consumers in one consumer group per stream share its partitions (seeded first).
    BalancedConsumerGroup(LoadArgs),
    /// Each actor sends a batch to its own partition, then polls it back; latency is the round trip.
    EndToEnd(LoadArgs),
}

impl ScenarioArgs {
    pub fn load(&self) -> &LoadArgs {
        match self {
            ScenarioArgs::PinnedProducer(load)
            | ScenarioArgs::PinnedConsumer(load)
            | ScenarioArgs::PinnedProducerAndConsumer(load)
            | ScenarioArgs::BalancedProducer(load)
            | ScenarioArgs::BalancedConsumerGroup(load)
            | ScenarioArgs::EndToEnd(load) => load,
        }
    }
}

/// The load shape. Counts left out take the scenario's default (see `Config`).
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Producer threads, one connection each (end-to-end: its actors). Default 8.
    #[arg(long)]
    pub producers: Option<u32>,
    /// Consumer threads, one connection each. Default 8 (pinned-producer-and-consumer: --producers).
    #[arg(long)]
    pub consumers: Option<u32>,
    /// Streams `bench-1`..`bench-N`. Default: one per actor (pinned, end-to-end), 1 (balanced).
    #[arg(long)]
    pub streams: Option<u32>,
    /// Partitions per topic. Default: 1 (pinned, end-to-end), one per actor (balanced).
    #[arg(long)]
    pub partitions: Option<u32>,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 1000)]
    pub message_size: u32,
    #[arg(long, default_value_t = 1000)]
    pub messages_per_batch: u32,
    /// Measured batches per actor (consumer scenarios: also sizes the seeded data).
    #[arg(long, default_value_t = 1000)]
    pub batches: u64,
    /// Run by time instead of by --batches (e.g. `30s`, `2m`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Total payload rate over the paced actors, in MB/s (10^6 bytes); latency is then
    /// measured from each batch's intended start when an actor falls behind.
    #[arg(long, value_name = "MB/s")]
    pub rate_limit: Option<f64>,
    /// The topics' `durability` option: `always`, `never` or `interval:MS` (0.11 dialect only).
    #[arg(long)]
    pub durability: Option<String>,
    /// Time each actor runs before measuring (e.g. `5s`); excluded from the figures.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    pub warmup: Duration,
}
