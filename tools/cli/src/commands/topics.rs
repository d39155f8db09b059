//! `whippet topic ...`, `whippet partition ...` and `whippet segment ...`: a topic's life,
//! its partitions and its oldest segments.

use std::collections::BTreeMap;

use clap::{Subcommand, ValueEnum};
use serde::Serialize;
use whippet_client::protocol::responses::{COMPRESSION_GZIP, COMPRESSION_NONE, PartitionInfo, TopicDetails, TopicInfo};
use whippet_client::protocol::types::Identifier;
use whippet_client::{Dialect, TopicSpec};

use super::{Ctx, options_text};
use crate::exit::{CliError, Missing, Target};
use crate::output::{self, Table};
use crate::parse;

#[derive(Subcommand, Debug)]
pub enum TopicCommand {
    /// List the topics of a stream
    #[command(visible_alias = "ls")]
    List {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
    },
    /// Show one topic and its partitions
    Get {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
        /// Topic id or name
        #[arg(value_parser = parse::identifier)]
        topic: Identifier,
    },
    /// Create a topic
    Create {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
        /// Name (1 to 255 bytes)
        #[arg(value_parser = parse::name)]
        name: String,
        #[command(flatten)]
        settings: TopicSettings,
        /// Partitions to create
        #[arg(long, short = 'n', default_value_t = 1)]
        partitions: u32,
        /// Further topic option (0.11 dialect): durability=always|never|interval:MS,
        /// segment_size=64MiB, ...; repeatable
        #[arg(long = "option", short = 'o', value_name = "KEY=VALUE", value_parser = parse::key_value)]
        options: Vec<(String, String)>,
    },
    /// Rename a topic or change its expiry, size limit or compression
    Update {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
        /// Topic id or name
        #[arg(value_parser = parse::identifier)]
        topic: Identifier,
        /// New name
        #[arg(long, value_parser = parse::name)]
        name: Option<String>,
        #[command(flatten)]
        settings: TopicSettings,
    },
    /// Delete a topic with its messages
    #[command(visible_alias = "rm")]
    Delete {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
        /// Topic id or name
        #[arg(value_parser = parse::identifier)]
        topic: Identifier,
    },
    /// Delete every message of a topic, keeping its partitions
    Purge {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
        /// Topic id or name
        #[arg(value_parser = parse::identifier)]
        topic: Identifier,
    },
}

/// The updatable settings of a topic; absent ones keep their value (or the server default).
#[derive(clap::Args, Debug)]
pub struct TopicSettings {
    /// How long messages live: 1h, 7d, never, or default (the server's)
    #[arg(long, value_name = "DURATION", value_parser = parse::expiry_micros)]
    message_expiry: Option<u64>,
    /// Largest size of the topic: 10GiB, unlimited, or default (the server's)
    #[arg(long, value_name = "SIZE", value_parser = parse::size_bytes)]
    max_size: Option<u64>,
    /// Compression the server records for the topic
    #[arg(long, value_enum)]
    compression: Option<Compression>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
}

impl Compression {
    fn code(self) -> u8 {
        match self {
            Compression::None => COMPRESSION_NONE,
            Compression::Gzip => COMPRESSION_GZIP,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum PartitionCommand {
    /// Add partitions to a topic
    Create {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
        /// Topic id or name
        #[arg(value_parser = parse::identifier)]
        topic: Identifier,
        /// How many partitions to add
        count: u32,
    },
    /// Delete a topic's last partitions, with their messages
    #[command(visible_alias = "rm")]
    Delete {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
        /// Topic id or name
        #[arg(value_parser = parse::identifier)]
        topic: Identifier,
        /// How many partitions to delete, from the last one down
        count: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum SegmentCommand {
    /// Delete the oldest segments of a partition, with their messages
    #[command(visible_alias = "rm")]
    Delete {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
        /// Topic id or name
        #[arg(value_parser = parse::identifier)]
        topic: Identifier,
        /// Partition id (from 0)
        partition: u32,
        /// How many segments to delete, oldest first
        count: u32,
    },
}

fn topic_target(stream: &Identifier, topic: Option<&Identifier>) -> Target {
    Target { stream: Some(stream.clone()), topic: topic.cloned(), ..Target::default() }
}

impl TopicCommand {
    pub fn target(&self) -> Target {
        match self {
            TopicCommand::List { stream } | TopicCommand::Create { stream, .. } => topic_target(stream, None),
            TopicCommand::Get { stream, topic }
            | TopicCommand::Update { stream, topic, .. }
            | TopicCommand::Delete { stream, topic }
            | TopicCommand::Purge { stream, topic } => topic_target(stream, Some(topic)),
        }
    }

    pub async fn run(self, ctx: &mut Ctx) -> Result<(), CliError> {
        match self {
            TopicCommand::List { stream } => {
                // An empty GET_TOPICS reply is also what a missing stream gets: tell them apart.
                let topics = ctx.client.topics(&stream).await?;
                if topics.is_empty() && ctx.client.stream(&stream).await?.is_none() {
                    return Err(CliError::NotFound { missing: Missing::Stream, code: None });
                }
                let views: Vec<TopicView> = topics.iter().map(TopicView::from).collect();
                ctx.out.show(&views, || topic_table(&topics))
            }
            TopicCommand::Get { stream, topic } => {
                let Some(details) = ctx.client.topic(&stream, &topic).await? else {
                    return Err(missing(ctx, &stream, None).await);
                };
                ctx.out.show(&TopicDetailsView::from(&details), || topic_details(&details))
            }
            TopicCommand::Create { stream, name, settings, partitions, options } => {
                let mut spec = TopicSpec::new(name, partitions);
                spec.message_expiry = settings.message_expiry.unwrap_or(0);
                spec.max_topic_size = settings.max_size.unwrap_or(0);
                spec.compression = settings.compression.map_or(COMPRESSION_NONE, Compression::code);
                spec.options = options;
                let details = ctx.client.create_topic(&stream, &spec).await?;
                let topic = &details.topic;
                let message = format!(
                    "created topic {:?} with id {} and {} partition(s) in stream {stream}",
                    topic.name, topic.id, topic.partitions_count
                );
                ctx.out.show(&TopicDetailsView::from(&details), || message)
            }
            TopicCommand::Update { stream, topic, name, settings } => {
                let Some(current) = ctx.client.topic(&stream, &topic).await? else {
                    return Err(missing(ctx, &stream, None).await);
                };
                let current = current.topic;
                let mut spec = TopicSpec::new(name.unwrap_or(current.name), 0);
                spec.message_expiry = settings.message_expiry.unwrap_or(current.message_expiry);
                spec.max_topic_size = settings.max_size.unwrap_or(current.max_topic_size);
                spec.compression = settings.compression.map_or(current.compression_algorithm, Compression::code);
                if ctx.client.dialect() == Dialect::V011 {
                    // The 0.11 options block leaves out "none" and "default" values, which
                    // would keep the current ones: name them outright when asked for.
                    if settings.compression == Some(Compression::None) {
                        spec.options.push(("compression_algorithm".into(), "none".into()));
                    }
                    if settings.message_expiry == Some(0) {
                        spec.options.push(("message_expiry".into(), "default".into()));
                    }
                    if settings.max_size == Some(0) {
                        spec.options.push(("max_topic_size".into(), "default".into()));
                    }
                }
                ctx.client.update_topic(&stream, &topic, &spec).await?;
                ctx.out.done(&format!("updated topic {topic} in stream {stream}"))
            }
            TopicCommand::Delete { stream, topic } => {
                ctx.client.delete_topic(&stream, &topic).await?;
                ctx.out.done(&format!("deleted topic {topic} from stream {stream}"))
            }
            TopicCommand::Purge { stream, topic } => {
                ctx.client.purge_topic(&stream, &topic).await?;
                ctx.out.done(&format!("purged topic {topic} in stream {stream}"))
            }
        }
    }
}

/// Which of a GET's parents is missing, after the server answered it with an empty body:
/// the stream, else the topic (when `topic` is given), else the thing below them, `below`.
pub async fn missing(ctx: &mut Ctx, stream: &Identifier, topic: Option<(&Identifier, Missing)>) -> CliError {
    let not_found = |missing| CliError::NotFound { missing, code: None };
    match ctx.client.stream(stream).await {
        Ok(None) => return not_found(Missing::Stream),
        Err(error) => return error.into(),
        Ok(Some(_)) => {}
    }
    let Some((topic, below)) = topic else { return not_found(Missing::Topic) };
    match ctx.client.topic(stream, topic).await {
        Ok(None) => not_found(Missing::Topic),
        Err(error) => error.into(),
        Ok(Some(_)) => not_found(below),
    }
}

impl PartitionCommand {
    pub fn target(&self) -> Target {
        match self {
            PartitionCommand::Create { stream, topic, .. } | PartitionCommand::Delete { stream, topic, .. } => {
                topic_target(stream, Some(topic))
            }
        }
    }

    pub async fn run(self, ctx: &mut Ctx) -> Result<(), CliError> {
        match self {
            PartitionCommand::Create { stream, topic, count } => {
                ctx.client.create_partitions(&stream, &topic, count).await?;
                ctx.out.done(&format!("added {count} partition(s) to topic {topic} in stream {stream}"))
            }
            PartitionCommand::Delete { stream, topic, count } => {
                ctx.client.delete_partitions(&stream, &topic, count).await?;
                ctx.out.done(&format!("deleted the last {count} partition(s) of topic {topic} in stream {stream}"))
            }
        }
    }
}

impl SegmentCommand {
    pub fn target(&self) -> Target {
        match self {
            SegmentCommand::Delete { stream, topic, partition, .. } => {
                Target { partition: Some(*partition), ..topic_target(stream, Some(topic)) }
            }
        }
    }

    pub async fn run(self, ctx: &mut Ctx) -> Result<(), CliError> {
        match self {
            SegmentCommand::Delete { stream, topic, partition, count } => {
                ctx.client.delete_segments(&stream, &topic, partition, count).await?;
                ctx.out.done(&format!(
                    "deleted the oldest {count} segment(s) of partition {partition} of topic {topic} in stream {stream}"
                ))
            }
        }
    }
}

/// A topic in JSON. Expiry and size limit: 0 is the server default, null is never/unlimited.
#[derive(Serialize)]
pub struct TopicView {
    pub id: u32,
    pub name: String,
    pub created_at: Option<String>,
    pub partitions_count: u32,
    pub messages_count: u64,
    pub size_bytes: u64,
    pub message_expiry_us: Option<u64>,
    pub max_topic_size_bytes: Option<u64>,
    pub compression: &'static str,
    pub options: BTreeMap<String, String>,
    pub derived_options: BTreeMap<String, String>,
}

impl From<&TopicInfo> for TopicView {
    fn from(topic: &TopicInfo) -> TopicView {
        TopicView {
            id: topic.id,
            name: topic.name.clone(),
            created_at: output::time_json(topic.created_at),
            partitions_count: topic.partitions_count,
            messages_count: topic.messages_count,
            size_bytes: topic.size_bytes,
            message_expiry_us: output::unbounded(topic.message_expiry),
            max_topic_size_bytes: output::unbounded(topic.max_topic_size),
            compression: compression_name(topic.compression_algorithm),
            options: options_text(&topic.options),
            derived_options: options_text(&topic.derived_options),
        }
    }
}

#[derive(Serialize)]
struct PartitionView {
    id: u32,
    created_at: Option<String>,
    segments_count: u32,
    current_offset: u64,
    messages_count: u64,
    size_bytes: u64,
}

#[derive(Serialize)]
struct TopicDetailsView {
    #[serde(flatten)]
    topic: TopicView,
    partitions: Vec<PartitionView>,
}

impl From<&TopicDetails> for TopicDetailsView {
    fn from(details: &TopicDetails) -> TopicDetailsView {
        let partitions = details
            .partitions
            .iter()
            .map(|partition| PartitionView {
                id: partition.id,
                created_at: output::time_json(partition.created_at),
                segments_count: partition.segments_count,
                current_offset: partition.current_offset,
                messages_count: partition.messages_count,
                size_bytes: partition.size_bytes,
            })
            .collect();
        TopicDetailsView { topic: TopicView::from(&details.topic), partitions }
    }
}

fn compression_name(code: u8) -> &'static str {
    if code == COMPRESSION_GZIP { "gzip" } else { "none" }
}

pub fn topic_table(topics: &[TopicInfo]) -> String {
    let mut table =
        Table::new(&["ID", "NAME", "PARTITIONS", "MESSAGES", "SIZE", "EXPIRY", "MAX SIZE", "COMPRESSION", "CREATED"]);
    for topic in topics {
        table.row(vec![
            topic.id.to_string(),
            topic.name.clone(),
            topic.partitions_count.to_string(),
            topic.messages_count.to_string(),
            output::size(topic.size_bytes),
            output::expiry(topic.message_expiry),
            output::limit(topic.max_topic_size),
            compression_name(topic.compression_algorithm).to_owned(),
            output::time(topic.created_at),
        ]);
    }
    table.render_or("no topics")
}

fn topic_details(details: &TopicDetails) -> String {
    let topic = &details.topic;
    let options: Vec<String> = options_text(&topic.options).iter().map(|(k, v)| format!("{k}={v}")).collect();
    let summary = output::details(&[
        ("ID", topic.id.to_string()),
        ("Name", topic.name.clone()),
        ("Created", output::time(topic.created_at)),
        ("Partitions", topic.partitions_count.to_string()),
        ("Messages", topic.messages_count.to_string()),
        ("Size", output::size(topic.size_bytes)),
        ("Message expiry", output::expiry(topic.message_expiry)),
        ("Max size", output::limit(topic.max_topic_size)),
        ("Compression", compression_name(topic.compression_algorithm).to_owned()),
        ("Options", if options.is_empty() { "-".into() } else { options.join(", ") }),
    ]);
    format!("{summary}\n\n{}", partition_table(&details.partitions))
}

fn partition_table(partitions: &[PartitionInfo]) -> String {
    let mut table = Table::new(&["PARTITION", "SEGMENTS", "CURRENT OFFSET", "MESSAGES", "SIZE", "CREATED"]);
    for partition in partitions {
        table.row(vec![
            partition.id.to_string(),
            partition.segments_count.to_string(),
            partition.current_offset.to_string(),
            partition.messages_count.to_string(),
            output::size(partition.size_bytes),
            output::time(partition.created_at),
        ]);
    }
    table.render_or("no partitions")
}
