//! Harness for the end-to-end tests: runs the real `whippet-server` binary on loopback and talks to it
//! with the official Apache Iggy SDK 0.11.0.
//!
//! A [`Server`] owns one child process, its data directory and its port. It waits for the server's
//! `listening on <addr>` log line before handing the address out, stops it with SIGTERM (and asserts a
//! clean exit 0), can SIGKILL it, and restarts it on the same data directory and port.
#![allow(dead_code)]

use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use iggy::prelude::{Client, IggyClient, IggyError, UserClient};

/// How long the server may take to print `listening on` after it was spawned.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a graceful shutdown (SIGTERM) may take before the test fails.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);
/// Bound on every single SDK call made by the tests.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// The root user every fresh data directory starts with.
pub const ROOT_USERNAME: &str = "iggy";
pub const ROOT_PASSWORD: &str = "iggy";
/// The line the server logs (stdout or stderr) once its listener accepts connections.
const READY_MARKER: &str = "listening on";
/// How many of the server's last log lines a failure message shows.
const LOG_TAIL_LINES: usize = 60;

/// The `whippet-server` executable. `WHIPPET_SERVER_BIN` overrides the one cargo built; without either
/// the test fails here, at run time, with a message saying why (never at compile time).
pub fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("WHIPPET_SERVER_BIN") {
        return PathBuf::from(path);
    }
    match option_env!("CARGO_BIN_EXE_whippet-server") {
        Some(path) => PathBuf::from(path),
        None => panic!(
            "the whippet-server binary target does not exist yet: crates/server must define \
             [[bin]] whippet-server (src/main.rs) so cargo sets CARGO_BIN_EXE_whippet-server for \
             these tests, or set WHIPPET_SERVER_BIN=/path/to/whippet-server"
        ),
    }
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
    /// `false` passes `--no-pin`.
    pub pin: bool,
    /// `always`, `interval:MS` or `never`.
    pub durability: String,
    /// More command-line flags, after the ones above (e.g. `--tls-cert FILE`).
    pub args: Vec<String>,
}

impl ServerOptions {
    /// `shards` unpinned shards under `--durability always`.
    pub fn new(shards: u32) -> Self {
        Self { shards, pin: false, durability: "always".to_owned(), args: Vec::new() }
    }

    pub fn pinned(mut self) -> Self {
        self.pin = true;
        self
    }

    pub fn durability(mut self, durability: &str) -> Self {
        self.durability = durability.to_owned();
        self
    }

    /// Appends command-line flags.
    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> Self {
        self.args.extend(args.iter().map(|arg| arg.as_ref().to_owned()));
        self
    }
}

/// One running (or stopped) `whippet-server` process with its own data directory and port.
pub struct Server {
    options: ServerOptions,
    address: SocketAddr,
    data_dir: tempfile::TempDir,
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
    starts: u32,
}

impl Server {
    /// Starts a server on a fresh temporary data directory and a free port; returns once it is ready.
    pub fn start(options: ServerOptions) -> Self {
        let data_dir = tempfile::Builder::new().prefix("whippet-e2e-").tempdir().expect("tempdir");
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut server = Self { options, address, data_dir, child: None, log: Arc::default(), starts: 0 };
        server.spawn();
        server
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    /// The server's process id. Panics while the server is stopped.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is not running").id()
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Everything the server logged so far (both runs' output after a restart), one entry per line.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Graceful shutdown: SIGTERM, wait (bounded) and assert the process exited with status 0.
    pub fn stop(&mut self) {
        let status = self.signal_and_wait(libc::SIGTERM, SHUTDOWN_TIMEOUT);
        assert!(status.success(), "whippet-server did not exit 0 after SIGTERM: {status}\n{}", self.log_tail());
    }

    /// Crash: SIGKILL and reap. Nothing the server did not make durable before this may survive.
    pub fn kill9(&mut self) {
        self.signal_and_wait(libc::SIGKILL, SHUTDOWN_TIMEOUT);
    }

    /// Starts the server again on the same data directory and port. A running server is first
    /// stopped gracefully (asserting exit 0); after [`Server::kill9`] it is simply spawned again.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        self.spawn();
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap();
        let from = log.len().saturating_sub(LOG_TAIL_LINES);
        format!("--- last {} line(s) of whippet-server output ---\n{}", log.len() - from, log[from..].join("\n"))
    }

    fn command(&self) -> Command {
        let mut command = Command::new(server_binary());
        command
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .arg("--tcp-address")
            .arg(self.address.to_string())
            .arg("--shards")
            .arg(self.options.shards.to_string())
            .arg("--durability")
            .arg(&self.options.durability);
        if !self.options.pin {
            command.arg("--no-pin");
        }
        command.args(&self.options.args);
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        command
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "spawn while a server process is still running");
        self.starts += 1;
        let mut command = self.command();
        let mut child = command.spawn().unwrap_or_else(|error| panic!("cannot spawn {command:?}: {error}"));
        let (ready_tx, ready_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        forward_lines(stdout, "out", self.starts, Arc::clone(&self.log), ready_tx.clone());
        forward_lines(stderr, "err", self.starts, Arc::clone(&self.log), ready_tx);
        self.child = Some(child);
        self.wait_ready(&ready_rx, &command);
    }

    fn wait_ready(&mut self, ready: &Receiver<String>, command: &Command) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match ready.recv_timeout(Duration::from_millis(100)) {
                Ok(_line) => return,
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
            }
            let child = self.child.as_mut().expect("child");
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                // Give the reader threads a moment to drain the last lines of a crashed start.
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "whippet-server exited before it was ready ({status}); command: {command:?}\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() >= deadline {
                let _ = self.signal_and_wait(libc::SIGKILL, SHUTDOWN_TIMEOUT);
                panic!(
                    "whippet-server did not log '{READY_MARKER}' within {STARTUP_TIMEOUT:?}; command: {command:?}\n{}",
                    self.log_tail()
                );
            }
        }
    }

    fn signal_and_wait(&mut self, signal: libc::c_int, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("server is not running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: `pid` is our own child, not yet reaped, so the id cannot have been reused.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed: {}", std::io::Error::last_os_error());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                // Let the reader threads collect the shutdown lines.
                thread::sleep(Duration::from_millis(50));
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("whippet-server did not exit within {timeout:?} after signal {signal}\n{}", self.log_tail());
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

/// Copies every line of `source` into `log` (and to the test's stderr, which cargo shows for a failed
/// test) and reports the first line containing the ready marker on `ready`.
fn forward_lines(
    source: impl Read + Send + 'static,
    stream: &'static str,
    run: u32,
    log: Arc<Mutex<Vec<String>>>,
    ready: mpsc::Sender<String>,
) {
    thread::Builder::new()
        .name(format!("server-std{stream}"))
        .spawn(move || {
            let mut announced = false;
            for line in BufReader::new(source).lines() {
                let Ok(line) = line else { break };
                eprintln!("[whippet-server#{run} {stream}] {line}");
                if !announced && line.contains(READY_MARKER) {
                    announced = true;
                    let _ = ready.send(line.clone());
                }
                log.lock().unwrap().push(format!("#{run} {stream}: {line}"));
            }
        })
        .expect("spawn log reader thread");
}

/// Awaits `future`, failing the test if it takes longer than [`CALL_TIMEOUT`].
pub async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    bounded_for(CALL_TIMEOUT, what, future).await
}

/// Awaits `future`, failing the test if it takes longer than `limit`.
pub async fn bounded_for<F: Future>(limit: Duration, what: &str, future: F) -> F::Output {
    match tokio::time::timeout(limit, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: no answer within {limit:?}"),
    }
}

/// Connection-string options shared by every test client: give up quickly instead of reconnecting
/// forever, so a server that drops the connection fails the test rather than hanging it.
const CLIENT_OPTIONS: &str = "reconnection_retries=2&reconnection_interval=200ms&reestablish_after=100ms&nodelay=true";

/// An SDK client for `address` that signs in as `username`/`password` during `connect()`
/// (the connection string carries the credentials, which means auto-login). Not yet connected.
pub fn client_with_credentials(address: SocketAddr, username: &str, password: &str) -> IggyClient {
    let connection_string = format!("iggy://{username}:{password}@{address}?{CLIENT_OPTIONS}");
    IggyClient::from_connection_string(&connection_string)
        .unwrap_or_else(|error| panic!("connection string {connection_string}: {error}"))
}

/// An SDK client for `address` without credentials (auto-login disabled). Not yet connected.
pub fn client_without_credentials(address: SocketAddr) -> IggyClient {
    IggyClient::builder()
        .with_tcp()
        .with_server_address(address.to_string())
        .with_reconnection_max_retries(Some(0))
        .with_no_delay()
        .build()
        .expect("build TCP client")
}

/// A connected client logged in as the root user.
pub async fn root_client(address: SocketAddr) -> IggyClient {
    let client = client_with_credentials(address, ROOT_USERNAME, ROOT_PASSWORD);
    bounded("connect + login as iggy/iggy", client.connect()).await.expect("connect + login as iggy/iggy");
    client
}

/// A connected client without a session, signed in explicitly with `login_user`.
pub async fn login(address: SocketAddr, username: &str, password: &str) -> Result<IggyClient, IggyError> {
    let client = client_without_credentials(address);
    bounded("connect", client.connect()).await?;
    bounded("login_user", client.login_user(username, password)).await?;
    Ok(client)
}

/// Closes a client's connection and stops its heartbeat, so a server restart does not race it.
pub async fn close(client: IggyClient) {
    let _ = tokio::time::timeout(Duration::from_secs(5), client.shutdown()).await;
}
