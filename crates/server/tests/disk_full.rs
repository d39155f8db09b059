//! A full disk, end to end: the real `whippet-server` with its data directory on a small tmpfs,
//! driven by the official Iggy SDK 0.11. Sends that do not fit are refused with
//! `CannotSaveMessagesToSegment` (4006) and the connection stays usable; polls of everything
//! acknowledged and metadata reads go on; metadata changes are refused with
//! `CannotWriteToFile` (10006) without harming the metadata log; once the tmpfs grows, sends
//! and changes succeed again without a restart, and a restart finds everything acknowledged.
//!
//! The tmpfs is mounted in a private mount namespace (`unshare -Urm`), by a small shell jail
//! that runs the server, grows the tmpfs when the test creates `grow` in its control directory
//! and restarts the server when it finds `restart.N` after run N ended. Where the namespace or
//! the mount is not permitted the tests print `SKIPPED: cannot mount tmpfs (reason)` and pass,
//! unless `WHIPPET_REQUIRE_TMPFS=1`.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{bounded, close, free_port, root_client, server_binary};
use iggy::prelude::{
    Consumer, Identifier, IggyClient, IggyError, IggyMessage, MessageClient, Partitioning, PollingStrategy,
    StreamClient, TopicClient, TopicCreateOptions,
};

const SMALL: &str = "4m";
const LARGE: &str = "64m";
const CANNOT_SAVE_MESSAGES_TO_SEGMENT: u32 = 4006;
const CANNOT_WRITE_TO_FILE: u32 = 10006;
/// Bound on the sends of each fill step and on the stream creations while full.
const ATTEMPTS_MAX: usize = 2_000;
const WAIT_MAX: Duration = Duration::from_secs(20);

/// Mounts the tmpfs, runs the server until it exits, restarting it while `restart.N` exists,
/// and grows the tmpfs once `grow` appears. Arguments: control dir, data dir, small size,
/// large size, then the server's command line.
const JAIL: &str = r#"
ctl=$1 data=$2 small=$3 large=$4
shift 4
if ! mount -t tmpfs -o "size=$small" tmpfs "$data" 2>"$ctl/mount.err"; then exit 97; fi
touch "$ctl/mounted"
( until [ -e "$ctl/grow" ]; do sleep 0.02; done
  mount -o "remount,size=$large" "$data" && touch "$ctl/grown" ) &
watcher=$!
run=0
while :; do
  run=$((run + 1))
  "$@" >"$ctl/server.$run.log" 2>&1 &
  echo $! >"$ctl/pid.tmp" && mv "$ctl/pid.tmp" "$ctl/pid.$run"
  wait $!
  status=$?
  echo "$status" >"$ctl/exit.$run"
  [ -e "$ctl/restart.$run" ] || break
done
kill "$watcher" 2>/dev/null
exit "$status"
"#;

/// The server in its jail: a private tmpfs on its data directory.
struct Jail {
    control: tempfile::TempDir,
    jail: Child,
    address: SocketAddr,
    run: u32,
}

impl Jail {
    /// Starts the jail and the server's first run; `None` (after saying why) where tmpfs
    /// cannot be mounted.
    fn start(durability: &str) -> Option<Jail> {
        let control = tempfile::Builder::new().prefix("whippet-disk-full-").tempdir().expect("tempdir");
        let ctl = control.path();
        let data = ctl.join("data");
        std::fs::create_dir(&data).expect("data dir");
        std::fs::write(ctl.join("jail.sh"), JAIL).expect("jail script");
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut command = Command::new("unshare");
        command
            .arg("-Urm")
            .arg("sh")
            .arg(ctl.join("jail.sh"))
            .args([ctl, data.as_path()])
            .args([SMALL, LARGE])
            .arg(server_binary())
            .arg("--data-dir")
            .arg(&data)
            .args(["--tcp-address", &address.to_string(), "--shards", "2", "--no-pin", "--durability", durability])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(ctl.join("jail.err")).expect("jail.err"));
        let jail = match command.spawn() {
            Ok(jail) => jail,
            Err(error) => return skip(&format!("cannot run unshare: {error}")),
        };
        let mut jail = Jail { control, jail, address, run: 1 };
        let deadline = Instant::now() + WAIT_MAX;
        while !jail.file("mounted").exists() {
            if jail.jail.try_wait().expect("try_wait").is_some() || Instant::now() > deadline {
                let reason = [jail.read("jail.err"), jail.read("mount.err")].join(" ").trim().to_string();
                return skip(if reason.is_empty() { "the jail ended before mounting" } else { &reason });
            }
            thread::sleep(Duration::from_millis(20));
        }
        jail.wait_ready();
        Some(jail)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.control.path().join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name)).unwrap_or_default()
    }

    /// Everything the current run logged.
    fn log(&self) -> String {
        self.read(&format!("server.{}.log", self.run))
    }

    fn wait_for(&self, name: &str, what: &str) {
        let deadline = Instant::now() + WAIT_MAX;
        while !self.file(name).exists() {
            assert!(Instant::now() < deadline, "{what}: {name} did not appear within {WAIT_MAX:?}\n{}", self.log());
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + WAIT_MAX;
        while !self.log().contains("listening on") {
            let exited = self.file(&format!("exit.{}", self.run)).exists();
            assert!(!exited && Instant::now() < deadline, "server run {} did not start:\n{}", self.run, self.log());
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM to the current run; returns its exit status.
    fn stop_server(&self) -> String {
        self.wait_for(&format!("pid.{}", self.run), "pid");
        let pid: libc::pid_t = self.read(&format!("pid.{}", self.run)).trim().parse().expect("pid");
        // SAFETY: the jail's child, alive until exit.N appears (the jail reaps it only then).
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "kill: {}", std::io::Error::last_os_error());
        let exit = format!("exit.{}", self.run);
        self.wait_for(&exit, "stop");
        self.read(&exit).trim().to_string()
    }

    /// A clean stop, then a new run of the server on the same tmpfs.
    fn restart(&mut self) {
        std::fs::write(self.file(&format!("restart.{}", self.run)), b"").expect("restart trigger");
        assert_eq!(self.stop_server(), "0", "a clean stop\n{}", self.log());
        self.run += 1;
        self.wait_ready();
    }

    /// Grows the tmpfs to [`LARGE`].
    fn grow(&self) {
        std::fs::write(self.file("grow"), b"").expect("grow trigger");
        self.wait_for("grown", "remount");
    }

    /// The last clean stop: the jail ends with the server's status.
    fn finish(mut self) {
        assert_eq!(self.stop_server(), "0", "a clean stop\n{}", self.log());
        let status = self.jail.wait().expect("wait for the jail");
        assert!(status.success(), "jail: {status}");
    }
}

impl Drop for Jail {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("--- server run {} ---\n{}", self.run, self.log());
        }
        if self.jail.try_wait().ok().flatten().is_none() {
            if let Ok(pid) = self.read(&format!("pid.{}", self.run)).trim().parse::<libc::pid_t>() {
                // SAFETY: a best-effort kill of the jail's server child on a failed test.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let _ = self.jail.kill();
            let _ = self.jail.wait();
        }
    }
}

fn skip(reason: &str) -> Option<Jail> {
    assert!(
        std::env::var("WHIPPET_REQUIRE_TMPFS").as_deref() != Ok("1"),
        "cannot mount tmpfs ({reason}) and WHIPPET_REQUIRE_TMPFS=1"
    );
    println!("SKIPPED: cannot mount tmpfs ({reason})");
    eprintln!("SKIPPED: cannot mount tmpfs ({reason})");
    None
}

fn named(name: &str) -> Identifier {
    Identifier::named(name).unwrap()
}

/// What was acknowledged, in offset order: (id, payload).
#[derive(Default)]
struct Ledger(Vec<(u128, Bytes)>);

impl Ledger {
    /// `count` messages of `size` bytes with the next ids (and payloads made from them).
    fn batch(&self, count: usize, size: usize) -> Vec<(u128, Bytes)> {
        (0..count)
            .map(|i| {
                let id = (self.0.len() + i) as u128 + 1;
                let payload: Vec<u8> = (0..size).map(|b| (id as usize * 31 + b) as u8).collect();
                (id, Bytes::from(payload))
            })
            .collect()
    }
}

async fn send(client: &IggyClient, batch: &[(u128, Bytes)]) -> Result<(), IggyError> {
    let mut messages: Vec<IggyMessage> = batch
        .iter()
        .map(|(id, payload)| IggyMessage::builder().id(*id).payload(payload.clone()).build().unwrap())
        .collect();
    let partitioning = Partitioning::partition_id(0);
    bounded("send_messages", client.send_messages(&named("full"), &named("events"), &partitioning, &mut messages))
        .await
        .map(drop)
}

/// Sends until the disk refuses; every refusal must be a clear 4006. Returns the refusals.
async fn fill(client: &IggyClient, ledger: &mut Ledger, count: usize, size: usize) -> usize {
    for _ in 0..ATTEMPTS_MAX {
        let batch = ledger.batch(count, size);
        match send(client, &batch).await {
            Ok(()) => ledger.0.extend(batch),
            Err(error) => {
                assert_eq!(error.as_code(), CANNOT_SAVE_MESSAGES_TO_SEGMENT, "a send on a full disk: {error}");
                return 1;
            }
        }
    }
    panic!("{ATTEMPTS_MAX} sends of {count} x {size} B all fit on a {SMALL} tmpfs");
}

/// Reads the partition from offset 0 and checks it holds exactly the ledger.
async fn assert_holds(client: &IggyClient, ledger: &Ledger, what: &str) {
    let mut polled = Vec::new();
    while polled.len() < ledger.0.len() + 1 {
        let offset = polled.len() as u64;
        let batch = bounded(
            "poll_messages",
            client.poll_messages(
                &named("full"),
                &named("events"),
                Some(0),
                &Consumer::new(Identifier::numeric(1).unwrap()),
                &PollingStrategy::offset(offset),
                1_000,
                false,
            ),
        )
        .await
        .unwrap_or_else(|error| panic!("{what}: poll at {offset}: {error}"));
        if batch.messages.is_empty() {
            break;
        }
        for message in &batch.messages {
            assert_eq!(message.header.offset, polled.len() as u64, "{what}: offsets are dense");
            polled.push((message.header.id, message.payload.clone()));
        }
    }
    assert_eq!(polled.len(), ledger.0.len(), "{what}: messages stored");
    assert!(polled == ledger.0, "{what}: a stored message differs from the one acknowledged");
}

async fn stream_names(client: &IggyClient) -> Vec<String> {
    let streams = bounded("get_streams", client.get_streams()).await.expect("get_streams");
    streams.into_iter().map(|s| s.name).collect()
}

/// Creates streams until the full disk refuses one with 10006 and returns those created.
async fn create_streams_until_refused(client: &IggyClient) -> Vec<String> {
    let mut created = Vec::new();
    for i in 0..ATTEMPTS_MAX {
        let name = format!("extra-{i:04}");
        match bounded("create_stream", client.create_stream(&name)).await {
            Ok(_) => created.push(name),
            Err(error) => {
                assert_eq!(error.as_code(), CANNOT_WRITE_TO_FILE, "create_stream on a full disk: {error}");
                let again = bounded("create_stream", client.create_stream("extra-again")).await;
                let code = again.as_ref().map_err(IggyError::as_code).err();
                assert_eq!(code, Some(CANNOT_WRITE_TO_FILE), "the next create_stream: {again:?}");
                return created;
            }
        }
    }
    panic!("{ATTEMPTS_MAX} streams created on a full {SMALL} tmpfs");
}

fn count_lines(log: &str, needle: &str) -> usize {
    log.lines().filter(|line| line.contains(needle)).count()
}

async fn disk_fills_and_recovers(durability: &str) {
    let started = Instant::now();
    let Some(mut jail) = Jail::start(durability) else { return };
    let client = root_client(jail.address).await;
    bounded("create_stream", client.create_stream("full")).await.expect("create_stream");
    let options = TopicCreateOptions { partitions_count: Some(1), ..TopicCreateOptions::default() };
    bounded("create_topic", client.create_topic(&named("full"), "events", &options)).await.expect("create_topic");

    // Fill the tmpfs to the last page: large batches first, then smaller ones.
    let mut ledger = Ledger::default();
    let mut refusals = 0;
    for (count, size) in [(16, 4_000), (4, 1_000), (1, 200), (1, 1)] {
        refusals += fill(&client, &mut ledger, count, size).await;
    }
    assert!(ledger.0.len() > 100, "only {} messages fit in {SMALL}", ledger.0.len());
    // The connection stays usable: more refusals, each clear, no hang.
    for _ in 0..5 {
        let error = send(&client, &ledger.batch(2, 500)).await.expect_err("a send on a full disk");
        assert_eq!(error.as_code(), CANNOT_SAVE_MESSAGES_TO_SEGMENT, "{error}");
        refusals += 1;
    }
    assert_holds(&client, &ledger, "while full").await;
    assert!(stream_names(&client).await.contains(&"full".to_string()), "metadata reads go on");
    let created = create_streams_until_refused(&client).await;
    let log = jail.log();
    let warnings = count_lines(&log, "write refused: the disk is full");
    assert!((1..=2).contains(&warnings), "{warnings} refusal warnings for {refusals} refusals (throttled)\n{log}");
    assert!(count_lines(&log, "metadata change refused: the disk is full") >= 1, "{log}");

    // Space returns: sends and changes succeed at once, at the next offset.
    jail.grow();
    let batch = ledger.batch(8, 2_000);
    send(&client, &batch).await.expect("a send once space returned");
    ledger.0.extend(batch);
    bounded("create_stream", client.create_stream("after-grow")).await.expect("create_stream once space returned");
    assert_holds(&client, &ledger, "after the tmpfs grew").await;
    close(client).await;
    assert!(!jail.log().contains("panicked"), "{}", jail.log());

    // A restart finds everything acknowledged, and nothing refused.
    jail.restart();
    let client = root_client(jail.address).await;
    assert_holds(&client, &ledger, "after a restart").await;
    let names = stream_names(&client).await;
    for name in created.iter().map(String::as_str).chain(["full", "after-grow"]) {
        assert!(names.iter().any(|n| n == name), "stream {name} lost across the restart: {names:?}");
    }
    assert!(!names.iter().any(|n| n.starts_with("extra-again")), "a refused stream exists: {names:?}");
    assert_eq!(names.len(), created.len() + 2, "{names:?}");
    let batch = ledger.batch(3, 100);
    send(&client, &batch).await.expect("a send after the restart");
    ledger.0.extend(batch);
    assert_holds(&client, &ledger, "after the restart and a send").await;
    close(client).await;
    jail.finish();
    eprintln!("disk_full ({durability}): {refusals} refusals, {} messages, {:?}", ledger.0.len(), started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_sends_clearly_and_recovers_under_always() {
    disk_fills_and_recovers("always").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_sends_clearly_and_recovers_under_never() {
    disk_fills_and_recovers("never").await;
}
