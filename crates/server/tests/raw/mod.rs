//! Raw-socket helpers for the malformed-input tests: a server launcher that sets the maximum
//! frame size through a TOML config file, blocking VSR and legacy clients that build frames with
//! the `whippet-protocol` codec (so bad bytes can be injected anywhere), and a soft-check
//! collector so one test can report every failed expectation at once.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use whippet_protocol::requests::{ClientVersionInfo, LoginRegister};
use whippet_protocol::vsr::{self, EvictionHeader, HEADER_SIZE, Operation, ReplyHeader, RequestHeader};

use crate::common;

/// Read and write timeout of every test socket: no check waits longer than this for one read.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
const READY_MARKER: &str = "listening on";
const LOG_TAIL_LINES: usize = 60;

/// One `whippet-server` process with `server.max_frame_size` set through `--config`.
pub struct RawServer {
    child: Option<Child>,
    address: SocketAddr,
    max_frame_size: u32,
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl RawServer {
    /// Starts a server with two unpinned shards and the given frame limit; returns once it
    /// logged `listening on`.
    pub fn start(max_frame_size: u32) -> RawServer {
        RawServer::start_with(max_frame_size, "")
    }

    /// As [`RawServer::start`], with more `[server]` keys (`"max_connections = 3\n"`).
    pub fn start_with(max_frame_size: u32, server_keys: &str) -> RawServer {
        let dir = tempfile::Builder::new().prefix("whippet-bad-input-").tempdir().expect("tempdir");
        let config = dir.path().join("whippet.toml");
        std::fs::write(&config, format!("[server]\nmax_frame_size = {max_frame_size}\n{server_keys}"))
            .expect("write config");
        let address = SocketAddr::from(([127, 0, 0, 1], common::free_port()));
        let mut command = Command::new(common::server_binary());
        command
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--tcp-address")
            .arg(address.to_string())
            .arg("--shards")
            .arg("2")
            .arg("--no-pin")
            .arg("--durability")
            .arg("never")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|error| panic!("cannot spawn {command:?}: {error}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        forward(child.stdout.take().expect("stdout"), Arc::clone(&log), ready_tx.clone());
        forward(child.stderr.take().expect("stderr"), Arc::clone(&log), ready_tx);
        let mut server = RawServer { child: Some(child), address, max_frame_size, log, _dir: dir };
        let deadline = Instant::now() + common::STARTUP_TIMEOUT;
        loop {
            match ready_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(()) => return server,
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
            }
            let exited = server.child.as_mut().and_then(|child| child.try_wait().expect("try_wait"));
            if let Some(status) = exited {
                thread::sleep(Duration::from_millis(100));
                panic!("whippet-server exited before it was ready ({status}): {command:?}\n{}", server.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "whippet-server did not log '{READY_MARKER}' in time: {command:?}\n{}",
                server.log_tail()
            );
        }
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    /// The process is still running, never logged a panic, and a fresh connection can PING.
    pub fn healthy(&mut self) -> Result<(), String> {
        if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
            return Err(format!("whippet-server exited: {status}"));
        }
        if let Some(line) = self.log.lock().unwrap().iter().find(|line| line.contains("panicked")) {
            return Err(format!("whippet-server logged a panic: {line}"));
        }
        let mut client = Vsr::connect(self.address)?;
        client.ping().map_err(|error| format!("PING on a fresh connection: {error}"))
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap();
        let from = log.len().saturating_sub(LOG_TAIL_LINES);
        format!("--- last {} line(s) of whippet-server output ---\n{}", log.len() - from, log[from..].join("\n"))
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
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

/// Collects the outcome of many checks against one server, so a single failure does not hide
/// the others. [`Checks::finish`] also asserts the server survived all of them.
pub struct Checks {
    test: &'static str,
    passed: Vec<String>,
    failed: Vec<String>,
}

impl Checks {
    pub fn new(test: &'static str) -> Checks {
        Checks { test, passed: Vec::new(), failed: Vec::new() }
    }

    pub fn check(&mut self, name: &str, result: Result<(), String>) {
        match result {
            Ok(()) => {
                eprintln!("[{}] ok   {name}", self.test);
                self.passed.push(name.to_owned());
            }
            Err(error) => {
                eprintln!("[{}] FAIL {name}: {error}", self.test);
                self.failed.push(format!("{name}: {error}"));
            }
        }
    }

    /// Runs `attempt` and records its outcome under `name`.
    pub fn run(&mut self, name: &str, attempt: impl FnOnce() -> Result<(), String>) {
        self.check(name, attempt());
    }

    /// Runs the final health check and fails the test listing every failed check.
    pub fn finish(mut self, server: &mut RawServer) {
        self.check("server still serves and never panicked", server.healthy());
        assert!(
            self.failed.is_empty(),
            "{} of {} checks failed:\n  - {}\n{}",
            self.failed.len(),
            self.failed.len() + self.passed.len(),
            self.failed.join("\n  - "),
            server.log_tail()
        );
    }
}

/// Runs a fallible block (so `?` can be used inside a check).
pub fn attempt<T>(block: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    block()
}

/// Compares a received value with the expected one.
pub fn expect_eq<T: PartialEq + std::fmt::Debug>(what: &str, found: T, expected: T) -> Result<(), String> {
    if found == expected { Ok(()) } else { Err(format!("{what}: expected {expected:?}, got {found:?}")) }
}

/// A non-zero client id, different for every connection of the test process.
fn new_client_id() -> u128 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    (nanos << 16) | u128::from(NEXT.fetch_add(1, Ordering::Relaxed)) | 1
}

fn io(what: &str, error: std::io::Error) -> String {
    format!("{what}: {error} ({:?})", error.kind())
}

fn connect(address: SocketAddr) -> Result<TcpStream, String> {
    let stream = TcpStream::connect_timeout(&address, IO_TIMEOUT).map_err(|e| io("connect", e))?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| io("set_read_timeout", e))?;
    stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| io("set_write_timeout", e))?;
    stream.set_nodelay(true).map_err(|e| io("set_nodelay", e))?;
    Ok(stream)
}

/// Reads until the peer closes the connection and returns the bytes it sent before closing.
/// A reset counts as closed; a read that times out means the server kept the connection open.
fn read_until_closed(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Ok(received),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {
                eprintln!("    (closed with a reset after {} byte(s))", received.len());
                return Ok(received);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!(
                    "connection still open after {IO_TIMEOUT:?} (received {} byte(s) before: {:02x?})",
                    received.len(),
                    &received[..received.len().min(32)]
                ));
            }
            Err(e) => return Err(io("read while waiting for close", e)),
        }
    }
}

/// `read_exact` with the error turned into text that says whether the peer closed.
fn read_exact(stream: &mut TcpStream, buffer: &mut [u8], what: &str) -> Result<(), String> {
    stream.read_exact(buffer).map_err(|e| match e.kind() {
        ErrorKind::UnexpectedEof => format!("{what}: connection closed by the server"),
        ErrorKind::WouldBlock | ErrorKind::TimedOut => format!("{what}: no answer within {IO_TIMEOUT:?}"),
        _ => io(what, e),
    })
}

/// A frame the server sent on a VSR connection.
#[derive(Debug)]
pub enum Frame {
    Reply(ReplyHeader, Vec<u8>),
    Eviction(EvictionHeader),
}

/// A blocking VSR (protocol 0.11) connection.
pub struct Vsr {
    pub stream: TcpStream,
    pub client: u128,
    pub session: u64,
    /// Last request number consumed by a replicated operation.
    pub request: u64,
}

impl Vsr {
    pub fn connect(address: SocketAddr) -> Result<Vsr, String> {
        Ok(Vsr { stream: connect(address)?, client: new_client_id(), session: 0, request: 0 })
    }

    /// The header an SDK 0.11 client would send for `operation` with a body of `body_len`
    /// bytes: replicated operations consume the next request number, NonReplicated carries
    /// `code` in bytes 196..200, Register goes out with session 0 and request 0.
    pub fn header(&mut self, operation: Operation, code: u32, body_len: usize) -> RequestHeader {
        let (session, request) = match operation {
            Operation::Register => (0, 0),
            Operation::NonReplicated => (self.session, self.request),
            _ => {
                self.request += 1;
                (self.session, self.request)
            }
        };
        RequestHeader {
            size: u32::try_from(HEADER_SIZE + body_len).expect("frame fits u32"),
            client: self.client,
            request,
            operation: operation as u8,
            session,
            non_replicated_code: if operation == Operation::NonReplicated { code } else { 0 },
            ..RequestHeader::default()
        }
    }

    /// Writes raw bytes (a header with any field bent, half a frame, ...).
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream.write_all(bytes).map_err(|e| io("write", e))
    }

    pub fn send(&mut self, header: &RequestHeader, body: &[u8]) -> Result<(), String> {
        let mut frame = header.encode().to_vec();
        frame.extend_from_slice(body);
        self.write(&frame)
    }

    pub fn read_frame(&mut self) -> Result<Frame, String> {
        let mut header = [0u8; HEADER_SIZE];
        read_exact(&mut self.stream, &mut header, "reading a reply header")?;
        match vsr::peek_command(&header) {
            Ok(vsr::Command::Reply) => {
                let reply = ReplyHeader::parse(&header).map_err(|e| format!("bad reply header: {e}"))?;
                let mut body = vec![0u8; reply.body_len()];
                read_exact(&mut self.stream, &mut body, "reading a reply body")?;
                Ok(Frame::Reply(reply, body))
            }
            Ok(vsr::Command::Eviction) => {
                let size = u32::from_le_bytes(header[48..52].try_into().expect("4 bytes"));
                if size as usize != HEADER_SIZE {
                    return Err(format!("eviction frame of size {size}; it is header-only (256)"));
                }
                EvictionHeader::parse(&header).map(Frame::Eviction).map_err(|e| format!("bad eviction header: {e}"))
            }
            other => Err(format!("server sent a header with command {:?} ({other:?})", header[60])),
        }
    }

    /// Sends `header` + `body` and reads the reply; returns `(status, body)`. The reply must
    /// echo the operation and request number, and a non-zero status must come with no body.
    pub fn exchange(&mut self, header: &RequestHeader, body: &[u8]) -> Result<(u32, Vec<u8>), String> {
        self.send(header, body)?;
        match self.read_frame()? {
            Frame::Reply(reply, body) => {
                expect_eq("echoed operation", reply.operation, header.operation)?;
                expect_eq("echoed request number", reply.request, header.request)?;
                if reply.status != 0 && !body.is_empty() {
                    return Err(format!("status {} came with a {}-byte body", reply.status, body.len()));
                }
                Ok((reply.status, body))
            }
            Frame::Eviction(eviction) => Err(format!("evicted instead of answered: {eviction:?}")),
        }
    }

    /// One request; returns `(status, body)`.
    pub fn call(&mut self, operation: Operation, code: u32, body: &[u8]) -> Result<(u32, Vec<u8>), String> {
        let header = self.header(operation, code, body.len());
        self.exchange(&header, body)
    }

    /// The status a request ended with, whichever way the server reports it: the header
    /// status, or for a result-framed operation `status 0` with a body `[count ≥ 1][index][code]`
    /// (protocol.md §3.1, both are valid).
    pub fn status_of(&mut self, operation: Operation, code: u32, body: &[u8]) -> Result<u32, String> {
        let (status, reply) = self.call(operation, code, body)?;
        if status != 0 || !operation.reply_is_result_framed(reply.len()) || reply.len() < 4 {
            return Ok(status);
        }
        let count = u32::from_le_bytes(reply[..4].try_into().expect("4 bytes"));
        match (count, reply.get(8..12)) {
            (0, _) => Ok(0),
            (_, Some(code)) => Ok(u32::from_le_bytes(code.try_into().expect("4 bytes"))),
            (_, None) => Err(format!("result section with count {count} but a {}-byte body", reply.len())),
        }
    }

    pub fn ping(&mut self) -> Result<(), String> {
        let (status, _) = self.call(Operation::NonReplicated, whippet_protocol::codes::PING, &[])?;
        expect_eq("PING status", status, 0)
    }

    /// The connection still answers: PING gets status 0.
    pub fn usable(&mut self) -> Result<(), String> {
        self.ping().map_err(|error| format!("connection not usable afterwards: {error}"))
    }

    /// A LoginRegister body as SDK 0.11 sends it.
    pub fn login_body(protocol_version: u32, username: &str, password: &str) -> Vec<u8> {
        let mut body = BytesMut::new();
        LoginRegister {
            version: ClientVersionInfo {
                protocol_version,
                sdk_name: "rust-sdk".to_owned(),
                sdk_version: "0.11.0".to_owned(),
            },
            username: username.to_owned(),
            password: password.to_owned(),
            context: String::new(),
        }
        .encode(&mut body);
        body.to_vec()
    }

    /// Logs in as iggy/iggy and binds the session from the reply.
    pub fn login(&mut self) -> Result<(), String> {
        let body = Vsr::login_body(vsr::SERVER_PROTOCOL_VERSION, common::ROOT_USERNAME, common::ROOT_PASSWORD);
        let (status, reply) = self.call(Operation::Register, whippet_protocol::codes::LOGIN_REGISTER, &body)?;
        expect_eq("login status", status, 0)?;
        // `[u32 0]` result section, then `[user_id u32][session u64]...`.
        let session = reply.get(8..16).ok_or_else(|| format!("login reply of {} bytes", reply.len()))?;
        self.session = u64::from_le_bytes(session.try_into().expect("8 bytes"));
        self.request = 0;
        if self.session == 0 {
            return Err("login reply carried session 0".to_owned());
        }
        Ok(())
    }

    /// A connected, logged-in client.
    pub fn logged_in(address: SocketAddr) -> Result<Vsr, String> {
        let mut client = Vsr::connect(address)?;
        client.login()?;
        Ok(client)
    }

    /// Waits for the server to close (FIN or reset); returns what it sent first.
    pub fn expect_closed(&mut self) -> Result<Vec<u8>, String> {
        read_until_closed(&mut self.stream)
    }

    /// Waits for the server to close without sending anything more.
    pub fn expect_silent_close(&mut self) -> Result<(), String> {
        match read_until_closed(&mut self.stream)? {
            received if received.is_empty() => Ok(()),
            received => Err(format!(
                "{} more byte(s) before the close: {:02x?}",
                received.len(),
                &received[..received.len().min(32)]
            )),
        }
    }

    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// A blocking legacy-dialect connection: `[u32 length][u32 code][payload]` requests,
/// `[u32 status][u32 length][payload]` replies.
pub struct Legacy {
    pub stream: TcpStream,
}

impl Legacy {
    pub fn connect(address: SocketAddr) -> Result<Legacy, String> {
        Ok(Legacy { stream: connect(address)? })
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream.write_all(bytes).map_err(|e| io("write", e))
    }

    /// `[4 + payload][code][payload]`.
    pub fn frame(code: u32, payload: &[u8]) -> Vec<u8> {
        let length = u32::try_from(4 + payload.len()).expect("length fits u32");
        let mut frame = Vec::with_capacity(8 + payload.len());
        frame.extend_from_slice(&length.to_le_bytes());
        frame.extend_from_slice(&code.to_le_bytes());
        frame.extend_from_slice(payload);
        frame
    }

    /// Reads `[status][length][payload]`.
    pub fn read_reply(&mut self) -> Result<(u32, Vec<u8>), String> {
        let mut head = [0u8; 8];
        read_exact(&mut self.stream, &mut head, "reading a legacy reply")?;
        let status = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
        let length = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
        if status != 0 && length != 0 {
            return Err(format!("status {status} came with length {length}; errors are [code][0]"));
        }
        if length > 64 << 20 {
            return Err(format!("reply length {length} is implausible"));
        }
        let mut payload = vec![0u8; length as usize];
        read_exact(&mut self.stream, &mut payload, "reading a legacy reply payload")?;
        Ok((status, payload))
    }

    pub fn call(&mut self, code: u32, payload: &[u8]) -> Result<(u32, Vec<u8>), String> {
        self.write(&Legacy::frame(code, payload))?;
        self.read_reply()
    }

    /// PING answers `[0][0]`.
    pub fn ping(&mut self) -> Result<(), String> {
        let (status, payload) = self.call(whippet_protocol::codes::PING, &[])?;
        expect_eq("PING reply (status, payload)", (status, payload.len()), (0, 0))
    }

    pub fn usable(&mut self) -> Result<(), String> {
        self.ping().map_err(|error| format!("connection not usable afterwards: {error}"))
    }

    /// LOGIN_USER (38) body as SDK 0.10 sends it: `Name user, [u8 len][password], [u32 6]"0.10.0", [u32 0]`.
    pub fn login_body(username: &str, password: &str) -> Vec<u8> {
        let mut body = vec![u8::try_from(username.len()).expect("short username")];
        body.extend_from_slice(username.as_bytes());
        body.push(u8::try_from(password.len()).expect("short password"));
        body.extend_from_slice(password.as_bytes());
        body.extend_from_slice(&6u32.to_le_bytes());
        body.extend_from_slice(b"0.10.0");
        body.extend_from_slice(&0u32.to_le_bytes());
        body
    }

    pub fn expect_closed(&mut self) -> Result<Vec<u8>, String> {
        read_until_closed(&mut self.stream)
    }
}
