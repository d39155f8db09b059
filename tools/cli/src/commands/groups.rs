//! `whippet group ...` and `whippet offset ...`: consumer groups and stored consumer offsets.
//!
//! A group membership belongs to one connection, and each `whippet` command opens its own:
//! `group join` shows the group with this connection as a member, and with `--hold` stays a
//! member until Ctrl-C.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Subcommand;
use serde::Serialize;
use whippet_client::protocol::groups::{GroupDetails, GroupInfo};
use whippet_client::protocol::types::{Consumer, ConsumerKind, Identifier};

use super::topics::missing;
use super::{Ctx, bounded};
use crate::exit::{CliError, Missing, Target};
use crate::output::{self, Table};
use crate::parse;

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// List the consumer groups of a topic
    #[command(visible_alias = "ls")]
    List {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
        /// Topic id or name
        #[arg(value_parser = parse::identifier)]
        topic: Identifier,
    },
    /// Show one consumer group and its members
    Get {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
        /// Topic id or name
        #[arg(value_parser = parse::identifier)]
        topic: Identifier,
        /// Consumer group id or name
        #[arg(value_parser = parse::identifier)]
        group: Identifier,
    },
    /// Create a consumer group
    Create {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
        /// Topic id or name
        #[arg(value_parser = parse::identifier)]
        topic: Identifier,
        /// Name (1 to 255 bytes)
        #[arg(value_parser = parse::name)]
        name: String,
    },
    /// Delete a consumer group
    #[command(visible_alias = "rm")]
    Delete {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
        /// Topic id or name
        #[arg(value_parser = parse::identifier)]
        topic: Identifier,
        /// Consumer group id or name
        #[arg(value_parser = parse::identifier)]
        group: Identifier,
    },
    /// Join a consumer group with this command's connection and show the group
    Join {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
        /// Topic id or name
        #[arg(value_parser = parse::identifier)]
        topic: Identifier,
        /// Consumer group id or name
        #[arg(value_parser = parse::identifier)]
        group: Identifier,
        /// Stay a member until Ctrl-C, then leave
        #[arg(long)]
        hold: bool,
    },
    /// Leave a consumer group (only this command's own connection can be a member)
    Leave {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
        /// Topic id or name
        #[arg(value_parser = parse::identifier)]
        topic: Identifier,
        /// Consumer group id or name
        #[arg(value_parser = parse::identifier)]
        group: Identifier,
    },
}

/// Whose offsets: one consumer's or a consumer group's.
#[derive(clap::Args, Debug, Clone)]
#[group(multiple = false)]
pub struct ConsumerArgs {
    /// Consumer id or name [default: whippet-cli]
    #[arg(long, value_parser = parse::identifier)]
    pub consumer: Option<Identifier>,
    /// Consumer group id or name
    #[arg(long, value_parser = parse::identifier)]
    pub group: Option<Identifier>,
}

/// The consumer `poll` and `offset` use when none is named.
pub const DEFAULT_CONSUMER: &str = "whippet-cli";

impl ConsumerArgs {
    pub fn consumer(&self) -> Consumer {
        match (&self.group, &self.consumer) {
            (Some(group), _) => Consumer { kind: ConsumerKind::Group, id: group.clone() },
            (None, Some(consumer)) => Consumer { kind: ConsumerKind::Consumer, id: consumer.clone() },
            (None, None) => Consumer { kind: ConsumerKind::Consumer, id: Identifier::Name(DEFAULT_CONSUMER.into()) },
        }
    }

    pub fn describe(&self) -> String {
        let consumer = self.consumer();
        match consumer.kind {
            ConsumerKind::Group => format!("group {}", consumer.id),
            ConsumerKind::Consumer => format!("{}", consumer.id),
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum OffsetCommand {
    /// Show a consumer's stored offset in a partition
    Get {
        #[command(flatten)]
        consumer: ConsumerArgs,
        #[command(flatten)]
        place: OffsetPlace,
    },
    /// Store a consumer's offset in a partition
    Store {
        #[command(flatten)]
        consumer: ConsumerArgs,
        #[command(flatten)]
        place: OffsetPlace,
        /// The offset to store
        offset: u64,
    },
    /// Delete a consumer's stored offset in a partition
    #[command(visible_alias = "rm")]
    Delete {
        #[command(flatten)]
        consumer: ConsumerArgs,
        #[command(flatten)]
        place: OffsetPlace,
    },
}

/// The partition an offset belongs to.
#[derive(clap::Args, Debug, Clone)]
pub struct OffsetPlace {
    /// Stream id or name
    #[arg(value_parser = parse::identifier)]
    stream: Identifier,
    /// Topic id or name
    #[arg(value_parser = parse::identifier)]
    topic: Identifier,
    /// Partition id (from 0)
    #[arg(long, default_value_t = 0)]
    partition: u32,
}

fn group_target(stream: &Identifier, topic: &Identifier, group: Option<&Identifier>) -> Target {
    Target { stream: Some(stream.clone()), topic: Some(topic.clone()), group: group.cloned(), ..Target::default() }
}

impl GroupCommand {
    pub fn target(&self) -> Target {
        match self {
            GroupCommand::List { stream, topic } | GroupCommand::Create { stream, topic, .. } => {
                group_target(stream, topic, None)
            }
            GroupCommand::Get { stream, topic, group }
            | GroupCommand::Delete { stream, topic, group }
            | GroupCommand::Join { stream, topic, group, .. }
            | GroupCommand::Leave { stream, topic, group } => group_target(stream, topic, Some(group)),
        }
    }

    /// Whether the command runs until stopped (and so bounds each call, not the whole).
    pub fn is_long_running(&self) -> bool {
        matches!(self, GroupCommand::Join { hold: true, .. })
    }

    pub async fn run(self, ctx: &mut Ctx) -> Result<(), CliError> {
        match self {
            GroupCommand::List { stream, topic } => {
                let groups = ctx.client.groups(&stream, &topic).await?;
                let views: Vec<GroupView> = groups.iter().map(GroupView::from).collect();
                ctx.out.show(&views, || group_table(&groups))
            }
            GroupCommand::Get { stream, topic, group } => {
                let Some(details) = ctx.client.group(&stream, &topic, &group).await? else {
                    return Err(missing(ctx, &stream, Some((&topic, Missing::Group))).await);
                };
                ctx.out.show(&GroupDetailsView::from(&details), || group_details(&details))
            }
            GroupCommand::Create { stream, topic, name } => {
                let details = ctx.client.create_group(&stream, &topic, &name).await?;
                let message = format!("created consumer group {:?} with id {}", details.group.name, details.group.id);
                ctx.out.show(&GroupDetailsView::from(&details), || message)
            }
            GroupCommand::Delete { stream, topic, group } => {
                ctx.client.delete_group(&stream, &topic, &group).await?;
                ctx.out.done(&format!("deleted consumer group {group} of topic {topic} in stream {stream}"))
            }
            GroupCommand::Join { stream, topic, group, hold } => join(ctx, &stream, &topic, &group, hold).await,
            GroupCommand::Leave { stream, topic, group } => {
                ctx.client.leave_group(&stream, &topic, &group).await?;
                ctx.out.done(&format!("left consumer group {group}"))
            }
        }
    }
}

async fn join(
    ctx: &mut Ctx,
    stream: &Identifier,
    topic: &Identifier,
    group: &Identifier,
    hold: bool,
) -> Result<(), CliError> {
    let stop = if hold { Some(stop_flag()?) } else { None };
    let (timeout, address) = (ctx.timeout, ctx.client.address());
    bounded(timeout, address, ctx.client.join_group(stream, topic, group)).await?;
    let details = bounded(timeout, address, ctx.client.group(stream, topic, group)).await?;
    let details = details.ok_or(CliError::NotFound { missing: Missing::Group, code: None })?;
    ctx.out.show(&GroupDetailsView::from(&details), || group_details(&details))?;
    let Some(stop) = stop else { return Ok(()) };
    while !stop.load(Ordering::Relaxed) {
        monoio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    bounded(timeout, address, ctx.client.leave_group(stream, topic, group)).await?;
    Ok(())
}

/// A flag Ctrl-C (SIGINT) or SIGTERM raises instead of killing the process; a second Ctrl-C
/// kills it as usual.
pub fn stop_flag() -> Result<Arc<AtomicBool>, CliError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        let registered = signal_hook::flag::register_conditional_default(signal, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)));
        registered.map_err(|error| CliError::File(format!("cannot handle signal {signal}: {error}")))?;
    }
    Ok(stop)
}

impl OffsetCommand {
    fn parts(&self) -> (&ConsumerArgs, &OffsetPlace) {
        match self {
            OffsetCommand::Get { consumer, place }
            | OffsetCommand::Store { consumer, place, .. }
            | OffsetCommand::Delete { consumer, place } => (consumer, place),
        }
    }

    pub fn target(&self) -> Target {
        let (consumer, place) = self.parts();
        Target {
            partition: Some(place.partition),
            consumer: Some(consumer.describe()),
            ..group_target(&place.stream, &place.topic, consumer.group.as_ref())
        }
    }

    pub async fn run(self, ctx: &mut Ctx) -> Result<(), CliError> {
        let (consumer_args, place) = self.parts();
        let consumer = consumer_args.consumer();
        let who = consumer_args.describe();
        let OffsetPlace { stream, topic, partition } = place;
        let partition_id = Some(*partition);
        match &self {
            OffsetCommand::Get { .. } => {
                let info = ctx.client.consumer_offset(&consumer, stream, topic, partition_id).await?;
                let info = info.ok_or(CliError::NotFound { missing: Missing::Offset, code: None })?;
                let view = OffsetView {
                    partition_id: info.partition_id,
                    current_offset: info.current_offset,
                    stored_offset: info.stored_offset,
                };
                ctx.out.show(&view, || {
                    output::details(&[
                        ("Consumer", who.clone()),
                        ("Partition", info.partition_id.to_string()),
                        ("Stored offset", info.stored_offset.to_string()),
                        ("Current offset", info.current_offset.to_string()),
                    ])
                })
            }
            OffsetCommand::Store { offset, .. } => {
                ctx.client.store_consumer_offset(&consumer, stream, topic, partition_id, *offset).await?;
                ctx.out.done(&format!("stored offset {offset} for consumer {who} in partition {partition}"))
            }
            OffsetCommand::Delete { .. } => {
                ctx.client.delete_consumer_offset(&consumer, stream, topic, partition_id).await?;
                ctx.out.done(&format!("deleted the offset of consumer {who} in partition {partition}"))
            }
        }
    }
}

#[derive(Serialize)]
struct OffsetView {
    partition_id: u32,
    current_offset: u64,
    stored_offset: u64,
}

#[derive(Serialize)]
struct GroupView {
    id: u32,
    name: String,
    partitions_count: u32,
    members_count: u32,
}

impl From<&GroupInfo> for GroupView {
    fn from(group: &GroupInfo) -> GroupView {
        GroupView {
            id: group.id,
            name: group.name.clone(),
            partitions_count: group.partitions_count,
            members_count: group.members_count,
        }
    }
}

#[derive(Serialize)]
struct MemberView {
    id: u32,
    partitions: Vec<u32>,
}

#[derive(Serialize)]
struct GroupDetailsView {
    #[serde(flatten)]
    group: GroupView,
    members: Vec<MemberView>,
}

impl From<&GroupDetails> for GroupDetailsView {
    fn from(details: &GroupDetails) -> GroupDetailsView {
        let members = details
            .members
            .iter()
            .map(|member| MemberView { id: member.id, partitions: member.partitions.clone() })
            .collect();
        GroupDetailsView { group: GroupView::from(&details.group), members }
    }
}

fn group_table(groups: &[GroupInfo]) -> String {
    let mut table = Table::new(&["ID", "NAME", "PARTITIONS", "MEMBERS"]);
    for group in groups {
        table.row(vec![
            group.id.to_string(),
            group.name.clone(),
            group.partitions_count.to_string(),
            group.members_count.to_string(),
        ]);
    }
    table.render_or("no consumer groups")
}

fn group_details(details: &GroupDetails) -> String {
    let group = &details.group;
    let summary = output::details(&[
        ("ID", group.id.to_string()),
        ("Name", group.name.clone()),
        ("Partitions", group.partitions_count.to_string()),
        ("Members", group.members_count.to_string()),
    ]);
    let mut table = Table::new(&["MEMBER", "PARTITIONS"]);
    for member in &details.members {
        let partitions: Vec<String> = member.partitions.iter().map(u32::to_string).collect();
        table.row(vec![member.id.to_string(), partitions.join(", ")]);
    }
    format!("{summary}\n\n{}", table.render_or("no members"))
}
