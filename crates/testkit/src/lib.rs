//! Runs the real `whippet-server` binary for tests of the tools (CLI, bench): a fresh data
//! directory, a free loopback port, readiness from the `listening on` log line, SIGTERM on
//! stop (asserting exit 0) and kill on drop. Every wait is bounded.
//!
//! The binary is `WHIPPET_SERVER_BIN` when set, else the `whippet-server` cargo built next to
//! the running test (a workspace `cargo test`/`nextest` builds every binary first).

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long the server may take to log `listening on`.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a graceful shutdown may take.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);
pub const ROOT_USERNAME: &str = "iggy";
pub const ROOT_PASSWORD: &str = "iggy";
const READY_MARKER: &str = "listening on";
const LOG_TAIL_LINES: usize = 60;

/// The `whippet-server` executable the tests run.
pub fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("WHIPPET_SERVER_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/<test> -> target/<profile>/whippet-server
    let exe = std::env::current_exe().expect("current_exe");
    let candidate = exe.parent().and_then(Path::parent).map(|dir| dir.join("whippet-server"));
    match candidate {
        Some(path) if path.is_file() => path,
        _ => panic!(
            "no whippet-server binary next to {}: run the workspace tests (`cargo test --workspace`), \
             or `cargo build --bin whippet-server` first, or set WHIPPET_SERVER_BIN",
            exe.display()
        ),
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// One running `whippet-server` process.
pub struct TestServer {
    address: SocketAddr,
    data_dir: tempfile::TempDir,
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
}

impl TestServer {
    /// Two unpinned shards, durability `never`: what tool tests need, quickly.
    pub fn start() -> TestServer {
        TestServer::start_with(&["--shards", "2", "--durability", "never"])
    }

    /// Starts with extra flags (after `--data-dir`, `--tcp-address` and `--no-pin`).
    pub fn start_with(flags: &[&str]) -> TestServer {
        let data_dir = tempfile::Builder::new().prefix("whippet-tools-").tempdir().expect("tempdir");
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut command = Command::new(server_binary());
        command
            .arg("--data-dir")
            .arg(data_dir.path())
            .arg("--tcp-address")
            .arg(address.to_string())
            .arg("--no-pin")
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|error| panic!("cannot spawn {command:?}: {error}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        forward(child.stdout.take().expect("stdout"), Arc::clone(&log), ready_tx.clone());
        forward(child.stderr.take().expect("stderr"), Arc::clone(&log), ready_tx);
        let mut server = TestServer { address, data_dir, child: Some(child), log };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if ready_rx.recv_timeout(Duration::from_millis(100)).is_ok() {
                return server;
            }
            if let Some(status) = server.child.as_mut().and_then(|c| c.try_wait().expect("try_wait")) {
                server.child = None;
                thread::sleep(Duration::from_millis(100));
                panic!("whippet-server exited before it was ready ({status}): {command:?}\n{}", server.log_tail());
            }
            if Instant::now() >= deadline {
                panic!("whippet-server did not log '{READY_MARKER}' within {STARTUP_TIMEOUT:?}\n{}", server.log_tail());
            }
        }
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The server's process id (`/proc/<pid>/status` for its memory); `None` once stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|child| child.try_wait().ok().flatten().is_none())
    }

    /// Whether the server ever logged a panic.
    pub fn panicked(&self) -> bool {
        self.log.lock().unwrap().iter().any(|line| line.contains("panicked"))
    }

    /// Graceful stop: SIGTERM, bounded wait, and the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server is not running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: `pid` is our own unreaped child, so it cannot name another process.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill({pid}, SIGTERM): {}", std::io::Error::last_os_error());
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("whippet-server did not exit within {SHUTDOWN_TIMEOUT:?} of SIGTERM\n{}", self.log_tail());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap();
        let from = log.len().saturating_sub(LOG_TAIL_LINES);
        format!("--- last {} line(s) of whippet-server output ---\n{}", log.len() - from, log[from..].join("\n"))
    }
}

impl Drop for TestServer {
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

fn forward(source: impl Read + Send + 'static, log: Arc<Mutex<Vec<String>>>, ready: mpsc::Sender<()>) {
    thread::spawn(move || {
        let mut announced = false;
        for line in BufReader::new(source).lines() {
            let Ok(line) = line else { break };
            if !announced && line.contains(READY_MARKER) {
                announced = true;
                let _ = ready.send(());
            }
            log.lock().unwrap().push(line);
        }
    });
}
