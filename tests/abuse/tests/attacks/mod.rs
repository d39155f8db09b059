//! The attackers of `garbage.rs`, one file per kind, on plain threads and std sockets (the
//! fuzzing and well-behaved clients use whippet-client on a monoio runtime). Every socket wait
//! has a timeout; every attack ends on its own within a few heartbeat windows.

pub mod churn;
pub mod fuzz;
pub mod good;
pub mod oversized;
pub mod random;
pub mod slow;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use whippet_client::protocol::codes;
use whippet_client::protocol::legacy::framing::LegacyRequestHeader;
use whippet_client::protocol::vsr::{HEADER_SIZE, Operation, RequestHeader};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What every attack knows about the server under attack.
#[derive(Debug, Clone)]
pub struct Target {
    pub address: SocketAddr,
    pub pid: u32,
    /// Clients silent (or stuck inside one frame) this long are dropped: 1.2 × the heartbeat
    /// interval.
    pub window: Duration,
    pub max_frame: u32,
    /// Each attack derives its own generator from it, so a seed replays the bytes sent (not
    /// the thread timing).
    pub seed: u64,
}

impl Target {
    /// A generator for attack `name`, worker `index`.
    pub fn rng(&self, name: &str, index: u64) -> fastrand::Rng {
        let salt = name
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3));
        fastrand::Rng::with_seed(self.seed ^ salt ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
}

/// What an attack did (one line for the summary) and what it found wrong.
#[derive(Debug, Default)]
pub struct Outcome {
    pub name: &'static str,
    pub summary: String,
    pub failures: Vec<String>,
    /// From the attack's start to its end (set by the runner).
    pub took: Duration,
}

impl Outcome {
    pub fn new(name: &'static str) -> Outcome {
        Outcome { name, ..Outcome::default() }
    }

    /// Records a failure; the first few are kept verbatim, the rest only counted.
    pub fn fail(&mut self, what: String) {
        const KEPT: usize = 8;
        if self.failures.len() < KEPT {
            self.failures.push(what);
        } else if self.failures.len() == KEPT {
            self.failures.push("(further failures not shown)".to_string());
        }
    }

    pub fn absorb(&mut self, other: Vec<String>) {
        other.into_iter().for_each(|failure| self.fail(failure));
    }
}

/// Where attackers connect from: another loopback address than the well-behaved clients'
/// 127.0.0.1, so that the server's per-address limits (failed logins) that random login frames
/// may trip cannot lock the well-behaved clients out.
pub const ATTACKER_SOURCE: [u8; 4] = [127, 0, 0, 2];

/// A connection from [`ATTACKER_SOURCE`] with TCP_NODELAY and a write timeout.
pub fn connect(address: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    // The port is picked at connect time, per destination, as for an unbound socket: a bind to
    // port 0 would take ports out of the shared range for good while they sit in TIME_WAIT.
    let enable: libc::c_int = 1;
    // SAFETY: the descriptor is open (owned by `socket`) and `enable` is a valid c_int option
    // value of the size passed, only read by the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&raw const enable).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    socket.bind(&SocketAddr::from((ATTACKER_SOURCE, 0)).into())?;
    socket.connect_timeout(&address.into(), CONNECT_TIMEOUT)?;
    let stream = TcpStream::from(socket);
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(CONNECT_TIMEOUT))?;
    Ok(stream)
}

/// How a wait for the server to close ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// FIN or reset, `after` the wait began, with the bytes the server sent first.
    Closed { after: Duration, received: Vec<u8> },
    /// Still open when the limit passed.
    Open { received: Vec<u8> },
}

/// Reads (and keeps) whatever the server sends until it closes, at most `limit` (a zero
/// limit still looks once, for a close that already happened).
pub fn await_close(stream: &mut TcpStream, limit: Duration) -> Ending {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        if stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).is_err() {
            return Ending::Open { received };
        }
        match stream.read(&mut buffer) {
            Ok(0) => return Ending::Closed { after: started.elapsed(), received },
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if left.is_zero() {
                    return Ending::Open { received };
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Ending::Closed { after: started.elapsed(), received },
        }
    }
}

/// Closes with a reset instead of a FIN (SO_LINGER 0), as a crashed client or a middlebox does.
pub fn reset(stream: TcpStream) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: the descriptor is open (owned by `stream`) and `linger` is a valid option value
    // of the size passed, read by the call only.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

/// Writes what the socket takes within its write timeout; returns the bytes written.
pub fn write_some(stream: &mut TcpStream, bytes: &[u8]) -> usize {
    let mut written = 0;
    while written < bytes.len() {
        match stream.write(&bytes[written..]) {
            Ok(0) => break,
            Ok(count) => written += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    written
}

/// A VSR SendMessages request header declaring a frame of `size` bytes (header included).
pub fn vsr_header(size: u32) -> [u8; HEADER_SIZE] {
    RequestHeader {
        size,
        client: 0xab05e,
        request: 1,
        operation: Operation::SendMessages.as_u8(),
        ..RequestHeader::default()
    }
    .encode()
}

/// A legacy request header `[length][code]` declaring `payload` bytes after it.
pub fn legacy_header(code: u32, payload: usize) -> [u8; 8] {
    LegacyRequestHeader::new(code, payload).encode()
}

/// A legacy header with a raw `length` field (which counts the code's 4 bytes and the payload).
pub fn legacy_header_raw(length: u32, code: u32) -> [u8; 8] {
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&length.to_le_bytes());
    bytes[4..].copy_from_slice(&code.to_le_bytes());
    bytes
}

/// The legacy reply `[status = InvalidCommand (3)][length = 0]` a frame refused from its
/// header gets.
pub const LEGACY_INVALID_COMMAND: [u8; 8] = [3, 0, 0, 0, 0, 0, 0, 0];

/// A complete legacy PING frame.
pub fn legacy_ping() -> [u8; 8] {
    legacy_header(codes::PING, 0)
}
