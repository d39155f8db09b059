//! `whippet-abuse`: see `whippet-abuse --help` and the crate's README.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use whippet_abuse::load::{self, LoadConfig, LoginMode};
use whippet_client::Dialect;

/// Abuse a running Whippet (or any Iggy-compatible) server.
#[derive(Debug, Parser)]
#[command(name = "whippet-abuse", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Many concurrent connections doing small sends and polls; exits 1 on any failed call.
    Load(LoadArgs),
}

#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// The server's address.
    #[arg(long, default_value = "127.0.0.1:8090")]
    address: SocketAddr,
    /// Concurrent connections, each logged in.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Length of the load, after every connection has logged in.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// monoio runtime threads the connections are spread over.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 100)]
    message_size: usize,
    /// Messages per send.
    #[arg(long, default_value_t = 10)]
    batch: u32,
    /// Messages per poll at most (default: --batch).
    #[arg(long)]
    poll_count: Option<u32>,
    /// Time between the starts of a connection's requests (sends and polls alternate).
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
    /// Partitions of the run's topic; connection i uses partition i mod this.
    #[arg(long, default_value_t = 16)]
    partitions: u32,
    /// token: one personal access token for all (fast); password: an argon2 check per login.
    #[arg(long, value_enum, default_value_t = LoginMode::Token)]
    login: LoginMode,
    /// Logins in flight per thread at most.
    #[arg(long, default_value_t = 32)]
    login_concurrency: usize,
    /// 0.11 or legacy.
    #[arg(long, default_value = "0.11")]
    dialect: Dialect,
    #[arg(long, default_value = "iggy")]
    username: String,
    #[arg(long, env = "WHIPPET_ABUSE_PASSWORD", default_value = "iggy", hide_env_values = true)]
    password: String,
    /// A call without a reply for this long fails.
    #[arg(long, default_value_t = 10_000)]
    call_timeout_ms: u64,
    /// The server's process id: report its VmRSS and VmHWM (same machine only).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print the report as JSON on stdout (the text goes to stderr).
    #[arg(long)]
    json: bool,
}

impl LoadArgs {
    fn config(&self) -> LoadConfig {
        LoadConfig {
            connections: self.connections,
            duration: Duration::from_secs(self.seconds),
            threads: self.threads,
            message_size: self.message_size,
            batch: self.batch,
            poll_count: self.poll_count.unwrap_or(self.batch),
            interval: Duration::from_millis(self.interval_ms),
            partitions: self.partitions,
            login: self.login,
            login_concurrency: self.login_concurrency,
            dialect: self.dialect,
            username: self.username.clone(),
            password: self.password.clone(),
            call_timeout: Duration::from_millis(self.call_timeout_ms),
            server_pid: self.server_pid,
            ..LoadConfig::new(self.address)
        }
    }
}

fn main() -> ExitCode {
    let Command::Load(args) = Cli::parse().command;
    let report = match load::run(&args.config()) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("whippet-abuse: {error}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        eprint!("{}", report.summary());
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(error) => eprintln!("whippet-abuse: cannot write JSON: {error}"),
        }
    } else {
        print!("{}", report.summary());
    }
    if report.errors > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
