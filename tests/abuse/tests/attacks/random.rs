//! Random bytes in both dialect shapes, and frames cut off in the middle of their body.

use std::thread;
use std::time::Duration;

use whippet_client::protocol::codes;
use whippet_client::protocol::vsr::{HEADER_SIZE, Operation, RequestHeader};

use super::{Ending, Outcome, Target, await_close, connect, legacy_header, reset, vsr_header, write_some};

const WORKERS: usize = 4;
/// Longest run of random bytes one connection sends.
const RANDOM_BYTES_MAX: usize = 16 << 10;
/// Largest body a truncated frame declares.
const TRUNCATED_BODY_MAX: usize = 64 << 10;

/// Runs `per_connection` for connections `0..connections` on `threads` threads and gathers
/// their outcomes.
fn spread<T: Send + 'static>(
    connections: usize,
    threads: usize,
    per_connection: impl Fn(usize) -> T + Send + Sync + Clone + 'static,
) -> Vec<T> {
    let workers: Vec<_> = (0..threads)
        .map(|worker| {
            let per_connection = per_connection.clone();
            thread::spawn(move || (worker..connections).step_by(threads).map(&per_connection).collect::<Vec<_>>())
        })
        .collect();
    workers.into_iter().flat_map(|worker| worker.join().expect("attack worker panicked")).collect()
}

/// What one random connection did.
struct Sent {
    shape: usize,
    bytes: usize,
    ending: Ending,
}

const SHAPES: [&str; 3] = ["VSR-shaped", "legacy-shaped", "valid headers with random bodies"];

/// Random bytes: a third start with four zero bytes (read as VSR), a third with a non-zero
/// word (legacy), a third are a few well-formed frames of random commands with random bodies.
/// Whatever they parse as, the server must close each connection within two heartbeat windows
/// (plus slack) after its last byte.
pub fn random_bytes(target: &Target, connections: usize) -> Outcome {
    let target_copy = target.clone();
    // Sniffing the dialect and each frame have a window each; the rest is slack for a loaded
    // machine.
    let limit = target.window * 2 + Duration::from_secs(3);
    // A thread per connection: each may wait a whole window for its close.
    let sent = spread(connections, connections, move |index| {
        let mut rng = target_copy.rng("random", index as u64);
        let shape = index % SHAPES.len();
        let bytes = match shape {
            0 => [&[0u8; 4][..], &random(&mut rng, RANDOM_BYTES_MAX)].concat(),
            1 => [&rng.u32(1..).to_le_bytes()[..], &random(&mut rng, RANDOM_BYTES_MAX)].concat(),
            _ => (0..rng.usize(1..=8)).flat_map(|_| random_frame(&mut rng, index % 2 == 0)).collect(),
        };
        let ending = match connect(target_copy.address) {
            Ok(mut stream) => {
                write_some(&mut stream, &bytes);
                await_close(&mut stream, limit)
            }
            Err(error) => Ending::Open { received: format!("connect failed: {error}").into_bytes() },
        };
        Sent { shape, bytes: bytes.len(), ending }
    });
    let mut outcome = Outcome::new("random bytes");
    let mut slowest = Duration::ZERO;
    let mut received = 0;
    for (index, sent) in sent.iter().enumerate() {
        match &sent.ending {
            Ending::Closed { after, received: bytes } => {
                slowest = slowest.max(*after);
                received += bytes.len();
            }
            Ending::Open { received } => outcome.fail(format!(
                "random connection {index} ({}, {} bytes): not closed {limit:?} after its last byte ({})",
                SHAPES[sent.shape],
                sent.bytes,
                String::from_utf8_lossy(received)
            )),
        }
    }
    let total: usize = sent.iter().map(|s| s.bytes).sum();
    let count = |shape| sent.iter().filter(|s| s.shape == shape).count();
    outcome.summary = format!(
        "{connections} connections ({} VSR-shaped, {} legacy-shaped, {} with valid headers), {} KiB sent, \
         {received} bytes of replies; the slowest close came {} ms after the last byte (window {} ms)",
        count(0),
        count(1),
        count(2),
        total / 1024,
        slowest.as_millis(),
        target.window.as_millis()
    );
    outcome
}

/// 1 to `max` random bytes.
fn random(rng: &mut fastrand::Rng, max: usize) -> Vec<u8> {
    let len = rng.usize(1..=max);
    exactly(rng, len)
}

fn exactly(rng: &mut fastrand::Rng, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rng.fill(&mut bytes);
    bytes
}

/// One well-formed frame of a random catalog command with a random body of up to 512 bytes.
fn random_frame(rng: &mut fastrand::Rng, vsr: bool) -> Vec<u8> {
    let code = codes::ALL[rng.usize(..codes::ALL.len())].0;
    let body = if rng.bool() { Vec::new() } else { random(rng, 512) };
    let mut frame = if vsr {
        let operation = Operation::for_command(code);
        let header = RequestHeader {
            size: (HEADER_SIZE + body.len()) as u32,
            client: rng.u128(1..),
            request: rng.u64(..8),
            operation: operation.as_u8(),
            session: if rng.bool() { 0 } else { rng.u64(..) },
            non_replicated_code: if operation == Operation::NonReplicated { code } else { 0 },
            ..RequestHeader::default()
        };
        header.encode().to_vec()
    } else {
        legacy_header(code, body.len()).to_vec()
    };
    frame.extend_from_slice(&body);
    frame
}

/// Frames with a valid header declaring up to 64 KiB of body, cut off after a random part of
/// it by a FIN or a reset. Nothing to check per connection: the server must simply survive
/// and keep serving (checked by the test).
pub fn truncated(target: &Target, connections: usize) -> Outcome {
    let target_copy = target.clone();
    let results = spread(connections, WORKERS, move |index| -> Result<(bool, bool, usize, usize), String> {
        let mut rng = target_copy.rng("truncated", index as u64);
        let vsr = rng.bool();
        let declared = rng.usize(1..=TRUNCATED_BODY_MAX);
        let mut frame = if vsr {
            vsr_header((HEADER_SIZE + declared) as u32).to_vec()
        } else {
            legacy_header(codes::SEND_MESSAGES, declared).to_vec()
        };
        let cut = rng.usize(0..declared);
        frame.extend_from_slice(&exactly(&mut rng, cut));
        let mut stream = connect(target_copy.address).map_err(|e| format!("truncated {index}: connect: {e}"))?;
        let written = write_some(&mut stream, &frame);
        let by_reset = rng.bool();
        if by_reset {
            reset(stream)
        } else {
            drop(stream)
        }
        Ok((vsr, by_reset, cut * 100 / declared, written))
    });
    let mut outcome = Outcome::new("truncated frames");
    let mut done = Vec::new();
    for result in results {
        match result {
            Ok(one) => done.push(one),
            Err(error) => outcome.fail(error),
        }
    }
    let vsr = done.iter().filter(|d| d.0).count();
    let resets = done.iter().filter(|d| d.1).count();
    let mean_cut = done.iter().map(|d| d.2).sum::<usize>() / done.len().max(1);
    let written: usize = done.iter().map(|d| d.3).sum();
    outcome.summary = format!(
        "{connections} connections ({vsr} VSR, {} legacy), cut on average {mean_cut}% into the body, \
         {resets} closed by reset and the rest by FIN, {} KiB sent",
        done.len() - vsr,
        written / 1024
    );
    outcome
}
