//! The server and its sessions: `ping`, `me`, `stats`, `cluster`, `snapshot`, `client ...`,
//! and `config` (the resolved connection settings, no server needed).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Subcommand;
use serde::Serialize;
use whippet_client::protocol::responses::{ClientDetails, ClientInfo, USER_ID_NONE};
use whippet_client::protocol::system::{GetSnapshot, Stats};
use whippet_client::{Client, Credentials};

use super::{Ctx, bounded};
use crate::connect::Settings;
use crate::exit::{CliError, Missing, Target};
use crate::output::{self, Output, Table};

#[derive(clap::Args, Debug)]
pub struct PingArgs {
    /// How many pings
    #[arg(long, short = 'c', default_value_t = 1)]
    count: u32,
    /// Wait between pings
    #[arg(long, default_value = "1s", value_parser = crate::parse::duration)]
    interval: Duration,
}

#[derive(clap::Args, Debug)]
pub struct SnapshotArgs {
    /// Where to write the ZIP
    #[arg(default_value = "whippet-snapshot.zip")]
    file: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// List the connected clients
    #[command(visible_alias = "ls")]
    List,
    /// Show one client and its consumer groups
    Get { id: u32 },
}

/// Pings without logging in: PING is the one command a server answers before login.
pub async fn ping(args: PingArgs, client: &mut Client, out: Output, timeout: Duration) -> Result<(), CliError> {
    let address = client.address();
    let mut round_trips_us = Vec::new();
    for index in 0..args.count.max(1) {
        if index > 0 {
            monoio::time::sleep(args.interval).await;
        }
        let started = Instant::now();
        bounded(timeout, address, client.ping()).await?;
        let elapsed = started.elapsed();
        round_trips_us.push(elapsed.as_micros() as u64);
        if !out.json {
            output::write_stdout(&format!("pong from {address}: seq={index} time={:.3} ms", millis(elapsed)))?;
        }
    }
    let sum: u64 = round_trips_us.iter().sum();
    let average_us = sum / round_trips_us.len() as u64;
    let (min_us, max_us) = (round_trips_us.iter().min().copied(), round_trips_us.iter().max().copied());
    let view = serde_json::json!({
        "address": address.to_string(),
        "count": round_trips_us.len(),
        "round_trips_us": round_trips_us,
        "min_us": min_us,
        "average_us": average_us,
        "max_us": max_us,
    });
    if out.json {
        out.show(&view, String::new)
    } else if round_trips_us.len() > 1 {
        let ms = |us: Option<u64>| us.unwrap_or(0) as f64 / 1000.0;
        let summary = format!(
            "{} pings: min {:.3} ms, average {:.3} ms, max {:.3} ms",
            round_trips_us.len(),
            ms(min_us),
            ms(Some(average_us)),
            ms(max_us)
        );
        output::write_stdout(&summary)
    } else {
        Ok(())
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

pub async fn me(ctx: &mut Ctx) -> Result<(), CliError> {
    let me = ctx.client.me().await?;
    let view = ClientView::new(&me.client, Some(&me));
    ctx.out.show(&view, || client_details(&me))
}

pub async fn stats(ctx: &mut Ctx) -> Result<(), CliError> {
    let stats = ctx.client.stats().await?;
    ctx.out.show(&StatsView::from(&stats), || stats_details(&stats))
}

pub async fn cluster(ctx: &mut Ctx) -> Result<(), CliError> {
    let metadata = ctx.client.cluster_metadata().await?;
    let nodes: Vec<serde_json::Value> = metadata
        .nodes
        .iter()
        .map(|node| {
            serde_json::json!({
                "name": node.name, "ip": node.ip, "tcp_port": node.tcp_port,
                "role": role_name(node.role), "status": node_status_name(node.status),
            })
        })
        .collect();
    let view = serde_json::json!({ "name": metadata.name, "nodes": nodes });
    ctx.out.show(&view, || {
        let mut table = Table::new(&["NODE", "ADDRESS", "ROLE", "STATUS"]);
        for node in &metadata.nodes {
            let address = format!("{}:{}", node.ip, node.tcp_port);
            table.row(vec![
                node.name.clone(),
                address,
                role_name(node.role).into(),
                node_status_name(node.status).into(),
            ]);
        }
        format!("Cluster: {}\n\n{}", metadata.name, table.render_or("no nodes"))
    })
}

fn role_name(role: u8) -> &'static str {
    if role == 0 { "leader" } else { "follower" }
}

fn node_status_name(status: u8) -> &'static str {
    ["healthy", "starting", "stopping", "unreachable", "maintenance"]
        .get(usize::from(status))
        .copied()
        .unwrap_or("unknown")
}

/// Snapshot types: 100 = everything; compression 2 = deflated.
const SNAPSHOT_ALL: u8 = 100;
const SNAPSHOT_DEFLATED: u8 = 2;

pub async fn snapshot(args: SnapshotArgs, ctx: &mut Ctx) -> Result<(), CliError> {
    let request = GetSnapshot { compression: SNAPSHOT_DEFLATED, types: vec![SNAPSHOT_ALL] };
    let bytes = ctx.client.snapshot(&request).await?;
    std::fs::write(&args.file, &bytes)
        .map_err(|error| CliError::File(format!("cannot write {}: {error}", args.file.display())))?;
    let view = serde_json::json!({ "file": args.file, "size_bytes": bytes.len() });
    ctx.out.show(&view, || format!("wrote {} ({})", args.file.display(), output::size(bytes.len() as u64)))
}

impl ClientCommand {
    pub fn target(&self) -> Target {
        match self {
            ClientCommand::List => Target::default(),
            ClientCommand::Get { id } => Target { client: Some(*id), ..Target::default() },
        }
    }

    pub async fn run(self, ctx: &mut Ctx) -> Result<(), CliError> {
        match self {
            ClientCommand::List => {
                let clients = ctx.client.clients().await?;
                let views: Vec<ClientView> = clients.iter().map(|client| ClientView::new(client, None)).collect();
                ctx.out.show(&views, || client_table(&clients))
            }
            ClientCommand::Get { id } => {
                let details = ctx.client.client(id).await?;
                let details = details.ok_or(CliError::NotFound { missing: Missing::Client, code: None })?;
                ctx.out.show(&ClientView::new(&details.client, Some(&details)), || client_details(&details))
            }
        }
    }
}

/// The resolved connection settings and where each came from; the password is not shown.
pub fn config(settings: &Settings, out: Output) -> Result<(), CliError> {
    let (kind, username) = match &settings.credentials {
        Credentials::Password { username, .. } => ("password", Some(username.clone())),
        Credentials::PersonalAccessToken(_) => ("token", None),
    };
    let view = serde_json::json!({
        "address": settings.address,
        "dialect": { "value": settings.dialect.value.name(), "source": settings.dialect.source },
        "credentials": { "kind": kind, "username": username, "source": settings.credentials_source },
        "timeout_ms": settings.timeout.as_millis() as u64,
        "config_file": settings.config_path,
        "profile": settings.profile,
        "tls": settings.tls.as_ref().map(|tls| serde_json::json!({ "domain": tls.domain, "ca_file": tls.ca_file })),
    });
    out.show(&view, || {
        let source = |source| format!("{source:?}").to_lowercase();
        output::details(&[
            ("Address", format!("{} (from {})", settings.address.value, source(settings.address.source))),
            ("Dialect", format!("{} (from {})", settings.dialect.value, source(settings.dialect.source))),
            (
                "Login",
                match &username {
                    Some(name) => format!("user {name} with a password (from {})", source(settings.credentials_source)),
                    None => format!("personal access token (from {})", source(settings.credentials_source)),
                },
            ),
            ("Timeout", humantime::format_duration(settings.timeout).to_string()),
            ("Config file", settings.config_path.as_ref().map_or("-".into(), |p| p.display().to_string())),
            ("Profile", settings.profile.clone().unwrap_or("-".into())),
            (
                "TLS",
                settings.tls.as_ref().map_or("off".into(), |tls| {
                    let trust = tls.ca_file.as_ref().map_or("the system's CAs".into(), |f| f.display().to_string());
                    format!("on, server name {}, trusting {trust}", tls.domain)
                }),
            ),
        ])
    })
}

#[derive(Serialize)]
struct ClientView {
    client_id: u32,
    /// Null when the client has not logged in.
    user_id: Option<u32>,
    transport: &'static str,
    address: String,
    consumer_groups_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumer_groups: Option<Vec<serde_json::Value>>,
}

impl ClientView {
    fn new(client: &ClientInfo, details: Option<&ClientDetails>) -> ClientView {
        let groups = details.map(|details| {
            let group = |g: &whippet_client::protocol::responses::ClientGroup| {
                serde_json::json!({ "stream_id": g.stream_id, "topic_id": g.topic_id, "group_id": g.group_id })
            };
            details.consumer_groups.iter().map(group).collect()
        });
        ClientView {
            client_id: client.client_id,
            user_id: (client.user_id != USER_ID_NONE).then_some(client.user_id),
            transport: transport_name(client.transport),
            address: client.address.clone(),
            consumer_groups_count: client.consumer_groups_count,
            consumer_groups: groups,
        }
    }
}

fn transport_name(code: u8) -> &'static str {
    ["?", "tcp", "quic", "http", "websocket"].get(usize::from(code)).copied().unwrap_or("?")
}

fn user_text(user_id: u32) -> String {
    if user_id == USER_ID_NONE { "-".into() } else { user_id.to_string() }
}

fn client_table(clients: &[ClientInfo]) -> String {
    let mut table = Table::new(&["CLIENT", "USER", "TRANSPORT", "ADDRESS", "GROUPS"]);
    for client in clients {
        table.row(vec![
            client.client_id.to_string(),
            user_text(client.user_id),
            transport_name(client.transport).into(),
            client.address.clone(),
            client.consumer_groups_count.to_string(),
        ]);
    }
    table.render_or("no clients")
}

fn client_details(details: &ClientDetails) -> String {
    let client = &details.client;
    let groups: Vec<String> = details
        .consumer_groups
        .iter()
        .map(|g| format!("stream {} topic {} group {}", g.stream_id, g.topic_id, g.group_id))
        .collect();
    output::details(&[
        ("Client ID", client.client_id.to_string()),
        ("User ID", user_text(client.user_id)),
        ("Transport", transport_name(client.transport).into()),
        ("Address", client.address.clone()),
        ("Consumer groups", if groups.is_empty() { "-".into() } else { groups.join("; ") }),
    ])
}

/// Stats in JSON: sizes in bytes, durations in µs, times RFC 3339.
#[derive(Serialize)]
struct StatsView {
    process_id: u32,
    server_version: String,
    hostname: String,
    os: String,
    kernel_version: String,
    start_time: Option<String>,
    run_time_us: u64,
    threads_count: u32,
    cpu_usage_percent: f32,
    total_cpu_usage_percent: f32,
    memory_usage_bytes: u64,
    total_memory_bytes: u64,
    available_memory_bytes: u64,
    read_bytes: u64,
    written_bytes: u64,
    free_disk_space_bytes: u64,
    total_disk_space_bytes: u64,
    streams_count: u32,
    topics_count: u32,
    partitions_count: u32,
    segments_count: u32,
    messages_count: u64,
    messages_size_bytes: u64,
    clients_count: u32,
    consumer_groups_count: u32,
}

impl From<&Stats> for StatsView {
    fn from(stats: &Stats) -> StatsView {
        StatsView {
            process_id: stats.process_id,
            server_version: stats.iggy_server_version.clone(),
            hostname: stats.hostname.clone(),
            os: format!("{} {}", stats.os_name, stats.os_version).trim().to_owned(),
            kernel_version: stats.kernel_version.clone(),
            start_time: output::time_json(stats.start_time),
            run_time_us: stats.run_time,
            threads_count: stats.threads_count,
            cpu_usage_percent: stats.cpu_usage,
            total_cpu_usage_percent: stats.total_cpu_usage,
            memory_usage_bytes: stats.memory_usage,
            total_memory_bytes: stats.total_memory,
            available_memory_bytes: stats.available_memory,
            read_bytes: stats.read_bytes,
            written_bytes: stats.written_bytes,
            free_disk_space_bytes: stats.free_disk_space,
            total_disk_space_bytes: stats.total_disk_space,
            streams_count: stats.streams_count,
            topics_count: stats.topics_count,
            partitions_count: stats.partitions_count,
            segments_count: stats.segments_count,
            messages_count: stats.messages_count,
            messages_size_bytes: stats.messages_size_bytes,
            clients_count: stats.clients_count,
            consumer_groups_count: stats.consumer_groups_count,
        }
    }
}

fn stats_details(stats: &Stats) -> String {
    output::details(&[
        ("Server version", stats.iggy_server_version.clone()),
        ("Process ID", stats.process_id.to_string()),
        (
            "Host",
            format!("{} ({} {}, kernel {})", stats.hostname, stats.os_name, stats.os_version, stats.kernel_version),
        ),
        ("Started", output::time(stats.start_time)),
        ("Uptime", output::duration(stats.run_time)),
        ("Threads", stats.threads_count.to_string()),
        ("CPU", format!("{:.1}% (system {:.1}%)", stats.cpu_usage, stats.total_cpu_usage)),
        (
            "Memory",
            format!(
                "{} of {} ({} available)",
                output::size(stats.memory_usage),
                output::size(stats.total_memory),
                output::size(stats.available_memory)
            ),
        ),
        ("Disk", format!("{} free of {}", output::size(stats.free_disk_space), output::size(stats.total_disk_space))),
        ("Read / written", format!("{} / {}", output::size(stats.read_bytes), output::size(stats.written_bytes))),
        ("Streams", stats.streams_count.to_string()),
        ("Topics", stats.topics_count.to_string()),
        ("Partitions", stats.partitions_count.to_string()),
        ("Segments", stats.segments_count.to_string()),
        ("Messages", format!("{} ({})", stats.messages_count, output::size(stats.messages_size_bytes))),
        ("Clients", stats.clients_count.to_string()),
        ("Consumer groups", stats.consumer_groups_count.to_string()),
    ])
}
