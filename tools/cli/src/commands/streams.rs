//! `whippet stream ...`: list, get, create, update (rename), delete and purge streams.

use clap::Subcommand;
use serde::Serialize;
use whippet_client::protocol::responses::{StreamDetails, StreamInfo};
use whippet_client::protocol::types::Identifier;

use super::Ctx;
use super::topics::{TopicView, topic_table};
use crate::exit::{CliError, Missing, Target};
use crate::output::{self, Table};
use crate::parse;

#[derive(Subcommand, Debug)]
pub enum StreamCommand {
    /// List every stream
    #[command(visible_alias = "ls")]
    List,
    /// Show one stream and its topics
    Get {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
    },
    /// Create a stream
    Create {
        /// Name (1 to 255 bytes)
        #[arg(value_parser = parse::name)]
        name: String,
    },
    /// Rename a stream
    Update {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
        /// The new name
        #[arg(value_parser = parse::name)]
        name: String,
    },
    /// Delete a stream with its topics and messages
    #[command(visible_alias = "rm")]
    Delete {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
    },
    /// Delete every message of a stream, keeping its topics
    Purge {
        /// Stream id or name
        #[arg(value_parser = parse::identifier)]
        stream: Identifier,
    },
}

impl StreamCommand {
    pub fn target(&self) -> Target {
        match self {
            StreamCommand::List | StreamCommand::Create { .. } => Target::default(),
            StreamCommand::Get { stream }
            | StreamCommand::Update { stream, .. }
            | StreamCommand::Delete { stream }
            | StreamCommand::Purge { stream } => Target { stream: Some(stream.clone()), ..Target::default() },
        }
    }

    pub async fn run(self, ctx: &mut Ctx) -> Result<(), CliError> {
        match self {
            StreamCommand::List => {
                let streams = ctx.client.streams().await?;
                let views: Vec<StreamView> = streams.iter().map(StreamView::from).collect();
                ctx.out.show(&views, || stream_table(&streams))
            }
            StreamCommand::Get { stream } => {
                let details = ctx.client.stream(&stream).await?;
                let details = details.ok_or(CliError::NotFound { missing: Missing::Stream, code: None })?;
                ctx.out.show(&StreamDetailsView::from(&details), || stream_details(&details))
            }
            StreamCommand::Create { name } => {
                let details = ctx.client.create_stream(&name).await?;
                let message = format!("created stream {:?} with id {}", details.stream.name, details.stream.id);
                ctx.out.show(&StreamView::from(&details.stream), || message)
            }
            StreamCommand::Update { stream, name } => {
                ctx.client.update_stream(&stream, &name).await?;
                ctx.out.done(&format!("renamed stream {stream} to {name:?}"))
            }
            StreamCommand::Delete { stream } => {
                ctx.client.delete_stream(&stream).await?;
                ctx.out.done(&format!("deleted stream {stream}"))
            }
            StreamCommand::Purge { stream } => {
                ctx.client.purge_stream(&stream).await?;
                ctx.out.done(&format!("purged stream {stream}"))
            }
        }
    }
}

/// A stream in JSON.
#[derive(Serialize)]
pub struct StreamView {
    pub id: u32,
    pub name: String,
    pub created_at: Option<String>,
    pub topics_count: u32,
    pub messages_count: u64,
    pub size_bytes: u64,
}

impl From<&StreamInfo> for StreamView {
    fn from(stream: &StreamInfo) -> StreamView {
        StreamView {
            id: stream.id,
            name: stream.name.clone(),
            created_at: output::time_json(stream.created_at),
            topics_count: stream.topics_count,
            messages_count: stream.messages_count,
            size_bytes: stream.size_bytes,
        }
    }
}

#[derive(Serialize)]
struct StreamDetailsView {
    #[serde(flatten)]
    stream: StreamView,
    topics: Vec<TopicView>,
}

impl From<&StreamDetails> for StreamDetailsView {
    fn from(details: &StreamDetails) -> StreamDetailsView {
        StreamDetailsView {
            stream: StreamView::from(&details.stream),
            topics: details.topics.iter().map(TopicView::from).collect(),
        }
    }
}

fn stream_table(streams: &[StreamInfo]) -> String {
    let mut table = Table::new(&["ID", "NAME", "TOPICS", "MESSAGES", "SIZE", "CREATED"]);
    for stream in streams {
        table.row(vec![
            stream.id.to_string(),
            stream.name.clone(),
            stream.topics_count.to_string(),
            stream.messages_count.to_string(),
            output::size(stream.size_bytes),
            output::time(stream.created_at),
        ]);
    }
    table.render_or("no streams")
}

fn stream_details(details: &StreamDetails) -> String {
    let stream = &details.stream;
    let summary = output::details(&[
        ("ID", stream.id.to_string()),
        ("Name", stream.name.clone()),
        ("Created", output::time(stream.created_at)),
        ("Topics", stream.topics_count.to_string()),
        ("Messages", stream.messages_count.to_string()),
        ("Size", output::size(stream.size_bytes)),
    ]);
    format!("{summary}\n\n{}", topic_table(&details.topics))
}
