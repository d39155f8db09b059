//! Slowloris: connections that send a well-formed frame one byte per second. The heartbeat
//! window bounds a whole frame (and the first four bytes before it), so the server must drop
//! each within the time to sniff the dialect plus one window, with slack.

use std::io;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use whippet_client::protocol::codes;
use whippet_client::protocol::users::LoginUser;

use super::{Outcome, Target, connect, legacy_header, vsr_header};

const BYTE_PERIOD: Duration = Duration::from_secs(1);

/// What one slow connection saw.
struct Dropped {
    vsr: bool,
    /// Bytes it had sent when the server closed.
    sent: usize,
    after: Duration,
    received: usize,
}

/// `connections` slow writers, half VSR (a PING header, 256 bytes) and half legacy (a login
/// frame), each on its own thread.
pub fn slowloris(target: &Target, connections: usize) -> Outcome {
    // Four sniffed bytes arrive one per period, then the frame has one window.
    let limit = BYTE_PERIOD * 4 + target.window * 2 + Duration::from_secs(3);
    let writers: Vec<_> = (0..connections)
        .map(|index| {
            let address = target.address;
            thread::spawn(move || -> Result<Dropped, String> {
                let vsr = index % 2 == 0;
                let frame = if vsr { vsr_header(256).to_vec() } else { login_frame() };
                let mut stream = connect(address).map_err(|e| format!("slowloris {index}: connect: {e}"))?;
                drip(&mut stream, &frame, limit)
                    .map(|(sent, after, received)| Dropped { vsr, sent, after, received })
                    .map_err(|sent| {
                        format!("slowloris {index}: still open {limit:?} in, after {sent} bytes one a second")
                    })
            })
        })
        .collect();
    let mut outcome = Outcome::new("slowloris");
    let mut dropped = Vec::new();
    for writer in writers {
        match writer.join().expect("slowloris writer panicked") {
            Ok(one) => dropped.push(one),
            Err(error) => outcome.fail(error),
        }
    }
    let describe = |vsr: bool| {
        let mine: Vec<&Dropped> = dropped.iter().filter(|d| d.vsr == vsr).collect();
        let slowest = mine.iter().map(|d| d.after).max().unwrap_or_default();
        let sent = mine.iter().map(|d| d.sent).max().unwrap_or_default();
        let received: Vec<usize> = mine.iter().map(|d| d.received).collect();
        format!(
            "{} {} dropped within {} ms after at most {sent} bytes, having received {received:?} bytes",
            mine.len(),
            if vsr { "VSR" } else { "legacy" },
            slowest.as_millis()
        )
    };
    outcome.summary = format!(
        "{connections} connections sending one byte a second: {}; {} (window {} ms)",
        describe(true),
        describe(false),
        target.window.as_millis()
    );
    outcome
}

/// A legacy LOGIN_USER frame: long enough that one byte a second never finishes it in time.
fn login_frame() -> Vec<u8> {
    let login = LoginUser { username: "iggy".into(), password: "iggy".into(), version: None, context: None };
    let mut body = bytes::BytesMut::new();
    login.encode(&mut body);
    [&legacy_header(codes::LOGIN_USER, body.len())[..], &body].concat()
}

/// Sends `frame` one byte per [`BYTE_PERIOD`], reading in between, until the server closes:
/// `Ok((bytes sent, time to the close, bytes received))`, or `Err(bytes sent)` past `limit`.
fn drip(stream: &mut TcpStream, frame: &[u8], limit: Duration) -> Result<(usize, Duration, usize), usize> {
    use std::io::{Read, Write};
    let started = Instant::now();
    let mut received = 0;
    let mut buffer = [0u8; 512];
    for (sent, byte) in frame.iter().enumerate() {
        if started.elapsed() > limit {
            return Err(sent);
        }
        if stream.write_all(&[*byte]).is_err() {
            return Ok((sent, started.elapsed(), received));
        }
        let period_end = Instant::now() + BYTE_PERIOD;
        loop {
            let left = period_end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let _ = stream.set_read_timeout(Some(left));
            match stream.read(&mut buffer) {
                Ok(0) => return Ok((sent + 1, started.elapsed(), received)),
                Ok(count) => received += count,
                Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Ok((sent + 1, started.elapsed(), received)),
            }
        }
    }
    Err(frame.len())
}
