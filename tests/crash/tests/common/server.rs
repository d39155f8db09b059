//! One `whippet-server` process on a fixed data directory and port, which can be killed with
//! SIGKILL and started again on the same directory and port (testkit's `TestServer` gives every
//! start a fresh directory and stops only gracefully). Every wait is bounded; a process still
//! running when its handle drops is killed.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use whippet_testkit::{SHUTDOWN_TIMEOUT, STARTUP_TIMEOUT, server_binary};

const READY_MARKER: &str = "listening on";
const LOG_TAIL_LINES: usize = 40;
const BIND_ATTEMPTS: u32 = 50;
const BIND_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// What every start of the server gets: the same directory, port and durability.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub address: SocketAddr,
    /// The `--durability` flag: `always` or `interval:MS`.
    pub durability: String,
}

/// Everything one run of the server wrote to stdout and stderr.
#[derive(Debug, Default)]
pub struct ServerLog {
    pub lines: Vec<String>,
}

impl ServerLog {
    pub fn panicked(&self) -> bool {
        self.lines.iter().any(|line| line.contains("panicked"))
    }

    /// Whether the server got as far as listening.
    pub fn was_ready(&self) -> bool {
        self.lines.iter().any(|line| line.contains(READY_MARKER))
    }
}

/// One running server process.
pub struct ServerProcess {
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
    ready: mpsc::Receiver<()>,
    readers: Vec<JoinHandle<()>>,
}

impl ServerProcess {
    /// Starts the server and waits until it listens. Retries while the port is taken: between
    /// a kill and the restart, another socket may have been given the port as its local one.
    pub fn start(config: &ServerConfig) -> ServerProcess {
        for _ in 0..BIND_ATTEMPTS {
            let mut server = ServerProcess::spawn(config);
            match server.wait_ready() {
                Ok(()) => return server,
                Err(status) if server.log_contains("cannot listen on") => {
                    eprintln!("whippet-server could not listen ({status}); retrying");
                    thread::sleep(BIND_RETRY_PAUSE);
                }
                Err(status) => panic!("whippet-server exited before it was ready ({status})\n{}", server.log_tail()),
            }
        }
        panic!("whippet-server could not listen on {} in {BIND_ATTEMPTS} attempts", config.address)
    }

    /// Starts the server without waiting for it.
    pub fn spawn(config: &ServerConfig) -> ServerProcess {
        let mut command = Command::new(server_binary());
        command
            .arg("--data-dir")
            .arg(&config.data_dir)
            .arg("--tcp-address")
            .arg(config.address.to_string())
            .args(["--shards", "2", "--no-pin", "--durability", &config.durability])
            // Recovery is counted from the `warn` lines and readiness from an `info` line.
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|error| panic!("cannot spawn {command:?}: {error}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready) = mpsc::channel();
        let readers = vec![
            forward(child.stdout.take().expect("stdout"), Arc::clone(&log), ready_tx.clone()),
            forward(child.stderr.take().expect("stderr"), Arc::clone(&log), ready_tx),
        ];
        ServerProcess { child: Some(child), log, ready, readers }
    }

    /// Waits, at most [`STARTUP_TIMEOUT`], for the `listening on` line; the exit status if the
    /// process ended first.
    fn wait_ready(&mut self) -> Result<(), ExitStatus> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if self.ready.recv_timeout(Duration::from_millis(50)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.exited() {
                return Err(status);
            }
            assert!(
                Instant::now() < deadline,
                "whippet-server not ready within {STARTUP_TIMEOUT:?}\n{}",
                self.log_tail()
            );
        }
    }

    /// SIGKILL. Fails if the process had already exited on its own.
    pub fn kill(mut self) -> ServerLog {
        let mut child = self.child.take().expect("server is running");
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("whippet-server exited on its own ({status}) before the kill\n{}", self.log_tail());
        }
        signal(&child, libc::SIGKILL);
        let status = child.wait().expect("wait for the killed server");
        assert_eq!(status.signal(), Some(libc::SIGKILL), "whippet-server ended with {status}\n{}", self.log_tail());
        self.collect()
    }

    /// SIGTERM, and a bounded wait for exit status 0.
    pub fn stop(mut self) -> ServerLog {
        let mut child = self.child.take().expect("server is running");
        signal(&child, libc::SIGTERM);
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                signal(&child, libc::SIGKILL);
                let _ = child.wait();
                panic!("whippet-server did not exit within {SHUTDOWN_TIMEOUT:?} of SIGTERM\n{}", self.log_tail());
            }
            thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "whippet-server stopped with {status}\n{}", self.log_tail());
        self.collect()
    }

    fn log_contains(&self, text: &str) -> bool {
        self.log.lock().unwrap().iter().any(|line| line.contains(text))
    }

    pub fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap();
        let from = log.len().saturating_sub(LOG_TAIL_LINES);
        format!("--- last {} line(s) of whippet-server output ---\n{}", log.len() - from, log[from..].join("\n"))
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().expect("try_wait")?;
        self.child = None;
        // Let the readers take the last lines, which say why.
        thread::sleep(Duration::from_millis(100));
        Some(status)
    }

    /// The whole log, once the process is gone and its pipes are closed.
    fn collect(&mut self) -> ServerLog {
        for reader in std::mem::take(&mut self.readers) {
            reader.join().expect("log reader");
        }
        ServerLog { lines: std::mem::take(&mut *self.log.lock().unwrap()) }
    }
}

impl Drop for ServerProcess {
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

fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // SAFETY: `pid` is our own unreaped child, so it cannot name another process.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}): {}", std::io::Error::last_os_error());
}

fn forward(
    source: impl Read + Send + 'static,
    log: Arc<Mutex<Vec<String>>>,
    ready: mpsc::Sender<()>,
) -> JoinHandle<()> {
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
    })
}
