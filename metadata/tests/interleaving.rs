//! The deterministic interleaving test (the lesson from Iggy's per-shard metadata races).
//!
//! One seed drives a whole world: a leader on a simulated disk decides random commands (many
//! of them duplicates or references to missing objects that must fail), appends each event to
//! its log and broadcasts it; 2 to 6 shard replicas receive the broadcasts reordered,
//! duplicated and delayed; simulated clients on random shards wait on their shard's fence for
//! the version of their write and then read. Client futures run on a tiny executor here that
//! polls a future only when its waker fired, so a fence that forgets to wake leaves a client
//! hanging and fails the test.
//!
//! Checked per seed: every client read sees its own write and exactly the leader's state at
//! the version its replica is at (never stale, never divergent); every replica ends equal to
//! the leader (canonical bytes); the log replayed after a power cut (sometimes with the disk
//! dying in the middle of an append) gives the leader's state at its last acknowledged
//! version, or at the one after it when the unacknowledged append happened to land whole.

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Wake, Waker};
use std::time::Instant;

use common::{block_on, canonical};
use whippet_metadata::{Command, Committed, Event, Leader, Metadata, Ref, Replica, Stream, SubmitError, VersionFence};
use whippet_storage::sim::{Failure, SimStorage};

/// Seeds run by default; `METADATA_SEEDS=N` runs N, `METADATA_SEED=S` replays seed S alone.
const SEEDS: u64 = 1000;
const STREAMS: [&str; 5] = ["orders", "payments", "audit", "logs", "metrics"];
const TOPICS: [&str; 4] = ["eu", "us", "apac", "dead-letter"];
const GROUPS: [&str; 2] = ["billing", "search"];
const USERS: [&str; 3] = ["alice", "bob", "carol"];

#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

struct Client {
    future: Pin<Box<dyn Future<Output = ()>>>,
    woken: Arc<Flag>,
}

struct Shard {
    replica: Rc<RefCell<Replica>>,
    fence: VersionFence,
    inbox: Vec<(u64, Arc<Event>)>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    versions: u64,
    rejected: u64,
    clients: u64,
    stale_reads: u64,
    deliveries: u64,
    disk_deaths: u64,
}

struct World {
    rng: fastrand::Rng,
    storage: SimStorage,
    leader: Leader<SimStorage>,
    leader_alive: bool,
    unacknowledged: Option<Event>,
    shards: Vec<Shard>,
    clients: Vec<Client>,
    /// Canonical bytes of the leader's state after each version (index 0: empty).
    states: Rc<RefCell<Vec<Vec<u8>>>>,
    stale_reads: Rc<Cell<u64>>,
    use_fence: bool,
    outcome: Outcome,
}

fn dir() -> &'static Path {
    Path::new("/data/metadata")
}

fn pick(rng: &mut fastrand::Rng, names: &[&str]) -> String {
    names[rng.usize(..names.len())].to_owned()
}

fn any_ref(rng: &mut fastrand::Rng, names: &[&str], ids_max: u32) -> Ref {
    if rng.bool() { Ref::Id(rng.u32(0..ids_max)) } else { Ref::Name(pick(rng, names)) }
}

fn random_command(rng: &mut fastrand::Rng) -> Command {
    let stream = any_ref(rng, &STREAMS, 6);
    let topic = any_ref(rng, &TOPICS, 5);
    match rng.u8(0..36) {
        0..=5 => Command::CreateStream { name: if rng.u8(0..20) == 0 { String::new() } else { pick(rng, &STREAMS) } },
        6..=7 => Command::DeleteStream { stream },
        8 => Command::UpdateStream { stream, name: pick(rng, &STREAMS) },
        9..=15 => Command::CreateTopic {
            stream,
            name: pick(rng, &TOPICS),
            partitions_count: if rng.u8(0..10) == 0 { 1001 } else { rng.u32(0..4) },
            message_expiry: rng.u64(..),
            max_topic_size: 0,
            compression: 1,
            replication_factor: rng.u8(0..3),
            options: vec![("durability".into(), "replicated".into())],
        },
        16..=17 => Command::DeleteTopic { stream, topic },
        18 => Command::UpdateTopic {
            stream,
            topic,
            name: pick(rng, &TOPICS),
            message_expiry: rng.bool().then(|| rng.u64(..)),
            max_topic_size: None,
            compression: Some(2),
            replication_factor: None,
            options: vec![("message_expiry".into(), "1h".into())],
        },
        19..=20 => Command::CreatePartitions { stream, topic, count: rng.u32(0..4) },
        21 => Command::DeletePartitions { stream, topic, count: rng.u32(0..4) },
        22..=24 => Command::CreateConsumerGroup { stream, topic, name: pick(rng, &GROUPS) },
        25 => Command::DeleteConsumerGroup { stream, topic, group: any_ref(rng, &GROUPS, 3) },
        26..=28 => Command::CreateUser {
            username: pick(rng, &USERS),
            password_hash: "$argon2id$v=19$x".into(),
            status: 1,
            permissions: None,
        },
        32..=33 => {
            Command::JoinConsumerGroup { stream, topic, group: any_ref(rng, &GROUPS, 3), client_id: rng.u32(0..4) }
        }
        34 => Command::LeaveConsumerGroup { stream, topic, group: any_ref(rng, &GROUPS, 3), client_id: rng.u32(0..4) },
        35 => Command::ClientGone { client_id: rng.u32(0..4) },
        _ => Command::DeleteUser { user: any_ref(rng, &USERS, 4) },
    }
}

/// A second opinion on a few commands, from a plain scan of the state (not its indexes):
/// `Some(Ok(id))` when the command must succeed creating `id`, `Some(Err(code))` when it
/// must fail with that Iggy code, `None` when this oracle has no opinion.
fn oracle(metadata: &Metadata, command: &Command) -> Option<Result<Option<u32>, u32>> {
    fn find<'a>(metadata: &'a Metadata, stream: &Ref) -> Result<&'a Stream, u32> {
        match stream {
            Ref::Id(id) => metadata.streams().get(id).ok_or(1009),
            Ref::Name(name) => metadata.streams().values().find(|s| s.name == *name).ok_or(1010),
        }
    }
    fn free<V>(map: &std::collections::BTreeMap<u32, V>) -> u32 {
        (0..).find(|id| !map.contains_key(id)).unwrap()
    }
    Some(match command {
        Command::CreateStream { name } if name.is_empty() => Err(1013),
        Command::CreateStream { name } if metadata.streams().values().any(|s| s.name == *name) => Err(1012),
        Command::CreateStream { .. } => Ok(Some(free(metadata.streams()))),
        Command::DeleteStream { stream } => find(metadata, stream).map(|_| None),
        Command::CreateTopic { partitions_count, .. } if *partitions_count > 1000 => Err(2015),
        Command::CreateTopic { stream, name, .. } => find(metadata, stream).and_then(|stream| {
            if stream.topics.values().any(|t| t.name == *name) { Err(2013) } else { Ok(Some(free(&stream.topics))) }
        }),
        Command::CreateUser { username, .. } if metadata.users().values().any(|u| u.username == *username) => Err(46),
        Command::CreateUser { .. } => Ok(Some(free(metadata.users()))),
        _ => return None,
    })
}

fn created_id(event: &Event) -> Option<u32> {
    match event {
        Event::StreamCreated { id, .. } | Event::TopicCreated { id, .. } | Event::UserCreated { id, .. } => Some(*id),
        _ => None,
    }
}

impl World {
    fn new(seed: u64, use_fence: bool) -> World {
        let mut rng = fastrand::Rng::with_seed(seed);
        let storage = SimStorage::new(seed);
        let (mut leader, _) = block_on(Leader::open(storage.clone(), dir())).unwrap();
        let root = block_on(leader.bootstrap_root("iggy", "$argon2id$root", 0)).unwrap();
        let states = Rc::new(RefCell::new(vec![canonical(&Metadata::new()), canonical(leader.metadata())]));
        let shards = (0..rng.usize(2..=6))
            .map(|_| {
                let replica = Replica::new(Metadata::new());
                let fence = replica.fence();
                Shard { replica: Rc::new(RefCell::new(replica)), fence, inbox: vec![(1, root.event.clone())] }
            })
            .collect();
        if rng.u8(0..3) == 0 {
            storage.fail_after_writes(rng.u64(0..50), Failure::Crash);
        }
        World {
            rng,
            storage,
            leader,
            leader_alive: true,
            unacknowledged: None,
            shards,
            clients: Vec::new(),
            states,
            stale_reads: Rc::new(Cell::new(0)),
            use_fence,
            outcome: Outcome::default(),
        }
    }

    fn leader_step(&mut self, now_micros: u64) {
        if !self.leader_alive {
            return;
        }
        let command = random_command(&mut self.rng);
        let decided = self.leader.metadata().decide(&command, now_micros);
        let expected = oracle(self.leader.metadata(), &command);
        match block_on(self.leader.submit(&command, now_micros)) {
            Ok(committed) => {
                assert_eq!(Ok(&*committed.event), decided.as_ref());
                if let Some(expected) = expected {
                    assert_eq!(expected, Ok(created_id(&committed.event)), "{command:?}");
                }
                self.states.borrow_mut().push(canonical(self.leader.metadata()));
                assert_eq!(self.states.borrow().len() as u64, committed.version + 1);
                self.broadcast(&committed);
                if self.rng.bool() {
                    self.spawn_client(committed.version);
                }
            }
            Err(SubmitError::Rejected(error)) => {
                assert_eq!(decided, Err(error.clone()));
                if let Some(expected) = expected {
                    assert_eq!(expected, Err(error.iggy_code()), "{command:?}");
                }
                self.outcome.rejected += 1;
            }
            Err(SubmitError::Log(_)) => {
                self.leader_alive = false;
                self.outcome.disk_deaths = 1;
                self.unacknowledged = Some(decided.expect("only accepted commands reach the log"));
            }
        }
    }

    fn broadcast(&mut self, committed: &Committed) {
        for shard in &mut self.shards {
            shard.inbox.push((committed.version, committed.event.clone()));
            if self.rng.u8(0..8) == 0 {
                shard.inbox.push((committed.version, committed.event.clone()));
            }
        }
    }

    /// A client on a random shard that wrote `version` and now reads.
    fn spawn_client(&mut self, version: u64) {
        let shard = &self.shards[self.rng.usize(..self.shards.len())];
        let (fence, replica) = (shard.fence.clone(), shard.replica.clone());
        let (states, stale_reads, use_fence) = (self.states.clone(), self.stale_reads.clone(), self.use_fence);
        let future = async move {
            if use_fence {
                fence.wait_for(version).await;
            }
            let replica = replica.borrow();
            let applied = replica.applied_version();
            let fresh = applied >= version && states.borrow()[applied as usize] == canonical(replica.metadata());
            if !fresh {
                stale_reads.set(stale_reads.get() + 1);
            }
        };
        let woken = Arc::new(Flag(AtomicBool::new(true)));
        self.clients.push(Client { future: Box::pin(future), woken });
        self.outcome.clients += 1;
    }

    /// Hands one message, picked at random from a random shard's inbox, to that replica.
    fn deliver_one(&mut self, may_duplicate: bool) {
        let busy: Vec<usize> = (0..self.shards.len()).filter(|&s| !self.shards[s].inbox.is_empty()).collect();
        if busy.is_empty() {
            return;
        }
        let shard = &mut self.shards[busy[self.rng.usize(..busy.len())]];
        let (version, event) = shard.inbox.swap_remove(self.rng.usize(..shard.inbox.len()));
        if may_duplicate && self.rng.u8(0..10) == 0 {
            shard.inbox.push((version, event.clone()));
        }
        shard.replica.borrow_mut().offer(version, event);
        self.outcome.deliveries += 1;
    }

    /// Polls every client whose waker fired; finished clients leave.
    fn poll_clients(&mut self) {
        let mut index = 0;
        while index < self.clients.len() {
            let client = &mut self.clients[index];
            if client.woken.0.swap(false, Ordering::SeqCst) {
                let waker = Waker::from(client.woken.clone());
                if client.future.as_mut().poll(&mut Context::from_waker(&waker)).is_ready() {
                    self.clients.swap_remove(index);
                    continue;
                }
            }
            index += 1;
        }
    }

    fn drain(&mut self) {
        while self.shards.iter().any(|shard| !shard.inbox.is_empty()) {
            self.deliver_one(false);
            self.poll_clients();
        }
    }

    fn check_convergence(&self, seed: u64) {
        assert!(self.clients.is_empty(), "seed {seed}: {} clients never woke", self.clients.len());
        let leader = canonical(self.leader.metadata());
        for (index, shard) in self.shards.iter().enumerate() {
            let replica = shard.replica.borrow();
            assert_eq!(replica.applied_version(), self.leader.version(), "seed {seed} shard {index}");
            assert_eq!(replica.pending_len(), 0, "seed {seed} shard {index}");
            assert!(canonical(replica.metadata()) == leader, "seed {seed}: shard {index} diverged");
        }
    }

    /// Cuts the power and replays the log into a fresh leader.
    fn check_replay(&self, seed: u64) {
        let (replayed, _) = block_on(Leader::open(self.storage.crash(), dir())).unwrap();
        let acknowledged = self.leader.version();
        // Group members are clients, which do not survive a restart.
        let mut expected = self.leader.metadata().clone();
        if replayed.version() == acknowledged {
            expected.clear_memberships();
            assert!(replayed.metadata() == &expected, "seed {seed}: replay differs");
            return;
        }
        assert_eq!(replayed.version(), acknowledged + 1, "seed {seed}: replay lost or invented events");
        expected.apply(acknowledged + 1, self.unacknowledged.as_ref().expect("an append failed"));
        expected.clear_memberships();
        assert!(replayed.metadata() == &expected, "seed {seed}: replay of the torn append differs");
    }
}

fn simulate(seed: u64, use_fence: bool) -> Outcome {
    let mut world = World::new(seed, use_fence);
    let steps = world.rng.u64(100..300);
    for step in 1..=steps {
        if world.rng.u8(0..10) < 4 {
            world.leader_step(step * 1_000);
        } else {
            world.deliver_one(true);
        }
        world.poll_clients();
    }
    world.drain();
    world.check_convergence(seed);
    world.check_replay(seed);
    Outcome { versions: world.leader.version(), stale_reads: world.stale_reads.get(), ..world.outcome }
}

fn seeds() -> std::ops::Range<u64> {
    let env = |name| std::env::var(name).ok().and_then(|value| value.parse::<u64>().ok());
    match (env("METADATA_SEED"), env("METADATA_SEEDS")) {
        (Some(seed), _) => seed..seed + 1,
        (None, count) => 0..count.unwrap_or(SEEDS),
    }
}

#[test]
fn replicas_converge_and_every_fenced_read_sees_its_write() {
    let started = Instant::now();
    let mut total = Outcome::default();
    let seeds = seeds();
    for seed in seeds.clone() {
        let outcome = simulate(seed, true);
        assert_eq!(outcome.stale_reads, 0, "seed {seed}: a client read a stale replica");
        total.versions += outcome.versions;
        total.rejected += outcome.rejected;
        total.clients += outcome.clients;
        total.deliveries += outcome.deliveries;
        total.disk_deaths += outcome.disk_deaths;
    }
    assert!(seeds.end - seeds.start < 100 || total.disk_deaths > 0, "no seed had its disk die mid-append");
    println!(
        "{} seeds in {:?}: {} events, {} refused commands, {} fenced reads, {} deliveries, {} disk deaths",
        seeds.end - seeds.start,
        started.elapsed(),
        total.versions,
        total.rejected,
        total.clients,
        total.deliveries,
        total.disk_deaths,
    );
}

#[test]
fn without_the_fence_the_same_worlds_read_stale_replicas() {
    let stale_reads: u64 = (0..50).map(|seed| simulate(seed, false).stale_reads).sum();
    assert!(stale_reads > 0, "the interleaving test cannot tell a fenced read from an unfenced one");
}
