//! `whippet`, the operator CLI for Whippet and any other Iggy-compatible server:
//! `whippet [flags] <noun> <verb> [args]`. This file holds the command tree and the dispatch;
//! `connect` resolves where and as whom to connect, `commands` runs each noun, `output`
//! prints tables or JSON, `exit` turns failures into exit codes and advice.
//!
//! Everything runs on one monoio runtime on the main thread (the client is not `Send`).

// No unwrap on external input or I/O outside tests: errors are values here.
#![warn(clippy::unwrap_used)]

mod commands;
mod connect;
mod exit;
mod output;
mod parse;

use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use commands::Ctx;
use commands::groups::{GroupCommand, OffsetCommand};
use commands::messages::{FlushArgs, PollArgs, SendArgs};
use commands::streams::StreamCommand;
use commands::system::{self, ClientCommand, PingArgs, SnapshotArgs};
use commands::topics::{PartitionCommand, SegmentCommand, TopicCommand};
use commands::users::{PatCommand, UserCommand};
use connect::{ConnectionArgs, Settings};
use exit::{CliError, Target};
use output::Output;

const LONG_ABOUT: &str = "\
Operate a Whippet server (or any Iggy-compatible one): streams, topics, partitions, segments,
users, permissions, tokens, consumer groups, offsets, messages and server state.

STREAM, TOPIC, GROUP and USER take an id (all digits) or a name. Partitions count from 0.
Output is a table for people; --json prints one JSON document (JSON lines for poll --follow).";

const CONNECTION_HELP: &str = "\
Connection: flags beat WHIPPET_* environment variables, which beat the profile, which beats the
defaults (127.0.0.1:8090, user iggy/iggy, dialect 0.11). Profiles live in $WHIPPET_CONFIG, else
$XDG_CONFIG_HOME/whippet/cli.toml, else ~/.config/whippet/cli.toml:

  [profiles.default]          # used when --profile is not given
  address = \"127.0.0.1:8090\"
  username = \"iggy\"
  password = \"iggy\"
  [profiles.ci]
  address = \"10.0.0.5:8090\"
  token = \"...\"               # a personal access token instead of username/password
  dialect = \"legacy\"

`whippet config` shows what a command would connect with, and where each setting came from.";

#[derive(Parser, Debug)]
#[command(name = "whippet", version, about = "Operate a Whippet (Iggy-compatible) message-streaming server")]
#[command(long_about = LONG_ABOUT, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Print JSON for scripts instead of tables
    #[arg(long, global = true, help_heading = "Output")]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Streams: list, get, create, update, delete, purge
    #[command(subcommand)]
    Stream(StreamCommand),
    /// Topics: list, get, create, update, delete, purge
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Add or remove a topic's partitions
    #[command(subcommand)]
    Partition(PartitionCommand),
    /// Delete a partition's oldest segments
    #[command(subcommand)]
    Segment(SegmentCommand),
    /// Users: list, get, create, update, delete, password, permissions
    #[command(subcommand)]
    User(UserCommand),
    /// Personal access tokens of the logged-in user
    #[command(subcommand)]
    Pat(PatCommand),
    /// Consumer groups: list, get, create, delete, join, leave
    #[command(subcommand)]
    Group(GroupCommand),
    /// Stored consumer offsets: get, store, delete
    #[command(subcommand)]
    Offset(OffsetCommand),
    /// Send messages from arguments, or one per line of standard input
    Send(SendArgs),
    /// Poll messages; --follow keeps printing new ones until Ctrl-C
    Poll(PollArgs),
    /// Write a partition's unsaved messages to disk
    Flush(FlushArgs),
    /// Connected clients
    #[command(subcommand)]
    Client(ClientCommand),
    /// The logged-in session: client id, user id, address
    Me,
    /// Server statistics
    Stats,
    /// Cluster metadata (the nodes and their roles)
    Cluster,
    /// Check that the server answers, and print round-trip times (no login needed)
    Ping(PingArgs),
    /// Download a diagnostics snapshot (ZIP) of the server
    Snapshot(SnapshotArgs),
    /// Show the connection settings a command would use (no server needed)
    Config,
    /// Print a shell completion script: whippet completions bash > /etc/bash_completion.d/whippet
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// What the command is about, to name the missing thing in "not found" errors.
    fn target(&self) -> Target {
        match self {
            Command::Stream(command) => command.target(),
            Command::Topic(command) => command.target(),
            Command::Partition(command) => command.target(),
            Command::Segment(command) => command.target(),
            Command::User(command) => command.target(),
            Command::Pat(command) => command.target(),
            Command::Group(command) => command.target(),
            Command::Offset(command) => command.target(),
            Command::Send(args) => args.target(),
            Command::Poll(args) => args.target(),
            Command::Flush(args) => args.target(),
            Command::Client(command) => command.target(),
            _ => Target::default(),
        }
    }

    /// Commands that run until their input ends or the user stops them bound each reply by
    /// --timeout themselves; the others are bounded as a whole.
    fn bounds_itself(&self) -> bool {
        match self {
            Command::Send(_) | Command::Poll(_) | Command::Ping(_) => true,
            Command::Group(command) => command.is_long_running(),
            _ => false,
        }
    }

    async fn run(self, ctx: &mut Ctx) -> Result<(), CliError> {
        match self {
            Command::Stream(command) => command.run(ctx).await,
            Command::Topic(command) => command.run(ctx).await,
            Command::Partition(command) => command.run(ctx).await,
            Command::Segment(command) => command.run(ctx).await,
            Command::User(command) => command.run(ctx).await,
            Command::Pat(command) => command.run(ctx).await,
            Command::Group(command) => command.run(ctx).await,
            Command::Offset(command) => command.run(ctx).await,
            Command::Send(args) => args.run(ctx).await,
            Command::Poll(args) => args.run(ctx).await,
            Command::Flush(args) => args.run(ctx).await,
            Command::Client(command) => command.run(ctx).await,
            Command::Me => system::me(ctx).await,
            Command::Stats => system::stats(ctx).await,
            Command::Cluster => system::cluster(ctx).await,
            Command::Snapshot(args) => system::snapshot(args, ctx).await,
            Command::Ping(_) | Command::Config | Command::Completions { .. } => {
                unreachable!("dispatched before login")
            }
        }
    }
}

/// The command tree with the help texts that are built at run time.
fn command_tree() -> clap::Command {
    Cli::command().after_long_help(format!("{CONNECTION_HELP}\n\n{}", exit::EXIT_CODES_HELP))
}

fn main() -> ExitCode {
    // Usage errors exit 2 and --help/--version exit 0, from clap itself.
    let matches = command_tree().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let target = cli.command.target();
    match run(cli, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => error.exit(&target),
    }
}

fn run(cli: Cli, matches: &ArgMatches) -> Result<(), CliError> {
    let out = Output { json: cli.json };
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut command_tree(), "whippet", &mut std::io::stdout());
        return Ok(());
    }
    let settings = Settings::resolve(&cli.connection, matches)?;
    if let Command::Config = cli.command {
        return system::config(&settings, out);
    }
    let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .map_err(|error| CliError::File(format!("cannot start the I/O runtime: {error}")))?;
    runtime.block_on(execute(cli.command, settings, out))
}

async fn execute(command: Command, settings: Settings, out: Output) -> Result<(), CliError> {
    if let Command::Ping(args) = command {
        let mut client = connect::connect(&settings).await?;
        return system::ping(args, &mut client, out, settings.timeout).await;
    }
    let client = connect::login(&settings).await?;
    let address = client.address();
    let mut ctx = Ctx { client, out, timeout: settings.timeout };
    if command.bounds_itself() {
        return command.run(&mut ctx).await;
    }
    match monoio::time::timeout(settings.timeout, command.run(&mut ctx)).await {
        Ok(result) => result,
        Err(_) => Err(CliError::Timeout { address, timeout: settings.timeout }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_tree_is_consistent() {
        command_tree().debug_assert();
    }
}
