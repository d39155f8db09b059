//! The run's resolved configuration: the command line with the scenario's defaults applied
//! and every contradiction refused before anything connects.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use serde_json::{Value, json};
use whippet_client::{Credentials, Dialect};

use crate::args::{Args, ScenarioArgs};
use crate::error::BenchError;
use crate::scenario::Scenario;

/// Actors of a role when the command line does not say (iggy-bench's default).
pub const DEFAULT_ACTORS: u32 = 8;
/// Bytes in one MB of `--rate-limit` and of the reported throughput.
pub const BYTES_PER_MB: f64 = 1_000_000.0;
/// The largest frame a server takes (Iggy's and Whippet's `max_frame_size`), less room for
/// the request header and metadata.
const MAX_BATCH_BYTES: u64 = 64 * 1024 * 1024 - 64 * 1024;
/// Per-message header bytes on the wire (both dialects).
const MESSAGE_HEADER_BYTES: u64 = 64;

#[derive(Debug, Clone)]
pub struct Config {
    pub scenario: Scenario,
    pub address: SocketAddr,
    pub dialect: Dialect,
    pub credentials: Credentials,
    pub producers: u32,
    pub consumers: u32,
    pub streams: u32,
    pub partitions: u32,
    pub message_size: u32,
    pub messages_per_batch: u32,
    pub batches: u64,
    pub duration: Option<Duration>,
    pub warmup: Duration,
    pub rate_limit_mb_s: Option<f64>,
    pub durability: Option<String>,
}

impl Config {
    pub fn from_args(args: &Args) -> Result<Config, BenchError> {
        let scenario = match &args.scenario {
            ScenarioArgs::PinnedProducer(_) => Scenario::PinnedProducer,
            ScenarioArgs::PinnedConsumer(_) => Scenario::PinnedConsumer,
            ScenarioArgs::PinnedProducerAndConsumer(_) => Scenario::PinnedProducerAndConsumer,
            ScenarioArgs::BalancedProducer(_) => Scenario::BalancedProducer,
            ScenarioArgs::BalancedConsumerGroup(_) => Scenario::BalancedConsumerGroup,
            ScenarioArgs::EndToEnd(_) => Scenario::EndToEnd,
        };
        let load = args.scenario.load();
        let name = scenario.name();
        let producers = match (scenario.has_producers(), load.producers) {
            (true, count) => count.unwrap_or(DEFAULT_ACTORS),
            (false, None) => 0,
            (false, Some(_)) => return Err(BenchError::Config(format!("{name} has no producers: drop --producers"))),
        };
        let consumers = match (scenario, load.consumers) {
            (Scenario::PinnedProducerAndConsumer, count) => count.unwrap_or(producers),
            (_, count) if scenario.has_consumers() => count.unwrap_or(DEFAULT_ACTORS),
            (_, None) => 0,
            (_, Some(_)) => return Err(BenchError::Config(format!("{name} has no consumers: drop --consumers"))),
        };
        let actors = producers.max(consumers);
        let pinned = scenario.pinned();
        let config = Config {
            scenario,
            address: resolve(&args.address)?,
            dialect: args.dialect,
            credentials: Credentials::Password { username: args.username.clone(), password: args.password.clone() },
            producers,
            consumers,
            streams: load.streams.unwrap_or(if pinned { actors } else { 1 }),
            partitions: load.partitions.unwrap_or(if pinned { 1 } else { actors }),
            message_size: load.message_size,
            messages_per_batch: load.messages_per_batch,
            batches: load.batches,
            duration: load.duration,
            warmup: load.warmup,
            rate_limit_mb_s: load.rate_limit,
            durability: load.durability.clone(),
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), BenchError> {
        let fail = |message: String| Err(BenchError::Config(message));
        let name = self.scenario.name();
        let counts = [
            ("--producers", self.producers, self.scenario.has_producers()),
            ("--consumers", self.consumers, self.scenario.has_consumers()),
            ("--streams", self.streams, true),
            ("--partitions", self.partitions, true),
            ("--message-size", self.message_size, true),
            ("--messages-per-batch", self.messages_per_batch, true),
        ];
        if let Some((flag, _, _)) = counts.iter().find(|(_, value, needed)| *needed && *value == 0) {
            return fail(format!("{flag} must be at least 1"));
        }
        if self.batches == 0 {
            return fail("--batches must be at least 1".into());
        }
        if self.duration.is_some_and(|duration| duration.is_zero()) {
            return fail("--duration must be longer than 0".into());
        }
        let slots = u64::from(self.streams) * u64::from(self.partitions);
        if self.scenario.pinned() && u64::from(self.producers.max(self.consumers)) > slots {
            return fail(format!(
                "{name} gives each actor its own partition: --streams × --partitions ({slots}) must be at least \
                 the number of actors ({})",
                self.producers.max(self.consumers)
            ));
        }
        let wire_bytes = u64::from(self.messages_per_batch) * (u64::from(self.message_size) + MESSAGE_HEADER_BYTES);
        if wire_bytes > MAX_BATCH_BYTES {
            return fail(format!("a batch of {wire_bytes} bytes exceeds the 64 MiB frame limit"));
        }
        if let Some(rate) = self.rate_limit_mb_s
            && !(rate.is_finite() && rate > 0.0)
        {
            return fail(format!("--rate-limit must be a positive number of MB/s, not {rate}"));
        }
        if let Some(durability) = &self.durability {
            if self.dialect == Dialect::Legacy {
                return fail(
                    "--durability sets a 0.11 topic option, and the legacy dialect cannot carry topic options: \
                     drop --durability or use --dialect 0.11"
                        .into(),
                );
            }
            if !valid_durability(durability) {
                return fail(format!("--durability must be always, never or interval:MS, not `{durability}`"));
            }
        }
        Ok(())
    }

    /// Payload bytes in one batch.
    pub fn batch_bytes(&self) -> u64 {
        u64::from(self.messages_per_batch) * u64::from(self.message_size)
    }

    /// The number of actors `--rate-limit` is split over.
    pub fn paced_actors(&self) -> u32 {
        match self.scenario.paced() {
            crate::scenario::Role::Producer | crate::scenario::Role::ProducingConsumer => self.producers,
            _ => self.consumers,
        }
    }

    /// Each paced actor's share of `--rate-limit`, in bytes per second.
    pub fn rate_per_actor_bytes_s(&self) -> Option<f64> {
        self.rate_limit_mb_s.map(|rate| rate * BYTES_PER_MB / f64::from(self.paced_actors().max(1)))
    }

    pub fn username(&self) -> &str {
        match &self.credentials {
            Credentials::Password { username, .. } => username,
            Credentials::PersonalAccessToken(_) => "(token)",
        }
    }

    /// Everything that shaped the run, for the JSON (no password).
    pub fn to_json(&self) -> Value {
        json!({
            "scenario": self.scenario.name(),
            "address": self.address.to_string(),
            "dialect": self.dialect.name(),
            "username": self.username(),
            "producers": self.producers,
            "consumers": self.consumers,
            "streams": self.streams,
            "partitions": self.partitions,
            "message_size": self.message_size,
            "messages_per_batch": self.messages_per_batch,
            "batches": self.batches,
            "duration_s": self.duration.map(|duration| duration.as_secs_f64()),
            "warmup_s": self.warmup.as_secs_f64(),
            "rate_limit_mb_s": self.rate_limit_mb_s,
            "durability": self.durability,
        })
    }

    /// One line saying what runs.
    pub fn describe(&self) -> String {
        let mut actors = Vec::new();
        if self.producers > 0 {
            actors.push(format!("{} producer(s)", self.producers));
        }
        if self.consumers > 0 {
            actors.push(format!("{} consumer(s)", self.consumers));
        }
        let amount = match self.duration {
            Some(duration) => format!("for {}", humantime::format_duration(duration)),
            None => format!("{} batches each", self.batches),
        };
        format!(
            "{}: {} on {} stream(s) × {} partition(s), {} × {} B messages per batch, {amount}, dialect {}, {}",
            self.scenario.name(),
            actors.join(" + "),
            self.streams,
            self.partitions,
            self.messages_per_batch,
            self.message_size,
            self.dialect,
            self.address
        )
    }
}

fn resolve(address: &str) -> Result<SocketAddr, BenchError> {
    let failure = |reason: String| BenchError::Address { address: address.to_owned(), reason };
    let mut candidates = address.to_socket_addrs().map_err(|error| failure(error.to_string()))?.collect::<Vec<_>>();
    candidates.sort_by_key(|candidate| !candidate.is_ipv4());
    candidates.first().copied().ok_or_else(|| failure("no address found".into()))
}

fn valid_durability(value: &str) -> bool {
    match value.strip_prefix("interval:") {
        Some(milliseconds) => milliseconds.parse::<u64>().is_ok_and(|ms| ms > 0),
        None => matches!(value, "always" | "never"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use clap::Parser;

    use super::*;

    pub(crate) fn config_for(scenario_args: &[&str]) -> Config {
        try_config(scenario_args).unwrap()
    }

    fn try_config(scenario_args: &[&str]) -> Result<Config, BenchError> {
        let argv = std::iter::once("whippet-bench").chain(scenario_args.iter().copied());
        Config::from_args(&Args::try_parse_from(argv).unwrap())
    }

    #[test]
    fn defaults_follow_the_scenario() {
        let pinned = config_for(&["pinned-producer", "--producers", "3"]);
        assert_eq!((pinned.producers, pinned.consumers, pinned.streams, pinned.partitions), (3, 0, 3, 1));
        let balanced = config_for(&["balanced-consumer-group", "--consumers", "4"]);
        assert_eq!((balanced.producers, balanced.consumers, balanced.streams, balanced.partitions), (0, 4, 1, 4));
        let both = config_for(&["pinned-producer-and-consumer", "--producers", "2"]);
        assert_eq!((both.producers, both.consumers, both.streams), (2, 2, 2));
        assert_eq!(both.address, "127.0.0.1:8090".parse().unwrap());
    }

    #[test]
    fn global_options_may_follow_the_scenario() {
        let config = config_for(&["end-to-end", "--dialect", "legacy", "--address", "127.0.0.1:9"]);
        assert_eq!((config.dialect, config.address.port()), (Dialect::Legacy, 9));
    }

    #[test]
    fn legacy_refuses_durability() {
        let error = try_config(&["--dialect", "legacy", "pinned-producer", "--durability", "always"]).unwrap_err();
        assert!(error.to_string().contains("legacy dialect cannot carry topic options"), "{error}");
        assert!(try_config(&["pinned-producer", "--durability", "interval:5"]).is_ok());
        assert!(try_config(&["pinned-producer", "--durability", "sometimes"]).is_err());
    }

    #[test]
    fn contradictions_are_refused() {
        assert!(try_config(&["pinned-consumer", "--producers", "1"]).is_err());
        assert!(try_config(&["pinned-producer", "--producers", "4", "--streams", "1"]).is_err());
        assert!(try_config(&["pinned-producer", "--producers", "4", "--streams", "2", "--partitions", "2"]).is_ok());
        assert!(try_config(&["pinned-producer", "--rate-limit", "0"]).is_err());
        assert!(try_config(&["pinned-producer", "--messages-per-batch", "0"]).is_err());
    }

    #[test]
    fn rate_limit_is_split_over_paced_actors() {
        let config = config_for(&["pinned-producer-and-consumer", "--producers", "4", "--rate-limit", "8"]);
        assert_eq!(config.rate_per_actor_bytes_s(), Some(2_000_000.0));
    }
}
