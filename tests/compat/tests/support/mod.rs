//! Harness shared by the compatibility tests: runs the real `whippet-server` binary on loopback with a
//! temporary data directory, independent of which SDK version talks to it.
//!
//! A [`Server`] owns one child process, its data directory and its port. It waits for the server's
//! `listening on <addr>` log line, stops it with SIGTERM and asserts exit status 0, and prints the tail
//! of the server's log when a test panics while it is alive.
#![allow(dead_code)]

use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long the server may take to print `listening on` after it was spawned.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a graceful shutdown (SIGTERM) may take before the test fails.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);
/// Bound on every single SDK call made by the tests.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// The root user every fresh data directory starts with (id 0).
pub const ROOT_USERNAME: &str = "iggy";
pub const ROOT_PASSWORD: &str = "iggy";
pub const ROOT_USER_ID: u32 = 0;
/// `IggyError` codes the tests compare against (protocol.md §8; equal in SDK 0.10 and 0.11).
pub const CODE_UNAUTHENTICATED: u32 = 40;
pub const CODE_UNAUTHORIZED: u32 = 41;
pub const CODE_INVALID_CREDENTIALS: u32 = 42;
pub const CODE_USER_INACTIVE: u32 = 47;
pub const CODE_INVALID_PERSONAL_ACCESS_TOKEN: u32 = 53;
pub const CODE_PERSONAL_ACCESS_TOKEN_EXPIRED: u32 = 54;
pub const CODE_STREAM_NAME_ALREADY_EXISTS: u32 = 1012;
pub const CODE_TOPIC_NAME_ALREADY_EXISTS: u32 = 2013;
pub const CODE_CONSUMER_GROUP_NAME_ALREADY_EXISTS: u32 = 5004;
/// The line the server logs (stdout or stderr) once its listener accepts connections.
const READY_MARKER: &str = "listening on";
/// How many of the server's last log lines a failure message shows.
const LOG_TAIL_LINES: usize = 80;

/// The `whippet-server` executable: `WHIPPET_SERVER_BIN`, else `$CARGO_TARGET_DIR/debug/whippet-server`,
/// else `<workspace>/target/debug/whippet-server`. Fails the test (at run time) when it does not exist.
pub fn server_binary() -> PathBuf {
    let path = if let Some(path) = std::env::var_os("WHIPPET_SERVER_BIN") {
        PathBuf::from(path)
    } else if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        PathBuf::from(target).join("debug").join("whippet-server")
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/whippet-server")
    };
    assert!(
        path.is_file(),
        "whippet-server binary not found at {}: run `cargo build --bin whippet-server` first \
         (or set WHIPPET_SERVER_BIN=/path/to/whippet-server)",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1: bind port 0, read what the kernel chose, release it.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// How a test wants the server started.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub shards: u32,
    /// `--heartbeat-interval` (humantime, e.g. `1s`); `None` keeps the server's default.
    pub heartbeat_interval: Option<String>,
    /// A TOML configuration file passed with `--config` (e.g. `[storage] segment_size = 4096`).
    pub config_toml: Option<String>,
}

impl Default for ServerOptions {
    /// Two unpinned shards, `--durability always`.
    fn default() -> Self {
        Self { shards: 2, heartbeat_interval: None, config_toml: None }
    }
}

impl ServerOptions {
    pub fn heartbeat_interval(mut self, interval: &str) -> Self {
        self.heartbeat_interval = Some(interval.to_owned());
        self
    }

    pub fn config_toml(mut self, toml: &str) -> Self {
        self.config_toml = Some(toml.to_owned());
        self
    }
}

/// One running `whippet-server` process with its own data directory and port.
pub struct Server {
    address: SocketAddr,
    /// Holds `data/` (the server's data directory) and `whippet.toml`.
    _root: tempfile::TempDir,
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Two shards on a fresh data directory and a free port; returns once the server is ready.
    pub fn start() -> Self {
        Self::start_with(ServerOptions::default())
    }

    pub fn start_with(options: ServerOptions) -> Self {
        let root = tempfile::Builder::new().prefix("whippet-compat-").tempdir().expect("tempdir");
        let data_dir = root.path().join("data");
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut command = Command::new(server_binary());
        command
            .arg("--tcp-address")
            .arg(address.to_string())
            .arg("--shards")
            .arg(options.shards.to_string())
            .arg("--no-pin")
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--durability")
            .arg("always");
        if let Some(interval) = &options.heartbeat_interval {
            command.arg("--heartbeat-interval").arg(interval);
        }
        if let Some(toml) = &options.config_toml {
            let path = root.path().join("whippet.toml");
            std::fs::write(&path, toml).expect("write whippet.toml");
            command.arg("--config").arg(path);
        }
        // The server reads `WHIPPET_<SECTION>_<KEY>` as configuration: `WHIPPET_SERVER_BIN` would be
        // taken for an unknown `server.bin` key.
        command.env_remove("WHIPPET_SERVER_BIN");
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|error| panic!("cannot spawn {command:?}: {error}"));
        let log = Arc::<Mutex<Vec<String>>>::default();
        let (ready_tx, ready_rx) = mpsc::channel();
        forward_lines(child.stdout.take().expect("piped stdout"), "out", Arc::clone(&log), ready_tx.clone());
        forward_lines(child.stderr.take().expect("piped stderr"), "err", Arc::clone(&log), ready_tx);
        let mut server = Self { address, _root: root, child: Some(child), log };
        server.wait_ready(&ready_rx, &command);
        server
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is not running").id()
    }

    /// Graceful shutdown: SIGTERM, wait (bounded) and assert the process exited with status 0.
    pub fn stop(mut self) {
        let status = self.signal_and_wait(libc::SIGTERM);
        assert!(status.success(), "whippet-server did not exit 0 after SIGTERM: {status}\n{}", self.log_tail());
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let from = log.len().saturating_sub(LOG_TAIL_LINES);
        format!("--- last {} line(s) of whippet-server output ---\n{}", log.len() - from, log[from..].join("\n"))
    }

    fn wait_ready(&mut self, ready: &Receiver<()>, command: &Command) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match ready.recv_timeout(Duration::from_millis(50)) {
                Ok(()) => return,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
            let child = self.child.as_mut().expect("child");
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                thread::sleep(Duration::from_millis(100));
                panic!("whippet-server exited before it was ready ({status}); {command:?}\n{}", self.log_tail());
            }
            if Instant::now() >= deadline {
                let _ = self.signal_and_wait(libc::SIGKILL);
                panic!("whippet-server did not log '{READY_MARKER}' within {STARTUP_TIMEOUT:?}\n{}", self.log_tail());
            }
        }
    }

    fn signal_and_wait(&mut self, signal: libc::c_int) -> ExitStatus {
        let mut child = self.child.take().expect("server is not running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: `pid` is our own child, not yet reaped, so the id cannot have been reused.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}): {}", std::io::Error::last_os_error());
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                thread::sleep(Duration::from_millis(50));
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "whippet-server did not exit within {SHUTDOWN_TIMEOUT:?} of signal {signal}\n{}",
                    self.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

/// Copies every line of `source` into `log` and signals `ready` on the first ready line.
fn forward_lines(
    source: impl Read + Send + 'static,
    stream: &'static str,
    log: Arc<Mutex<Vec<String>>>,
    ready: mpsc::Sender<()>,
) {
    thread::Builder::new()
        .name(format!("server-std{stream}"))
        .spawn(move || {
            let mut announced = false;
            for line in BufReader::new(source).lines() {
                let Ok(line) = line else { break };
                if !announced && line.contains(READY_MARKER) {
                    announced = true;
                    let _ = ready.send(());
                }
                log.lock().unwrap_or_else(|e| e.into_inner()).push(format!("{stream}: {line}"));
            }
        })
        .expect("spawn log reader thread");
}

/// Awaits `future`, failing the test if it takes longer than [`CALL_TIMEOUT`].
pub async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(CALL_TIMEOUT, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: no answer within {CALL_TIMEOUT:?}"),
    }
}

/// Connection-string options shared by every test client: give up quickly instead of reconnecting
/// forever, so a server that drops the connection fails the test rather than hanging it.
pub const CLIENT_OPTIONS: &str =
    "reconnection_retries=2&reconnection_interval=200ms&reestablish_after=100ms&nodelay=true";

/// `iggy://user:password@address?options` (auto-login during `connect()`), accepted by both SDKs.
pub fn connection_string(address: SocketAddr, username: &str, password: &str, extra_options: &str) -> String {
    format!("iggy://{username}:{password}@{address}?{CLIENT_OPTIONS}{extra_options}")
}

/// `iggy://token@address?options`: a credential without `:` is a personal access token.
pub fn token_connection_string(address: SocketAddr, token: &str) -> String {
    format!("iggy://{token}@{address}?{CLIENT_OPTIONS}")
}

/// xxHash32 with seed 0 of `key`: where both SDK generations' `MessagesKey` sends land
/// (`xxh32(key) % partitions_count`, protocol.md §2.4).
pub fn key_partition(key: &str, partitions: u32) -> u32 {
    xxhash_rust::xxh32::xxh32(key.as_bytes(), 0) % partitions
}

/// Polls `condition` every 100 ms until it holds or `limit` passes; returns whether it held.
pub async fn eventually<F, Fut>(limit: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
