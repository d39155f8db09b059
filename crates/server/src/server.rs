//! Start and stop: shards up (shard 0 opens the metadata log and runs the leader, then hands
//! every other shard its starting replica), the acceptor last; on SIGINT/SIGTERM the acceptor
//! stops first, then every shard closes (flushes and syncs) its partitions.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use whippet_metadata::Leader;
use whippet_net::Acceptor;
use whippet_shard::{Inbox, InboxParts, Mailbox, ShardPlacement, spawn_shard};
use whippet_storage::PartitionConfig;
use whippet_storage::io::UringStorage;

use crate::config::Config;
use crate::messages::Message;
use crate::shard::{CounterRegistry, Shard, Shared, now_micros};

/// Runs the server until a stop signal; `Ok` after a clean shutdown.
pub fn run(config: Config) -> Result<(), String> {
    let address = config.tcp_address()?;
    let shards = config.shard_count()?;
    let cores = config.cores()?;
    raise_open_files_limit(config.server.max_connections);
    let data_dir = config.server.data_dir.clone();
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("cannot create data dir {}: {e}", data_dir.display()))?;
    let acceptor =
        Acceptor::bind(address, config.server.backlog).map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let listen = acceptor.local_addr().map_err(|e| e.to_string())?;
    let shared = Arc::new(Shared {
        shards,
        data_dir: data_dir.clone(),
        listen,
        partition_config: PartitionConfig {
            durability: config.durability()?,
            segment_size: config.storage.segment_size,
            cache_size: config.storage.cache_size,
            verify_checksums: config.storage.verify_checksums,
            direct_io: config.storage.direct_io,
            ..PartitionConfig::default()
        },
        max_frame_size: config.server.max_frame_size,
        body_budget_per_shard: config.server.body_budget_per_shard,
        max_message_size: config.server.max_message_size,
        max_partitions_per_topic: config.server.max_partitions_per_topic,
        login_guard: crate::auth::LoginGuard::new(config.auth.max_login_failures, config.login_window()?),
        connections: std::sync::atomic::AtomicUsize::new(0),
        max_connections: config.server.max_connections as usize,
        counters: CounterRegistry::default(),
        next_client_id: AtomicU64::new(1),
        clients: crate::shard::ClientRegistry::default(),
        heartbeat_window: config.heartbeat_window()?,
        tls: config.tls_acceptor()?,
        started_at: now_micros(),
        config_toml: config.redacted_toml(),
    });
    let (mailboxes, inboxes) =
        whippet_shard::mesh::<Message>(shards).map_err(|e| format!("cannot build the shard mesh: {e}"))?;
    let (ready_tx, ready_rx) = mpsc::channel::<Result<usize, String>>();
    let passwords = whippet_shard::BlockingPool::new("whippet-passwords", config.auth.password_threads);
    let mut threads = Vec::with_capacity(shards);
    let mut drivers = Vec::with_capacity(shards);
    for (index, parts) in inboxes.into_iter().enumerate() {
        let placement = ShardPlacement {
            index,
            core: config.sharding.pin.then(|| cores[index % cores.len()]),
            ring_entries: config.sharding.ring_entries,
            allow_legacy_driver: config.sharding.allow_legacy_driver,
            blocking: Some(passwords.clone()),
        };
        let start = ShardStart {
            index,
            shared: shared.clone(),
            mailboxes: mailboxes.clone(),
            parts,
            ready: ready_tx.clone(),
            root: (config.auth.root_username.clone(), config.auth.root_password.clone()),
        };
        let span = tracing::info_span!("shard", id = index);
        let (thread, driver) = spawn_shard(placement, move |_| tracing::Instrument::instrument(start.run(), span))
            .map_err(|e| e.to_string())?;
        threads.push(thread);
        drivers.push(driver);
    }
    drop(ready_tx);
    for _ in 0..shards {
        match ready_rx.recv() {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                stop_shards(&mailboxes, threads);
                return Err(error);
            }
            Err(_) => {
                stop_shards(&mailboxes, threads);
                return Err("a shard stopped during start".to_string());
            }
        }
    }
    let mut next = 0usize;
    let handoff = mailboxes.clone();
    let counted = shared.clone();
    let mut refused = 0u64;
    let (acceptor_thread, stop) = acceptor
        .spawn(move |stream, peer| {
            if counted.connections.fetch_add(1, Ordering::AcqRel) >= counted.max_connections {
                counted.connections.fetch_sub(1, Ordering::AcqRel);
                refused += 1;
                // Every refusal would flood the log during an attack; powers of two show it growing.
                if refused.is_power_of_two() {
                    tracing::warn!(%peer, max_connections = counted.max_connections, refused, "connection refused: server.max_connections reached");
                }
                drop(stream);
                return;
            }
            // Round-robin; a shard that has stopped drops the connection.
            if handoff[next % handoff.len()].send(Message::Connection(stream, peer)).is_err() {
                counted.connections.fetch_sub(1, Ordering::AcqRel);
            }
            next = next.wrapping_add(1);
        })
        .map_err(|e| format!("cannot start the acceptor: {e}"))?;
    if config.tls.enabled {
        tracing::info!(
            cert_file = %config.tls.cert_file.display(),
            key_file = %config.tls.key_file.display(),
            "TLS on: every connection on {listen} must speak TLS"
        );
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        tls = config.tls.enabled,
        shards,
        pinned = config.sharding.pin,
        cores = ?cores.iter().take(shards).collect::<Vec<_>>(),
        drivers = ?drivers,
        durability = %config.storage.durability,
        data_dir = %data_dir.display(),
        "whippet-server listening on {listen}"
    );
    wait_for_stop_signal()?;
    tracing::info!("stopping: no new connections; flushing and syncing partitions");
    stop.stop();
    let _ = acceptor_thread.join();
    stop_shards(&mailboxes, threads);
    tracing::info!("stopped");
    Ok(())
}

fn wait_for_stop_signal() -> Result<(), String> {
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|e| format!("cannot install signal handlers: {e}"))?;
    if let Some(signal) = signals.forever().next() {
        tracing::info!(signal, "stop signal received");
    }
    Ok(())
}

fn stop_shards(mailboxes: &[Mailbox<Message>], threads: Vec<std::thread::JoinHandle<()>>) {
    for mailbox in mailboxes {
        let _ = mailbox.send(Message::Shutdown);
    }
    for thread in threads {
        let _ = thread.join();
    }
}

/// What a shard thread needs to start.
struct ShardStart {
    index: usize,
    shared: Arc<Shared>,
    mailboxes: Vec<Mailbox<Message>>,
    parts: InboxParts<Message>,
    ready: mpsc::Sender<Result<usize, String>>,
    root: (String, String),
}

impl ShardStart {
    async fn run(self) {
        let inbox = match self.parts.open() {
            Ok(inbox) => inbox,
            Err(error) => {
                let _ = self.ready.send(Err(format!("shard {}: inbox: {error}", self.index)));
                return;
            }
        };
        let shard = if self.index == 0 {
            match open_leader(&self.shared, &self.root).await {
                Ok(leader) => {
                    let metadata = leader.metadata().clone();
                    for mailbox in &self.mailboxes[1..] {
                        let _ = mailbox.send(Message::Bootstrap(Box::new(metadata.clone())));
                    }
                    Shard::with_leader(self.shared.clone(), self.mailboxes.clone(), leader)
                }
                Err(error) => {
                    let _ = self.ready.send(Err(error));
                    return;
                }
            }
        } else {
            match wait_for_bootstrap(&inbox).await {
                Some(metadata) => Shard::new(self.index, self.shared.clone(), self.mailboxes.clone(), metadata),
                None => {
                    let _ = self.ready.send(Err(format!("shard {} got no metadata from the leader", self.index)));
                    return;
                }
            }
        };
        let _ = self.ready.send(Ok(self.index));
        shard.run(inbox).await;
    }
}

/// Opens the metadata log and, on a first start, creates the root user.
async fn open_leader(shared: &Shared, root: &(String, String)) -> Result<Leader<UringStorage>, String> {
    let dir = shared.data_dir.join("metadata");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let (mut leader, report) =
        Leader::open(UringStorage, &dir).await.map_err(|e| format!("cannot open the metadata log: {e}"))?;
    tracing::info!(version = leader.version(), ?report, "metadata log replayed");
    if leader.version() == 0 {
        let hash = crate::auth::hash_password(&root.1)?;
        leader
            .bootstrap_root(&root.0, &hash, now_micros())
            .await
            .map_err(|e| format!("cannot create the root user: {e}"))?;
        tracing::info!(username = %root.0, "root user created");
    }
    Ok(leader)
}

/// Waits for the leader's starting replica. Messages that arrive first wait their turn.
async fn wait_for_bootstrap(inbox: &Inbox<Message>) -> Option<whippet_metadata::Metadata> {
    let mut batch = Vec::new();
    while inbox.receive(&mut batch).await.ok()? {
        let mut found = None;
        let mut rest = Vec::new();
        for message in batch.drain(..) {
            match message {
                Message::Bootstrap(metadata) if found.is_none() => found = Some(*metadata),
                other => rest.push(other),
            }
        }
        if let Some(metadata) = found {
            if !rest.is_empty() {
                tracing::warn!(count = rest.len(), "messages before bootstrap dropped");
            }
            return Some(metadata);
        }
    }
    None
}

/// Descriptors beyond connections: segment and index files, the metadata log, rings, eventfds.
const FILES_BESIDES_CONNECTIONS: u64 = 4096;

/// Raises the soft open-files limit towards what `max_connections` needs (distributions start
/// processes at 1,024), up to the hard limit; warns when even that is short, since accept would
/// then fail with EMFILE long before `server.max_connections` refuses anyone.
fn raise_open_files_limit(max_connections: u32) {
    let wanted = u64::from(max_connections) + FILES_BESIDES_CONNECTIONS;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    if limit.rlim_cur >= wanted {
        return;
    }
    let raised = libc::rlimit { rlim_cur: wanted.min(limit.rlim_max), rlim_max: limit.rlim_max };
    // SAFETY: setrlimit reads one rlimit we own.
    if raised.rlim_cur > limit.rlim_cur && unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        limit = raised;
    }
    if limit.rlim_cur < wanted {
        tracing::warn!(
            open_files = limit.rlim_cur,
            wanted,
            max_connections,
            "the open-files limit is below what server.max_connections needs; raise it (LimitNOFILE= in systemd, ulimit -n) or lower max_connections"
        );
    }
}
