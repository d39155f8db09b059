//! Declared lengths the server must refuse from the header alone, and the memory-exhaustion
//! attack: many connections that declare a large but allowed body, send a few MiB of it and
//! stall.

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use whippet_abuse::memory::{self, mib};
use whippet_client::protocol::codes;
use whippet_client::protocol::vsr::HEADER_SIZE;

use super::{
    Ending, LEGACY_INVALID_COMMAND, Outcome, Target, await_close, connect, legacy_header, legacy_header_raw,
    vsr_header, write_some,
};

/// Times each refused header is tried.
const REPEATS: usize = 5;

/// VSR headers with `size` = u32::MAX, max_frame + 1 and 255 (below the header), and legacy
/// lengths of u32::MAX (SendMessages), 10 MiB + 5 (a control command over its cap) and 3 (below
/// the code): each must be refused from the header, so the connection closes well before the
/// heartbeat window (a server waiting for the body would only drop it then), and a legacy
/// client first gets `[InvalidCommand][0]`.
pub fn huge_lengths(target: &Target) -> Outcome {
    let cases: Vec<(String, Vec<u8>, bool)> = vec![
        ("VSR size u32::MAX".into(), vsr_header(u32::MAX).to_vec(), true),
        (format!("VSR size max_frame+1 ({})", target.max_frame + 1), vsr_header(target.max_frame + 1).to_vec(), true),
        ("VSR size 255".into(), vsr_header(HEADER_SIZE as u32 - 1).to_vec(), true),
        ("legacy length u32::MAX".into(), legacy_header_raw(u32::MAX, codes::SEND_MESSAGES).to_vec(), false),
        ("legacy PING of 10 MiB".into(), legacy_header(codes::PING, (10 << 20) + 1).to_vec(), false),
        ("legacy length 3".into(), legacy_header_raw(3, codes::PING).to_vec(), false),
    ];
    let mut outcome = Outcome::new("huge declared lengths");
    let mut slowest = Duration::ZERO;
    let mut vsr_replies = Vec::new();
    for (name, header, vsr) in &cases {
        for attempt in 0..REPEATS {
            let ending = connect(target.address).map(|mut stream| {
                write_some(&mut stream, header);
                await_close(&mut stream, target.window)
            });
            match ending {
                Err(error) => outcome.fail(format!("{name} #{attempt}: connect: {error}")),
                Ok(Ending::Open { received }) => outcome.fail(format!(
                    "{name} #{attempt}: still open after the heartbeat window ({} bytes received): \
                     the server waited for a body it should have refused",
                    received.len()
                )),
                Ok(Ending::Closed { after, received }) => {
                    slowest = slowest.max(after);
                    if *vsr {
                        vsr_replies.push(received.len());
                    } else if received != LEGACY_INVALID_COMMAND {
                        outcome
                            .fail(format!("{name} #{attempt}: legacy reply {received:?}, expected [3,0,0,0,0,0,0,0]"));
                    }
                }
            }
        }
    }
    vsr_replies.sort_unstable();
    vsr_replies.dedup();
    outcome.summary = format!(
        "{} headers × {REPEATS}: every one closed from the header alone, the slowest after {} ms \
         (window {} ms); VSR connections got {vsr_replies:?} bytes before the close, legacy ones [InvalidCommand][0]",
        cases.len(),
        slowest.as_millis(),
        target.window.as_millis()
    );
    outcome
}

/// The memory-exhaustion attack's shape.
#[derive(Debug, Clone, Copy)]
pub struct Stalled {
    pub connections: usize,
    /// Body size each frame declares (allowed: at most max_frame).
    pub declared: usize,
    /// Body bytes each connection sends before it stalls.
    pub sent: usize,
    pub threads: usize,
}

/// One stalled connection's fate.
struct Fate {
    /// Body bytes the kernel took before a write timed out (the server not reading) or all.
    written: usize,
    ending: Ending,
}

/// `connections` frames (half VSR, half legacy SendMessages) declaring `declared` body bytes
/// each; every connection sends `sent` of them, as fast as the server takes them, then stalls.
/// The server's RSS is sampled every 10 ms from before the first connection until the last
/// one closed. Every connection must be dropped within two heartbeat windows (plus slack) of
/// its stall.
pub fn stalled_bodies(target: &Target, shape: Stalled) -> Outcome {
    let mut outcome = Outcome::new("stalled large bodies");
    let before = memory::read(target.pid).map(|m| m.rss_bytes).unwrap_or(0);
    let loaded = Arc::new(Barrier::new(shape.threads + 1));
    let workers: Vec<_> = (0..shape.threads)
        .map(|worker| {
            let (target, loaded) = (target.clone(), loaded.clone());
            let indexes: Vec<usize> = (worker..shape.connections).step_by(shape.threads).collect();
            thread::spawn(move || stall_some(&target, shape, &indexes, &loaded))
        })
        .collect();
    let started = Instant::now();
    let mut peak = before;
    let sample = |peak: &mut u64| {
        if let Ok(memory) = memory::read(target.pid) {
            *peak = (*peak).max(memory.rss_bytes);
        }
    };
    // Sample until every worker has loaded its connections, then take the reading at that
    // moment, then keep sampling until they all closed.
    let watcher = thread::spawn({
        let loaded = loaded.clone();
        move || {
            loaded.wait();
            Instant::now()
        }
    });
    while !watcher.is_finished() {
        sample(&mut peak);
        thread::sleep(Duration::from_millis(10));
    }
    let loaded_at = watcher.join().expect("watcher").duration_since(started);
    let at_loaded = memory::read(target.pid).map(|m| m.rss_bytes).unwrap_or(0);
    while workers.iter().any(|worker| !worker.is_finished()) {
        sample(&mut peak);
        thread::sleep(Duration::from_millis(10));
    }
    let mut fates = Vec::new();
    for worker in workers {
        match worker.join().expect("stall worker panicked") {
            Ok(some) => fates.extend(some),
            Err(error) => outcome.fail(error),
        }
    }
    let limit = target.window * 2 + Duration::from_secs(3);
    let mut last_close = Duration::ZERO;
    for (index, fate) in fates.iter().enumerate() {
        match &fate.ending {
            Ending::Closed { after, .. } => last_close = last_close.max(*after),
            Ending::Open { .. } => {
                outcome.fail(format!("stalled connection {index} still open {limit:?} after its stall"))
            }
        }
    }
    let written: usize = fates.iter().map(|f| f.written).sum();
    let held_back = fates.iter().filter(|f| f.written < shape.sent).count();
    outcome.summary = format!(
        "{} connections × {} MiB declared, {} MiB sent each ({} MiB attempted, {:.0} MiB taken by the kernel, \
         {held_back} held back by flow control); loaded after {} ms; server RSS {:.1} MiB before, {:.1} MiB when \
         loaded, peak {:.1} MiB (+{:.1} MiB); all dropped within {} ms of their stall",
        fates.len(),
        shape.declared >> 20,
        mib(shape.sent as u64),
        (shape.connections * shape.sent) >> 20,
        mib(written as u64),
        loaded_at.as_millis(),
        mib(before),
        mib(at_loaded),
        mib(peak),
        mib(peak.saturating_sub(before)),
        last_close.as_millis()
    );
    outcome
}

/// One stalled connection while its body goes out.
struct Filling {
    stream: TcpStream,
    written: usize,
    last_progress: Instant,
    done: bool,
}

/// How long a connection may make no progress before it counts as held back by the server.
const STALL_PATIENCE: Duration = Duration::from_millis(500);
const CHUNK: usize = 256 << 10;

/// One worker's connections: connect all, send every header, then the bodies in 256 KiB
/// non-blocking rounds so that all connections fill up together (one the server stops
/// reading is left alone after [`STALL_PATIENCE`]), then wait (bounded) for the server to
/// drop each.
fn stall_some(target: &Target, shape: Stalled, indexes: &[usize], loaded: &Barrier) -> Result<Vec<Fate>, String> {
    let mut rng = target.rng("stalled", indexes.first().copied().unwrap_or(0) as u64);
    let mut chunk = vec![0u8; CHUNK];
    rng.fill(&mut chunk);
    let mut streams = Vec::with_capacity(indexes.len());
    let mut failure = None;
    for &index in indexes {
        match connect(target.address) {
            Ok(mut stream) => {
                let header = if index % 2 == 0 {
                    vsr_header((HEADER_SIZE + shape.declared) as u32).to_vec()
                } else {
                    legacy_header(codes::SEND_MESSAGES, shape.declared).to_vec()
                };
                write_some(&mut stream, &header);
                let _ = stream.set_nonblocking(true);
                streams.push(Filling { stream, written: 0, last_progress: Instant::now(), done: false });
            }
            Err(error) => failure = Some(format!("stalled connection {index}: connect: {error}")),
        }
    }
    fill(&mut streams, &chunk, shape.sent, Instant::now() + target.window);
    loaded.wait();
    // One deadline for all: a server that never drops them costs one limit, not one each.
    let stall = Instant::now();
    let deadline = stall + target.window * 2 + Duration::from_secs(3);
    let fates: Vec<Fate> = streams
        .into_iter()
        .map(|Filling { mut stream, written, .. }| {
            let _ = stream.set_nonblocking(false);
            let waited = stall.elapsed();
            let ending = match await_close(&mut stream, deadline.saturating_duration_since(Instant::now())) {
                Ending::Closed { after, received } => Ending::Closed { after: waited + after, received },
                open => open,
            };
            Fate { written, ending }
        })
        .collect();
    match failure {
        Some(error) => Err(error),
        None => Ok(fates),
    }
}

/// Writes `sent` body bytes to every stream, a chunk per stream per round, until each has
/// sent them all, was closed, or made no progress for [`STALL_PATIENCE`]; at most until
/// `deadline`.
fn fill(streams: &mut [Filling], chunk: &[u8], sent: usize, deadline: Instant) {
    while Instant::now() < deadline && streams.iter().any(|filling| !filling.done) {
        let mut progress = false;
        for filling in streams.iter_mut().filter(|filling| !filling.done) {
            let want = chunk.len().min(sent - filling.written);
            match filling.stream.write(&chunk[..want]) {
                Ok(0) => filling.done = true,
                Ok(wrote) => {
                    filling.written += wrote;
                    filling.last_progress = Instant::now();
                    filling.done = filling.written == sent;
                    progress = true;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    filling.done = filling.last_progress.elapsed() >= STALL_PATIENCE;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => filling.done = true,
            }
        }
        if !progress {
            thread::sleep(Duration::from_millis(2));
        }
    }
}
