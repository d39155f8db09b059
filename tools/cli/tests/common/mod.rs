//! Runs the real `whippet` binary against a [`TestServer`], with every run bounded and the
//! environment cleared of `WHIPPET_*` settings (and the config file pointed at a fresh
//! directory) so a developer's own profile can never leak in.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub use whippet_testkit::TestServer;

/// Longest any one CLI run may take.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(20);

const WHIPPET_VARIABLES: [&str; 10] = [
    "WHIPPET_TLS",
    "WHIPPET_TLS_CA_FILE",
    "WHIPPET_TLS_DOMAIN",
    "WHIPPET_ADDRESS",
    "WHIPPET_USERNAME",
    "WHIPPET_PASSWORD",
    "WHIPPET_TOKEN",
    "WHIPPET_DIALECT",
    "WHIPPET_PROFILE",
    "WHIPPET_CONFIG",
];

/// What one run left behind.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// The CLI pointed at one server.
pub struct Cli {
    pub address: String,
    pub directory: tempfile::TempDir,
}

impl Cli {
    pub fn new(server: &TestServer) -> Cli {
        Cli::at(&server.address().to_string())
    }

    /// The CLI pointed at `address`, which need not have a server.
    pub fn at(address: &str) -> Cli {
        let directory = tempfile::Builder::new().prefix("whippet-cli-test-").tempdir().expect("tempdir");
        Cli { address: address.to_owned(), directory }
    }

    /// Where `WHIPPET_CONFIG` points (the file does not exist until a test writes it).
    pub fn config_path(&self) -> PathBuf {
        self.directory.path().join("cli.toml")
    }

    /// `whippet --address ADDRESS` with a clean environment.
    pub fn command(&self) -> Command {
        let mut command = self.bare();
        command.arg("--address").arg(&self.address);
        command
    }

    /// `whippet` with a clean environment and no address.
    pub fn bare(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_whippet"));
        for variable in WHIPPET_VARIABLES {
            command.env_remove(variable);
        }
        command.env("WHIPPET_CONFIG", self.config_path()).env("RUST_BACKTRACE", "0");
        command
    }

    pub fn run(&self, args: &[&str]) -> Outcome {
        let mut command = self.command();
        command.args(args);
        run_bounded(command, None)
    }

    /// Runs and asserts exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let outcome = self.run(args);
        assert_eq!(outcome.code, Some(0), "whippet {args:?} failed: {outcome:#?}");
        outcome.stdout
    }

    /// Runs with `--json`, asserts exit 0, and parses stdout as one JSON document.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        let stdout = self.ok(&args);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|error| panic!("whippet {args:?} printed no JSON ({error}): {stdout}"))
    }

    /// Runs and asserts the exit code; returns the outcome.
    pub fn fails(&self, args: &[&str], code: i32) -> Outcome {
        let outcome = self.run(args);
        assert_eq!(outcome.code, Some(code), "whippet {args:?} should exit {code}: {outcome:#?}");
        outcome
    }

    /// Runs with `input` on standard input and asserts exit 0.
    pub fn ok_with_input(&self, args: &[&str], input: &str) -> String {
        let mut command = self.command();
        command.args(args);
        let outcome = run_bounded(command, Some(input));
        assert_eq!(outcome.code, Some(0), "whippet {args:?} failed: {outcome:#?}");
        outcome.stdout
    }
}

/// Runs `command` to the end within [`RUN_TIMEOUT`], killing it (and failing) past that.
pub fn run_bounded(mut command: Command, input: Option<&str>) -> Outcome {
    command.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|error| panic!("cannot spawn {command:?}: {error}"));
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    let stdout = collect(child.stdout.take().expect("stdout"));
    let stderr = collect(child.stderr.take().expect("stderr"));
    let code = wait_bounded(&mut child, RUN_TIMEOUT).unwrap_or_else(|| panic!("{command:?} ran past {RUN_TIMEOUT:?}"));
    Outcome { code, stdout: stdout.join().expect("stdout reader"), stderr: stderr.join().expect("stderr reader") }
}

fn collect(mut source: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = source.read_to_string(&mut text);
        text
    })
}

/// The exit code once `child` exits within `timeout` (`Some(None)` for a signal), or `None`
/// after killing it.
pub fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<Option<i32>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status.code());
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A running `whippet` whose stdout lines arrive on a channel.
pub struct Spawned {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
}

impl Spawned {
    pub fn start(mut command: Command) -> Spawned {
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = command.spawn().unwrap_or_else(|error| panic!("cannot spawn {command:?}: {error}"));
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Spawned { child, lines }
    }

    /// The next stdout line within `timeout`.
    pub fn line(&self, timeout: Duration) -> String {
        self.lines
            .recv_timeout(timeout)
            .unwrap_or_else(|error| panic!("no line from whippet within {timeout:?}: {error}"))
    }

    /// Sends `signal` (e.g. "INT") with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status();
        assert!(status.is_ok_and(|status| status.success()), "kill -{signal} failed");
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
