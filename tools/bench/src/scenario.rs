//! The scenarios and who takes part in each: one [`ActorSpec`] per thread.
//!
//! Pinned actors (and end-to-end's) each own one partition: actor `i` takes stream
//! `bench-{i % streams + 1}`, partition `i / streams`. In pinned-producer-and-consumer,
//! consumer `i` reads the partition producer `i` writes. Balanced actors take stream
//! `i % streams` and let the server (producers) or the group (consumers) pick the partition.

use crate::config::Config;

/// Which load a run generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    PinnedProducer,
    PinnedConsumer,
    PinnedProducerAndConsumer,
    BalancedProducer,
    BalancedConsumerGroup,
    EndToEnd,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::PinnedProducer => "pinned-producer",
            Scenario::PinnedConsumer => "pinned-consumer",
            Scenario::PinnedProducerAndConsumer => "pinned-producer-and-consumer",
            Scenario::BalancedProducer => "balanced-producer",
            Scenario::BalancedConsumerGroup => "balanced-consumer-group",
            Scenario::EndToEnd => "end-to-end",
        }
    }

    pub fn has_producers(self) -> bool {
        !matches!(self, Scenario::PinnedConsumer | Scenario::BalancedConsumerGroup)
    }

    pub fn has_consumers(self) -> bool {
        matches!(self, Scenario::PinnedConsumer | Scenario::PinnedProducerAndConsumer | Scenario::BalancedConsumerGroup)
    }

    /// Whether each actor must own a partition.
    pub fn pinned(self) -> bool {
        !matches!(self, Scenario::BalancedProducer | Scenario::BalancedConsumerGroup)
    }

    /// Whether the streams must hold data before the actors start.
    pub fn seeds(self) -> bool {
        matches!(self, Scenario::PinnedConsumer | Scenario::BalancedConsumerGroup)
    }

    /// The role whose figures are the run's headline.
    pub fn headline(self) -> Role {
        match self {
            Scenario::PinnedProducer | Scenario::BalancedProducer => Role::Producer,
            Scenario::PinnedConsumer | Scenario::PinnedProducerAndConsumer => Role::Consumer,
            Scenario::BalancedConsumerGroup => Role::GroupConsumer,
            Scenario::EndToEnd => Role::ProducingConsumer,
        }
    }

    /// The role a `--rate-limit` paces (its total is split evenly over these actors).
    pub fn paced(self) -> Role {
        match self {
            Scenario::PinnedProducerAndConsumer => Role::Producer,
            other => other.headline(),
        }
    }
}

/// What an actor does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends batches.
    Producer,
    /// Polls one partition at explicit offsets.
    Consumer,
    /// Polls as a consumer-group member.
    GroupConsumer,
    /// Sends a batch, then polls it back (end-to-end).
    ProducingConsumer,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
            Role::GroupConsumer => "group-consumer",
            Role::ProducingConsumer => "producing-consumer",
        }
    }
}

/// One actor: a thread, a runtime and a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorSpec {
    pub role: Role,
    /// 0-based among the actors of its role.
    pub index: u32,
    /// 0-based stream index: the stream is `bench-{stream + 1}`.
    pub stream: u32,
    /// The partition it owns, for pinned roles.
    pub partition: Option<u32>,
}

impl ActorSpec {
    /// Index into the run's `streams × partitions` slots, for pinned actors.
    pub fn slot(&self, config: &Config) -> Option<usize> {
        self.partition.map(|partition| (self.stream * config.partitions + partition) as usize)
    }

    pub fn label(&self) -> String {
        let stream = stream_name(self.stream);
        match self.partition {
            Some(partition) => format!("{} {} ({stream}, partition {partition})", self.role.name(), self.index),
            None => format!("{} {} ({stream})", self.role.name(), self.index),
        }
    }
}

/// The name of 0-based stream `index`.
pub fn stream_name(index: u32) -> String {
    format!("bench-{}", index + 1)
}

/// The one topic in each bench stream.
pub const TOPIC_NAME: &str = "bench";
/// The consumer group in each stream's topic (balanced-consumer-group).
pub const GROUP_NAME: &str = "bench-group";

/// Every actor of a run, producers first.
pub fn plan(config: &Config) -> Vec<ActorSpec> {
    let pinned = config.scenario.pinned();
    let actor = |role: Role, index: u32| ActorSpec {
        role,
        index,
        stream: index % config.streams,
        partition: pinned.then_some(index / config.streams),
    };
    let (producer_role, consumer_role) = match config.scenario {
        Scenario::EndToEnd => (Role::ProducingConsumer, Role::Consumer),
        Scenario::BalancedConsumerGroup => (Role::Producer, Role::GroupConsumer),
        _ => (Role::Producer, Role::Consumer),
    };
    let producers = (0..config.producers).map(|index| actor(producer_role, index));
    let consumers = (0..config.consumers).map(|index| actor(consumer_role, index));
    producers.chain(consumers).collect()
}

/// How many messages seeding puts in each partition of 0-based stream `stream`, for the
/// consumer scenarios; empty for the others.
///
/// pinned-consumer: `batches × messages_per_batch` in each partition a consumer owns.
/// balanced-consumer-group: `batches` batches per consumer of the stream, dealt round-robin
/// over its partitions.
pub fn seeded_messages(config: &Config, stream: u32) -> Vec<u64> {
    let batch = u64::from(config.messages_per_batch);
    let partitions = config.partitions;
    match config.scenario {
        Scenario::PinnedConsumer => (0..partitions)
            .map(|partition| {
                let owned = partition * config.streams + stream < config.consumers;
                if owned { config.batches * batch } else { 0 }
            })
            .collect(),
        Scenario::BalancedConsumerGroup => {
            let batches = u64::from(group_members(config, stream)) * config.batches;
            let partitions = u64::from(partitions);
            (0..partitions)
                .map(|partition| (batches / partitions + u64::from(partition < batches % partitions)) * batch)
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Consumers on 0-based stream `stream` in balanced-consumer-group.
pub fn group_members(config: &Config, stream: u32) -> u32 {
    (0..config.consumers).filter(|index| index % config.streams == stream).count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::config_for;

    #[test]
    fn pinned_actors_own_distinct_partitions() {
        let config = config_for(&["pinned-producer", "--producers", "6", "--streams", "3", "--partitions", "2"]);
        let actors = plan(&config);
        let mut slots: Vec<usize> = actors.iter().map(|a| a.slot(&config).unwrap()).collect();
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), 6);
        assert_eq!((actors[4].stream, actors[4].partition), (1, Some(1)));
    }

    #[test]
    fn producer_and_consumer_pairs_share_a_partition() {
        let config = config_for(&["pinned-producer-and-consumer", "--producers", "2"]);
        let actors = plan(&config);
        assert_eq!(actors.len(), 4);
        assert_eq!(actors[0].slot(&config), actors[2].slot(&config));
        assert_eq!(actors[1].slot(&config), actors[3].slot(&config));
        assert_eq!(actors[2].role, Role::Consumer);
    }

    #[test]
    fn group_seed_deals_every_batch_once() {
        let config = config_for(&[
            "balanced-consumer-group",
            "--consumers",
            "3",
            "--partitions",
            "2",
            "--batches",
            "5",
            "--messages-per-batch",
            "10",
        ]);
        let seeded = seeded_messages(&config, 0);
        assert_eq!(seeded, vec![80, 70]);
        assert_eq!(seeded.iter().sum::<u64>(), 3 * 5 * 10);
    }

    #[test]
    fn pinned_consumer_seeds_only_owned_partitions() {
        let config = config_for(&["pinned-consumer", "--consumers", "3", "--streams", "2", "--partitions", "2"]);
        assert_eq!(seeded_messages(&config, 0), vec![1_000_000, 1_000_000]);
        assert_eq!(seeded_messages(&config, 1), vec![1_000_000, 0]);
    }
}
