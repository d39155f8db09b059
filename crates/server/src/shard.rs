//! One shard's state and its inbox loop. Everything here lives on the shard's thread: its
//! metadata replica, the partitions it owns, the requests it is waiting on. Other shards reach
//! it only through its mailbox.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use local_sync::OnceCell;
use local_sync::{mpsc, oneshot};
use whippet_metadata::{Command, Event, Leader, Metadata, Replica, SubmitError, VersionFence};
use whippet_shard::{Inbox, Mailbox};
use whippet_storage::io::UringStorage;
use whippet_storage::{Partition, PartitionConfig};

use crate::messages::{Message, MetadataFailure, PartitionKey, PartitionOp, PartitionOutcome};

pub fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// Figures of one partition that any shard may read (GET_TOPIC, stats). The owner stores them
/// after every change; readers take a possibly slightly old view. No lock on the append path.
#[derive(Debug, Default)]
pub struct PartitionCounters {
    pub next_offset: AtomicU64,
    pub first_offset: AtomicU64,
    pub size_bytes: AtomicU64,
    pub segments: AtomicU64,
}

/// Where every partition's counters live. Touched when a partition opens and when stats are
/// read, never on the append path (the owner keeps its own `Arc`).
#[derive(Debug, Default)]
pub struct CounterRegistry {
    map: std::sync::Mutex<HashMap<PartitionKey, Arc<PartitionCounters>>>,
}

impl CounterRegistry {
    pub fn counters(&self, key: PartitionKey) -> Arc<PartitionCounters> {
        let mut map = self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry(key).or_default().clone()
    }

    pub fn get(&self, key: PartitionKey) -> Option<Arc<PartitionCounters>> {
        self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&key).cloned()
    }

    pub fn remove(&self, key: PartitionKey) {
        self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&key);
    }
}

/// A connected client, for GET_CLIENTS / GET_CLIENT / stats. Touched on connect, login and
/// disconnect only.
#[derive(Debug, Clone)]
pub struct ClientRecord {
    pub address: SocketAddr,
    pub user_id: Option<u32>,
    pub dialect: whippet_net::Dialect,
}

#[derive(Debug, Default)]
pub struct ClientRegistry {
    map: std::sync::Mutex<std::collections::BTreeMap<u32, ClientRecord>>,
}

impl ClientRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<u32, ClientRecord>> {
        self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn connected(&self, client_id: u32, address: SocketAddr, dialect: whippet_net::Dialect) {
        self.lock().insert(client_id, ClientRecord { address, user_id: None, dialect });
    }

    pub fn logged_in(&self, client_id: u32, user_id: Option<u32>) {
        if let Some(record) = self.lock().get_mut(&client_id) {
            record.user_id = user_id;
        }
    }

    pub fn remove(&self, client_id: u32) {
        self.lock().remove(&client_id);
    }

    pub fn get(&self, client_id: u32) -> Option<ClientRecord> {
        self.lock().get(&client_id).cloned()
    }

    pub fn all(&self) -> Vec<(u32, ClientRecord)> {
        self.lock().iter().map(|(id, record)| (*id, record.clone())).collect()
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }
}

/// Settings every shard shares.
pub struct Shared {
    pub shards: usize,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub partition_config: PartitionConfig,
    pub max_frame_size: u32,
    /// Bytes of large request bodies each shard may be receiving at once.
    pub body_budget_per_shard: u64,
    /// The largest message payload a send may carry.
    pub max_message_size: u32,
    pub max_partitions_per_topic: u32,
    /// Failed logins per address, shared by every shard (an address's connections land on
    /// any of them).
    pub login_guard: crate::auth::LoginGuard,
    /// Client connections open now (acceptor increments, the connection's end decrements)
    /// and the most allowed.
    pub connections: std::sync::atomic::AtomicUsize,
    pub max_connections: usize,
    pub counters: CounterRegistry,
    /// Client ids, unique across shards.
    pub next_client_id: AtomicU64,
    pub clients: ClientRegistry,
    /// How long a client may stay silent; `None` = heartbeats off.
    pub heartbeat_window: Option<std::time::Duration>,
    /// The listener's TLS acceptor, built once at start; `None` = plain TCP.
    pub tls: Option<whippet_net::tls::TlsAcceptor>,
    /// µs timestamp of the start, for stats.
    pub started_at: u64,
    /// The effective configuration as TOML, root password redacted (snapshots).
    pub config_toml: String,
}

struct OpenPartition {
    partition: Partition,
    counters: Arc<PartitionCounters>,
}

/// Where the leader should send the outcome of a metadata command.
enum ReplyTo {
    Local(oneshot::Sender<Result<u64, MetadataFailure>>),
    Remote { shard: usize, id: u64 },
}

/// One shard. Not `Send`: it never leaves its thread.
pub struct Shard {
    pub id: usize,
    pub shared: Arc<Shared>,
    pub mailboxes: Vec<Mailbox<Message>>,
    replica: RefCell<Replica>,
    fence: VersionFence,
    leader_queue: Option<mpsc::unbounded::Tx<(Box<Command>, ReplyTo)>>,
    partitions: RefCell<HashMap<PartitionKey, Rc<OnceCell<OpenPartition>>>>,
    waiting_metadata: RefCell<HashMap<u64, oneshot::Sender<Result<u64, MetadataFailure>>>>,
    waiting_partition: RefCell<HashMap<u64, oneshot::Sender<PartitionOutcome>>>,
    next_request: Cell<u64>,
    next_session: Cell<u64>,
    /// Per-topic round-robin for `Balanced` sends from this shard's connections.
    pub balanced: RefCell<HashMap<(u32, u32), u32>>,
    /// What this shard's connections may hold of large request bodies being received.
    pub body_budget: whippet_net::BodyBudget,
}

impl Shard {
    pub fn new(id: usize, shared: Arc<Shared>, mailboxes: Vec<Mailbox<Message>>, metadata: Metadata) -> Rc<Shard> {
        let replica = Replica::new(metadata);
        let fence = replica.fence();
        Rc::new(Shard {
            id,
            mailboxes,
            replica: RefCell::new(replica),
            fence,
            leader_queue: None,
            partitions: RefCell::new(HashMap::new()),
            waiting_metadata: RefCell::new(HashMap::new()),
            waiting_partition: RefCell::new(HashMap::new()),
            next_request: Cell::new(1),
            next_session: Cell::new(1),
            balanced: RefCell::new(HashMap::new()),
            body_budget: whippet_net::BodyBudget::new(shared.body_budget_per_shard, shared.max_frame_size),
            shared,
        })
    }

    /// The same, for shard 0, which also runs the metadata leader.
    pub fn with_leader(
        shared: Arc<Shared>,
        mailboxes: Vec<Mailbox<Message>>,
        leader: Leader<UringStorage>,
    ) -> Rc<Shard> {
        let metadata = leader.metadata().clone();
        let (queue, commands) = mpsc::unbounded::channel();
        let mut shard = Shard::new(0, shared, mailboxes, metadata);
        Rc::get_mut(&mut shard).expect("fresh shard").leader_queue = Some(queue);
        monoio::spawn(run_leader(shard.clone(), leader, commands));
        shard
    }

    /// Reads the local replica.
    pub fn with_metadata<T>(&self, read: impl FnOnce(&Metadata) -> T) -> T {
        read(self.replica.borrow().metadata())
    }

    pub fn applied_version(&self) -> u64 {
        self.fence.applied_version()
    }

    /// Waits until this shard's replica holds `version` (read-your-writes).
    pub async fn wait_for_version(&self, version: u64) {
        self.fence.wait_for(version).await;
    }

    /// A fresh, non-zero session number, unique across shards.
    pub fn new_session(&self) -> u64 {
        let counter = self.next_session.get();
        self.next_session.set(counter + 1);
        ((self.id as u64 + 1) << 40) | counter
    }

    pub fn new_client_id(&self) -> u32 {
        self.shared.next_client_id.fetch_add(1, Ordering::Relaxed) as u32
    }

    fn request_id(&self) -> u64 {
        let id = self.next_request.get();
        self.next_request.set(id + 1);
        id
    }

    /// Sends a metadata change to the leader and waits until this shard applied it.
    pub async fn change_metadata(&self, command: Command) -> Result<u64, MetadataFailure> {
        let (reply, answer) = oneshot::channel();
        let command = Box::new(command);
        match &self.leader_queue {
            Some(queue) => {
                if queue.send((command, ReplyTo::Local(reply))).is_err() {
                    return Err(stopping());
                }
            }
            None => {
                let id = self.request_id();
                self.waiting_metadata.borrow_mut().insert(id, reply);
                if self.mailboxes[0].send(Message::Metadata { from: self.id, id, command }).is_err() {
                    self.waiting_metadata.borrow_mut().remove(&id);
                    return Err(stopping());
                }
            }
        }
        let version = answer.await.unwrap_or_else(|_| Err(stopping()))?;
        self.wait_for_version(version).await;
        Ok(version)
    }

    /// Runs `op` on the partition's owner: here when this shard owns it, else one hop away.
    pub async fn on_partition(&self, key: PartitionKey, op: PartitionOp) -> PartitionOutcome {
        let owner = whippet_shard::owner(key.stream, key.topic, key.partition, self.shared.shards);
        if owner == self.id {
            return self.run_partition_op(key, op).await;
        }
        let (reply, answer) = oneshot::channel();
        let id = self.request_id();
        self.waiting_partition.borrow_mut().insert(id, reply);
        let message = Message::Partition { from: self.id, id, min_version: self.applied_version(), key, op };
        if self.mailboxes[owner].send(message).is_err() {
            self.waiting_partition.borrow_mut().remove(&id);
            return failed(1, "the owning shard has stopped");
        }
        answer.await.unwrap_or_else(|_| failed(1, "the owning shard dropped the request"))
    }

    /// A client went away: it leaves the clients list and every group it joined.
    pub async fn client_gone(&self, client_id: u32) {
        self.shared.clients.remove(client_id);
        if !self.with_metadata(|m| m.memberships(client_id).is_empty())
            && let Err(failure) = self.change_metadata(Command::ClientGone { client_id }).await
        {
            tracing::debug!(client_id, reason = %failure.reason, "group memberships not released");
        }
    }

    /// Opens (once) a partition this shard owns and returns it.
    async fn open_partition(&self, key: PartitionKey) -> Result<(Partition, Arc<PartitionCounters>), PartitionOutcome> {
        let exists = self.with_metadata(|m| topic_of(m, key).map(|t| key.partition < t.partitions_count));
        match exists {
            None => return Err(failed(2010, "topic not found")),
            Some(false) => return Err(failed(3007, "partition not found")),
            Some(true) => {}
        }
        let cell = self.partitions.borrow_mut().entry(key).or_insert_with(|| Rc::new(OnceCell::new())).clone();
        let opened = cell
            .get_or_try_init(|| async {
                let dir = partition_dir(&self.shared.data_dir, key);
                // Only on first open: the options are read here, not on every request.
                let config = self.with_metadata(|m| {
                    let options = topic_of(m, key).map_or(&[][..], |t| &t.options[..]);
                    crate::topic_options::partition_config(&self.shared.partition_config, options)
                });
                let (partition, report) = Partition::open(UringStorage, &dir, key.partition, config).await?;
                if report.is_clean() {
                    tracing::debug!(shard = self.id, ?key, next_offset = report.next_offset, "partition opened");
                } else {
                    tracing::warn!(shard = self.id, ?key, ?report, "partition recovered");
                }
                let counters = self.shared.counters.counters(key);
                publish(&partition, &counters);
                Ok::<_, whippet_storage::StorageError>(OpenPartition { partition, counters })
            })
            .await
            .map_err(|error| failed(1, &format!("cannot open partition {key:?}: {error}")))?;
        Ok((opened.partition.clone(), opened.counters.clone()))
    }

    async fn run_partition_op(&self, key: PartitionKey, op: PartitionOp) -> PartitionOutcome {
        let (partition, counters) = match self.open_partition(key).await {
            Ok(opened) => opened,
            Err(outcome) => return outcome,
        };
        let outcome = crate::partition_ops::run(&partition, op).await;
        publish(&partition, &counters);
        outcome
    }

    /// Opens, in the background, every partition this shard owns, so recovery runs at start and
    /// stats are right before the first request.
    fn open_owned_partitions(self: &Rc<Self>) {
        let keys: Vec<PartitionKey> = self.with_metadata(|m| {
            m.streams()
                .values()
                .flat_map(|s| {
                    s.topics.values().flat_map(move |t| {
                        (0..t.partitions_count).map(move |p| PartitionKey { stream: s.id, topic: t.id, partition: p })
                    })
                })
                .collect()
        });
        for key in keys {
            let owned = whippet_shard::owner(key.stream, key.topic, key.partition, self.shared.shards) == self.id;
            if owned && !self.partitions.borrow().contains_key(&key) {
                let shard = self.clone();
                monoio::spawn(async move {
                    if let Err(PartitionOutcome::Failed { reason, .. }) = shard.open_partition(key).await {
                        tracing::error!(shard = shard.id, ?key, %reason, "partition failed to open");
                    }
                });
            }
        }
    }

    /// Applies a committed event to the replica and to the partitions this shard owns.
    fn apply_event(self: &Rc<Self>, version: u64, event: Arc<Event>) {
        let dropped = self.with_metadata(|m| dropped_partitions(m, &event));
        self.replica.borrow_mut().offer(version, event);
        if let Some((stream, topic, from_partition)) = dropped {
            let gone = |key: &PartitionKey| {
                key.stream == stream && topic.is_none_or(|t| t == key.topic) && key.partition >= from_partition
            };
            let mut partitions = self.partitions.borrow_mut();
            // Each shard forgets the counters of the partitions it owned, so a topic created
            // again under the same id starts from its own figures.
            for key in partitions.keys().filter(|key| gone(key)) {
                self.shared.counters.remove(*key);
            }
            partitions.retain(|key, _| !gone(key));
        }
        self.open_owned_partitions();
    }

    /// The shard's main loop: handles its inbox until told to stop, then closes its partitions.
    pub async fn run(self: Rc<Self>, inbox: Inbox<Message>) {
        crate::failures::debug_panic_on_start(self.id);
        self.open_owned_partitions();
        let mut batch = Vec::new();
        'serve: loop {
            match inbox.receive(&mut batch).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(error) => {
                    tracing::error!(shard = self.id, %error, "inbox failed");
                    break;
                }
            }
            for message in batch.drain(..) {
                if !self.handle(message) {
                    break 'serve;
                }
            }
        }
        self.close_partitions().await;
    }

    /// Handles one message; `false` means stop.
    fn handle(self: &Rc<Self>, message: Message) -> bool {
        match message {
            Message::Connection(stream, peer) => {
                let span = tracing::info_span!("shard", id = self.id);
                let shard = self.clone();
                monoio::spawn(tracing::Instrument::instrument(
                    async move {
                        crate::connection::serve(shard.clone(), stream, peer).await;
                        shard.shared.connections.fetch_sub(1, Ordering::AcqRel);
                    },
                    span,
                ));
            }
            Message::Bootstrap(_) => tracing::error!(shard = self.id, "unexpected bootstrap"),
            Message::Event { version, event } => self.apply_event(version, event),
            Message::Metadata { from, id, command } => match &self.leader_queue {
                Some(queue) => {
                    if queue.send((command, ReplyTo::Remote { shard: from, id })).is_err() {
                        let failure = stopping();
                        let _ = self.mailboxes[from].send(Message::MetadataDone { id, result: Err(failure) });
                    }
                }
                None => tracing::error!(shard = self.id, "metadata command sent to a shard that is not the leader"),
            },
            Message::MetadataDone { id, result } => {
                if let Some(waiter) = self.waiting_metadata.borrow_mut().remove(&id) {
                    let _ = waiter.send(result);
                }
            }
            Message::Partition { from, id, min_version, key, op } => {
                let shard = self.clone();
                monoio::spawn(async move {
                    shard.wait_for_version(min_version).await;
                    let outcome = shard.run_partition_op(key, op).await;
                    let _ = shard.mailboxes[from].send(Message::PartitionDone { id, outcome });
                });
            }
            Message::PartitionDone { id, outcome } => {
                if let Some(waiter) = self.waiting_partition.borrow_mut().remove(&id) {
                    let _ = waiter.send(outcome);
                }
            }
            Message::Shutdown => return false,
        }
        true
    }

    async fn close_partitions(&self) {
        let cells: Vec<_> = self.partitions.borrow_mut().drain().map(|(_, cell)| cell).collect();
        for cell in cells {
            if let Some(open) = cell.get()
                && let Err(error) = open.partition.close().await
            {
                tracing::error!(shard = self.id, dir = %open.partition.dir().display(), %error, "close failed");
            }
        }
    }
}

/// The partitions an event removes, judged on the state before it: (stream, Some(topic) or
/// None for all topics, the first removed partition id).
fn dropped_partitions(metadata: &Metadata, event: &Event) -> Option<(u32, Option<u32>, u32)> {
    match event {
        Event::StreamDeleted { id } => Some((*id, None, 0)),
        Event::TopicDeleted { stream_id, id } => Some((*stream_id, Some(*id), 0)),
        Event::PartitionsDeleted { stream_id, topic_id, count } => {
            let current = metadata.streams().get(stream_id)?.topics.get(topic_id)?.partitions_count;
            Some((*stream_id, Some(*topic_id), current.saturating_sub(*count)))
        }
        _ => None,
    }
}

fn publish(partition: &Partition, counters: &PartitionCounters) {
    let stats = partition.stats();
    counters.next_offset.store(stats.next_offset, Ordering::Relaxed);
    counters.first_offset.store(stats.first_offset, Ordering::Relaxed);
    counters.size_bytes.store(stats.size_bytes, Ordering::Relaxed);
    counters.segments.store(u64::from(stats.segments), Ordering::Relaxed);
}

pub fn partition_dir(data_dir: &std::path::Path, key: PartitionKey) -> PathBuf {
    data_dir
        .join("streams")
        .join(key.stream.to_string())
        .join("topics")
        .join(key.topic.to_string())
        .join("partitions")
        .join(key.partition.to_string())
}

pub fn failed(code: u32, reason: &str) -> PartitionOutcome {
    PartitionOutcome::Failed { code, reason: reason.to_string() }
}

fn stopping() -> MetadataFailure {
    MetadataFailure { code: 1, reason: "the server is stopping".to_string() }
}

/// The metadata leader task on shard 0: takes commands one at a time, so versions are dense
/// and the event stream totally ordered; each committed event goes to every shard.
async fn run_leader(
    shard: Rc<Shard>,
    mut leader: Leader<UringStorage>,
    mut commands: mpsc::unbounded::Rx<(Box<Command>, ReplyTo)>,
) {
    // Before the first command, so no new stream or topic can adopt a deleted one's files.
    let layout: crate::orphans::Layout = leader
        .metadata()
        .streams()
        .iter()
        .map(|(id, stream)| (*id, stream.topics.iter().map(|(id, topic)| (*id, topic.partitions_count)).collect()))
        .collect();
    crate::orphans::remove_orphaned_dirs(&shard.shared.data_dir, &layout);
    while let Some((command, reply_to)) = commands.recv().await {
        let before = match &*command {
            Command::DeletePartitions { stream, topic, .. } => {
                leader.metadata().topic(stream, topic).ok().map(|t| t.partitions_count)
            }
            _ => None,
        };
        let result = match leader.submit(&command, now_micros()).await {
            Ok(committed) => {
                remove_deleted_data(&shard.shared.data_dir, &committed.event, before);
                for (index, mailbox) in shard.mailboxes.iter().enumerate() {
                    if index != shard.id {
                        let _ =
                            mailbox.send(Message::Event { version: committed.version, event: committed.event.clone() });
                    }
                }
                shard.apply_event(committed.version, committed.event);
                Ok(committed.version)
            }
            Err(SubmitError::Rejected(error)) => {
                Err(MetadataFailure { code: error.iggy_code(), reason: error.to_string() })
            }
            // A write refused on a full disk left the log as it was: the change is refused and
            // the server goes on. Any other log failure stops the process (crate::failures).
            Err(SubmitError::Log(error)) => Err(crate::failures::metadata_log_failed(&error)),
        };
        match reply_to {
            ReplyTo::Local(reply) => {
                let _ = reply.send(result);
            }
            ReplyTo::Remote { shard: from, id } => {
                let _ = shard.mailboxes[from].send(Message::MetadataDone { id, result });
            }
        }
    }
}

/// The topic a partition key names, if the metadata has it.
fn topic_of(metadata: &Metadata, key: PartitionKey) -> Option<&whippet_metadata::Topic> {
    metadata.streams().get(&key.stream).and_then(|stream| stream.topics.get(&key.topic))
}

/// Deletes the files of a deleted stream or topic. The owners drop their handles when they
/// apply the event; open descriptors keep working until then.
/// `partitions_before` is the topic's partition count before a DeletePartitions.
fn remove_deleted_data(data_dir: &std::path::Path, event: &Event, partitions_before: Option<u32>) {
    let dirs = match event {
        Event::StreamDeleted { id } => vec![data_dir.join("streams").join(id.to_string())],
        Event::TopicDeleted { stream_id, id } => {
            vec![data_dir.join("streams").join(stream_id.to_string()).join("topics").join(id.to_string())]
        }
        Event::PartitionsDeleted { stream_id, topic_id, count } => {
            let before = partitions_before.unwrap_or(0);
            (before.saturating_sub(*count)..before)
                .map(|partition| {
                    partition_dir(data_dir, PartitionKey { stream: *stream_id, topic: *topic_id, partition })
                })
                .collect()
        }
        _ => return,
    };
    for dir in dirs {
        if let Err(error) = std::fs::remove_dir_all(&dir)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), %error, "could not remove deleted data");
        }
    }
}
