//! `whippet send`, `whippet poll` (and `--follow`) and `whippet flush`.
//!
//! These run for as long as their input or the user wants, so each call to the server is
//! bounded by --timeout, not the whole command. `send` with no MESSAGE reads standard input
//! one message per line and sends what has arrived in batches; `poll --follow` polls again
//! from the next offset every --interval until Ctrl-C (or its reader goes away).

use std::io::{BufRead, IsTerminal};
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;
use whippet_client::protocol::responses::RESYNC_REQUIRED_PARTITION;
use whippet_client::protocol::types::{ConsumerKind, Identifier, Partitioning, PollingStrategy};
use whippet_client::{Message, PollSpec, PolledMessage};

use super::groups::{ConsumerArgs, stop_flag};
use super::{Ctx, bounded};
use crate::exit::{CliError, Target};
use crate::output::{self, Table};
use crate::parse;

/// Most lines one send carries when reading standard input.
const STDIN_BATCH_MAX: usize = 1000;
/// How often a waiting follower checks for Ctrl-C.
const STOP_CHECK_INTERVAL: Duration = Duration::from_millis(50);

#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// Stream id or name
    #[arg(value_parser = parse::identifier)]
    stream: Identifier,
    /// Topic id or name
    #[arg(value_parser = parse::identifier)]
    topic: Identifier,
    /// Message payloads; none reads standard input, one message per line
    messages: Vec<String>,
    /// Send to this partition (from 0) [default: balanced across partitions]
    #[arg(long, conflicts_with = "key")]
    partition: Option<u32>,
    /// Pick the partition by hashing this key, so equal keys share a partition
    #[arg(long, value_parser = parse::messages_key)]
    key: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct PollArgs {
    /// Stream id or name
    #[arg(value_parser = parse::identifier)]
    stream: Identifier,
    /// Topic id or name
    #[arg(value_parser = parse::identifier)]
    topic: Identifier,
    /// Partition to poll (from 0) [default: 0, or the group's choice with --group]
    #[arg(long)]
    partition: Option<u32>,
    #[command(flatten)]
    start: StartArgs,
    /// Most messages per poll
    #[arg(long, short = 'c', default_value_t = 100)]
    count: u32,
    #[command(flatten)]
    consumer: ConsumerArgs,
    /// Store the offset of the last polled message for the consumer (or group)
    #[arg(long)]
    auto_commit: bool,
    /// Keep polling and print new messages until Ctrl-C (JSON lines with --json)
    #[arg(long, short = 'f')]
    follow: bool,
    /// With --follow: how long to wait before polling again when caught up
    #[arg(long, default_value = "200ms", value_parser = parse::duration)]
    interval: Duration,
}

/// Where a poll starts [default: --next with --consumer or --group, else --first].
#[derive(clap::Args, Debug)]
#[group(multiple = false)]
struct StartArgs {
    /// From this offset
    #[arg(long)]
    offset: Option<u64>,
    /// From the first message
    #[arg(long)]
    first: bool,
    /// The last message(s)
    #[arg(long)]
    last: bool,
    /// After the consumer's stored offset
    #[arg(long)]
    next: bool,
    /// From this time: microseconds since the epoch or RFC 3339
    #[arg(long, value_parser = parse::timestamp_micros)]
    timestamp: Option<u64>,
}

impl StartArgs {
    fn strategy(&self, named_consumer: bool) -> PollingStrategy {
        match (self.offset, self.timestamp) {
            (Some(offset), _) => PollingStrategy::Offset(offset),
            (_, Some(micros)) => PollingStrategy::Timestamp(micros),
            _ if self.first => PollingStrategy::First,
            _ if self.last => PollingStrategy::Last,
            _ if self.next || named_consumer => PollingStrategy::Next,
            _ => PollingStrategy::First,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct FlushArgs {
    /// Stream id or name
    #[arg(value_parser = parse::identifier)]
    stream: Identifier,
    /// Topic id or name
    #[arg(value_parser = parse::identifier)]
    topic: Identifier,
    /// Partition id (from 0)
    partition: u32,
    /// Also fsync the partition's files
    #[arg(long)]
    fsync: bool,
}

impl SendArgs {
    pub fn target(&self) -> Target {
        Target {
            stream: Some(self.stream.clone()),
            topic: Some(self.topic.clone()),
            partition: self.partition,
            ..Target::default()
        }
    }

    pub async fn run(self, ctx: &mut Ctx) -> Result<(), CliError> {
        let partitioning = match (self.partition, &self.key) {
            (Some(partition), _) => Partitioning::PartitionId(partition),
            (None, Some(key)) => Partitioning::MessagesKey(key.clone().into_bytes()),
            (None, None) => Partitioning::Balanced,
        };
        let mut sent = 0;
        if self.messages.is_empty() {
            if std::io::stdin().is_terminal() {
                eprintln!("reading messages from standard input, one per line; end with Ctrl-D");
            }
            let mut stdin = std::io::stdin().lock();
            while let Some(batch) = read_batch(&mut stdin)? {
                self.send(ctx, &partitioning, &batch).await?;
                sent += batch.len();
            }
        } else {
            if self.messages.iter().any(String::is_empty) {
                return Err(CliError::usage("a message cannot be empty"));
            }
            let batch: Vec<Message> =
                self.messages.iter().map(|text| Message::new(text.clone().into_bytes())).collect();
            self.send(ctx, &partitioning, &batch).await?;
            sent = batch.len();
        }
        let view = serde_json::json!({
            "stream": identifier_json(&self.stream),
            "topic": identifier_json(&self.topic),
            "messages_sent": sent,
        });
        ctx.out.show(&view, || format!("sent {sent} message(s) to topic {} in stream {}", self.topic, self.stream))
    }

    async fn send(&self, ctx: &mut Ctx, partitioning: &Partitioning, batch: &[Message]) -> Result<(), CliError> {
        let (timeout, address) = (ctx.timeout, ctx.client.address());
        let call = ctx.client.send_messages(&self.stream, &self.topic, partitioning.clone(), batch);
        bounded(timeout, address, call).await
    }
}

/// The lines that have arrived, at least one (blocking for it), at most [`STDIN_BATCH_MAX`];
/// `None` at the end of input. Empty lines are skipped: a message cannot be empty.
fn read_batch(input: &mut impl BufRead) -> Result<Option<Vec<Message>>, CliError> {
    let mut batch = Vec::new();
    loop {
        let mut line = String::new();
        let read = input
            .read_line(&mut line)
            .map_err(|error| CliError::File(format!("cannot read standard input: {error}")))?;
        if read == 0 {
            return Ok((!batch.is_empty()).then_some(batch));
        }
        let text = line.trim_end_matches(['\n', '\r']);
        if !text.is_empty() {
            batch.push(Message::new(text.as_bytes().to_vec()));
        }
        let more_waiting = !input.fill_buf().map_or(true, |buffer| buffer.is_empty());
        if !batch.is_empty() && (!more_waiting || batch.len() >= STDIN_BATCH_MAX) {
            return Ok(Some(batch));
        }
    }
}

impl PollArgs {
    pub fn target(&self) -> Target {
        Target {
            stream: Some(self.stream.clone()),
            topic: Some(self.topic.clone()),
            partition: self.partition,
            group: self.consumer.group.clone(),
            consumer: Some(self.consumer.describe()),
            ..Target::default()
        }
    }

    pub async fn run(self, ctx: &mut Ctx) -> Result<(), CliError> {
        let consumer = self.consumer.consumer();
        let group = consumer.kind == ConsumerKind::Group;
        if self.follow && group && !self.auto_commit {
            return Err(CliError::usage(
                "--follow with --group needs --auto-commit: the group's stored offset is how it moves on",
            ));
        }
        let named = self.consumer.consumer.is_some() || group;
        let mut spec = PollSpec {
            consumer: consumer.clone(),
            stream: self.stream.clone(),
            topic: self.topic.clone(),
            partition_id: if group { self.partition } else { Some(self.partition.unwrap_or(0)) },
            strategy: self.start.strategy(named),
            count: self.count,
            auto_commit: self.auto_commit,
        };
        let stop = if self.follow { Some(stop_flag()?) } else { None };
        let (timeout, address) = (ctx.timeout, ctx.client.address());
        if group {
            bounded(timeout, address, ctx.client.join_group(&self.stream, &self.topic, &consumer.id)).await?;
        }
        let result = match &stop {
            None => self.poll_once(ctx, &mut spec, group).await,
            Some(stop) => self.follow(ctx, &mut spec, stop, group).await,
        };
        if group && !matches!(result, Err(CliError::Lost(_) | CliError::Timeout { .. })) {
            bounded(timeout, address, ctx.client.leave_group(&self.stream, &self.topic, &consumer.id)).await?;
        }
        result
    }

    /// One poll, or with a group and no --partition, one poll of each partition the group
    /// gives this connection (a fresh connection would otherwise always get the same one).
    async fn poll_once(&self, ctx: &mut Ctx, spec: &mut PollSpec, group: bool) -> Result<(), CliError> {
        let (timeout, address) = (ctx.timeout, ctx.client.address());
        let partitions = match (group, spec.partition_id) {
            (true, None) => self.assigned_partitions(ctx).await?.into_iter().map(Some).collect(),
            (_, partition) => vec![partition],
        };
        let mut results = Vec::new();
        let mut remaining = spec.count;
        for partition in partitions {
            if remaining == 0 {
                break;
            }
            (spec.partition_id, spec.count) = (partition, remaining);
            let polled = bounded(timeout, address, ctx.client.poll_messages(spec)).await?;
            remaining = remaining.saturating_sub(u32::try_from(polled.messages.len()).unwrap_or(u32::MAX));
            results.push(polled);
        }
        let single = match results.as_slice() {
            [polled] => Some((polled.partition_id, polled.current_offset)),
            _ => None,
        };
        let messages: Vec<(u32, &PolledMessage)> =
            results.iter().flat_map(|polled| polled.messages.iter().map(|m| (polled.partition_id, m))).collect();
        let view = PolledView {
            partition_id: single.map(|(partition, _)| partition),
            current_offset: single.map(|(_, offset)| offset),
            messages: messages.iter().map(|(partition, message)| MessageView::new(*partition, message)).collect(),
        };
        ctx.out.show(&view, || {
            let mut table = Table::new(&["PARTITION", "OFFSET", "TIMESTAMP", "PAYLOAD"]);
            for (partition, message) in &messages {
                let time = output::time(message.timestamp);
                table.row(vec![partition.to_string(), message.offset.to_string(), time, payload_human(message)]);
            }
            let empty = match single {
                Some((partition, offset)) => format!("no messages (partition {partition}, last offset {offset})"),
                None => "no messages".to_owned(),
            };
            table.render_or(&empty)
        })
    }

    /// The partitions the group gives this connection, which has joined it.
    async fn assigned_partitions(&self, ctx: &mut Ctx) -> Result<Vec<u32>, CliError> {
        let (timeout, address) = (ctx.timeout, ctx.client.address());
        let me = bounded(timeout, address, ctx.client.me()).await?.client.client_id;
        let group = self.consumer.consumer().id;
        let details = bounded(timeout, address, ctx.client.group(&self.stream, &self.topic, &group)).await?;
        let member = details.and_then(|details| details.members.into_iter().find(|member| member.id == me));
        Ok(member.map(|member| member.partitions).unwrap_or_default())
    }

    async fn follow(
        &self,
        ctx: &mut Ctx,
        spec: &mut PollSpec,
        stop: &std::sync::atomic::AtomicBool,
        group: bool,
    ) -> Result<(), CliError> {
        while !stop.load(Ordering::Relaxed) && !output::stdout_closed() {
            let polled = bounded(ctx.timeout, ctx.client.address(), ctx.client.poll_messages(spec)).await?;
            for message in &polled.messages {
                let view = MessageView::new(polled.partition_id, message);
                let written = ctx.out.line(&view, || {
                    format!("{:>8}  {}  {}", message.offset, output::time(message.timestamp), payload_human(message))
                });
                match written {
                    Err(CliError::BrokenPipe) => return Ok(()),
                    other => other?,
                }
            }
            // A group's stored offset moves it on; a plain poll goes on after what it printed.
            if let (Some(last), false) = (polled.messages.last(), group) {
                spec.strategy = PollingStrategy::Offset(last.offset + 1);
            }
            let caught_up =
                polled.messages.len() < spec.count as usize || polled.partition_id == RESYNC_REQUIRED_PARTITION;
            if caught_up {
                wait_unless_stopped(self.interval, stop).await;
            }
        }
        Ok(())
    }
}

async fn wait_unless_stopped(interval: Duration, stop: &std::sync::atomic::AtomicBool) {
    let mut left = interval;
    while !left.is_zero() && !stop.load(Ordering::Relaxed) && !output::stdout_closed() {
        let step = left.min(STOP_CHECK_INTERVAL);
        monoio::time::sleep(step).await;
        left -= step;
    }
}

impl FlushArgs {
    pub fn target(&self) -> Target {
        Target {
            stream: Some(self.stream.clone()),
            topic: Some(self.topic.clone()),
            partition: Some(self.partition),
            ..Target::default()
        }
    }

    pub async fn run(self, ctx: &mut Ctx) -> Result<(), CliError> {
        ctx.client.flush(&self.stream, &self.topic, self.partition, self.fsync).await?;
        let synced = if self.fsync { " and synced" } else { "" };
        ctx.out.done(&format!(
            "flushed{synced} partition {} of topic {} in stream {}",
            self.partition, self.topic, self.stream
        ))
    }
}

/// A poll in JSON; `partition_id` and `current_offset` are null when a group poll read
/// several partitions (each message names its own).
#[derive(Serialize)]
struct PolledView {
    partition_id: Option<u32>,
    current_offset: Option<u64>,
    messages: Vec<MessageView>,
}

/// A message in JSON. `payload` is the text when it is UTF-8 (`encoding` "utf8"), else hex
/// (`encoding` "hex"); `id` is a decimal string, since it is 128 bits.
#[derive(Serialize)]
struct MessageView {
    partition_id: u32,
    offset: u64,
    id: String,
    timestamp: Option<String>,
    timestamp_us: u64,
    origin_timestamp_us: u64,
    payload: String,
    encoding: &'static str,
    size_bytes: usize,
}

impl MessageView {
    fn new(partition_id: u32, message: &PolledMessage) -> MessageView {
        let (payload, encoding) = match std::str::from_utf8(&message.payload) {
            Ok(text) => (text.to_owned(), "utf8"),
            Err(_) => (hex(&message.payload), "hex"),
        };
        MessageView {
            partition_id,
            offset: message.offset,
            id: message.id.to_string(),
            timestamp: output::time_json(message.timestamp),
            timestamp_us: message.timestamp,
            origin_timestamp_us: message.origin_timestamp,
            payload,
            encoding,
            size_bytes: message.payload.len(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The payload for a terminal: text with control characters escaped, or `hex:...`.
fn payload_human(message: &PolledMessage) -> String {
    match std::str::from_utf8(&message.payload) {
        Ok(text) => {
            text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
        }
        Err(_) => format!("hex:{}", hex(&message.payload)),
    }
}

/// An identifier as JSON: a number or a string.
pub fn identifier_json(id: &Identifier) -> serde_json::Value {
    match id {
        Identifier::Numeric(id) => serde_json::Value::from(*id),
        Identifier::Name(name) => serde_json::Value::from(name.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_lines_batch_what_has_arrived() {
        let mut input = std::io::Cursor::new(b"one\r\n\ntwo\nthree".to_vec());
        let batch = read_batch(&mut input).unwrap().unwrap();
        let payloads: Vec<&[u8]> = batch.iter().map(|m| &m.payload[..]).collect();
        assert_eq!(payloads, [&b"one"[..], b"two", b"three"]);
        assert!(read_batch(&mut input).unwrap().is_none());
        assert!(read_batch(&mut std::io::Cursor::new(b"\n\n".to_vec())).unwrap().is_none());
    }
}
