//! Thousands of connections opened and dropped: some at once, some after part of a header,
//! some by reset, some after a whole PING they never read the answer to.

use std::thread;
use std::time::Instant;

use super::{Outcome, Target, connect, legacy_ping, reset, vsr_header, write_some};

const WORKERS: usize = 4;

const KINDS: [&str; 6] = [
    "closed at once",
    "4 zero bytes",
    "100 bytes of a VSR header",
    "2 bytes of a legacy length",
    "reset at once",
    "a legacy PING, unread",
];

/// Opens and drops `connections` connections on [`WORKERS`] threads, one after another on
/// each. Every connect must succeed (the server accepts faster than the listen backlog fills).
pub fn churn(target: &Target, connections: usize) -> Outcome {
    let started = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let address = target.address;
            thread::spawn(move || {
                let mut failures = Vec::new();
                let (header, ping) = (vsr_header(256), legacy_ping());
                for index in (worker..connections).step_by(WORKERS) {
                    let mut stream = match connect(address) {
                        Ok(stream) => stream,
                        Err(error) => {
                            failures.push(format!("churn {index} ({}): connect: {error}", KINDS[index % KINDS.len()]));
                            continue;
                        }
                    };
                    let bytes: &[u8] = match index % KINDS.len() {
                        0 => &[],
                        1 => &[0; 4],
                        2 => &header[..100],
                        3 => &[8, 0],
                        4 => {
                            reset(stream);
                            continue;
                        }
                        _ => &ping,
                    };
                    write_some(&mut stream, bytes);
                }
                failures
            })
        })
        .collect();
    let mut outcome = Outcome::new("connection churn");
    for worker in workers {
        outcome.absorb(worker.join().expect("churn worker panicked"));
    }
    outcome.summary = format!(
        "{connections} connections opened and dropped in {} ms on {WORKERS} threads ({} kinds: {}), {} connect failures",
        started.elapsed().as_millis(),
        KINDS.len(),
        KINDS.join(", "),
        outcome.failures.len()
    );
    outcome
}
