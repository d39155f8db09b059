//! `whippet-server`: starts the shards, the acceptor and the metadata leader, serves until
//! SIGINT or SIGTERM, then flushes and syncs every partition and exits 0. Other exits: 1 the
//! start failed, 2 bad configuration, 3 the metadata log failed, 4 a thread panicked
//! ([`whippet_server::failures`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use whippet_server::config;

/// A persistent message-streaming server speaking Apache Iggy's binary TCP protocol.
#[derive(Debug, Parser)]
#[command(name = "whippet-server", version, about)]
struct Cli {
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory for streams, metadata and offsets (default ./whippet-data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8090).
    #[arg(long)]
    tcp_address: Option<String>,
    /// Number of shards, one thread each (default: one per available core).
    #[arg(long)]
    shards: Option<usize>,
    /// Cores to pin the shards to, e.g. 0-3 or 0,2,4.
    #[arg(long)]
    cores: Option<String>,
    /// Do not pin shard threads to cores (laptops, CI, shared machines).
    #[arg(long)]
    no_pin: bool,
    /// Default durability of partitions: always, interval:MS or never.
    #[arg(long)]
    durability: Option<String>,
    /// Heartbeat interval (e.g. 30s): clients silent for 1.2 × this are dropped. `0` turns it off.
    #[arg(long)]
    heartbeat_interval: Option<String>,
    /// PEM certificate chain: every connection on the listener speaks TLS (needs --tls-key).
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the --tls-cert certificate.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(ansi).init();
    whippet_server::failures::exit_on_panic();
    let config = match load(&cli) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("whippet-server: {error}");
            return ExitCode::from(2);
        }
    };
    match whippet_server::server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "whippet-server stopped");
            eprintln!("whippet-server: {error}");
            ExitCode::FAILURE
        }
    }
}

/// File and environment first, then flags on top.
fn load(cli: &Cli) -> Result<config::Config, String> {
    let mut config = config::load(cli.config.as_ref())?;
    if let Some(dir) = &cli.data_dir {
        config.server.data_dir = dir.clone();
    }
    if let Some(address) = &cli.tcp_address {
        config.server.tcp_address = address.clone();
    }
    if let Some(shards) = cli.shards {
        config.sharding.shards = config::ShardCount::Count(shards);
    }
    if let Some(cores) = &cli.cores {
        config.sharding.cores = config::CoreList::Spec(cores.clone());
    }
    if cli.no_pin {
        config.sharding.pin = false;
    }
    if let Some(durability) = &cli.durability {
        config.storage.durability = durability.clone();
    }
    match cli.heartbeat_interval.as_deref() {
        Some("0") => config.heartbeat.enabled = false,
        Some(interval) => {
            config.heartbeat.enabled = true;
            config.heartbeat.interval = interval.to_string();
        }
        None => {}
    }
    if cli.tls_cert.is_some() || cli.tls_key.is_some() {
        config.tls.enabled = true;
    }
    if let Some(file) = &cli.tls_cert {
        config.tls.cert_file = file.clone();
    }
    if let Some(file) = &cli.tls_key {
        config.tls.key_file = file.clone();
    }
    config.validate()?;
    Ok(config)
}
