//! Logged-in random requests: well-framed requests of random catalog commands with random
//! bodies, over a logged-in session in each dialect, so the garbage reaches the command
//! decoders and handlers instead of stopping at the login check. Each request must get a
//! reply (any status) or an orderly close (eviction, or a close after a stale-client status)
//! within the call limit; a reply the client cannot frame is a failure.

use std::collections::BTreeMap;
use std::thread;
use std::time::Duration;

use whippet_client::protocol::codes;
use whippet_client::transport::Request;
use whippet_client::{Client, ClientError, Credentials, Dialect};
use whippet_testkit::{ROOT_PASSWORD, ROOT_USERNAME};

use super::{Outcome, Target};

const CALL_LIMIT: Duration = Duration::from_secs(5);
const BODY_MAX: usize = 512;
/// Codes left out: logging in or out would end the session the rest of the requests need.
const SKIPPED: [u32; 5] = [
    codes::LOGIN_USER,
    codes::LOGOUT_USER,
    codes::LOGIN_REGISTER,
    codes::LOGIN_WITH_PERSONAL_ACCESS_TOKEN,
    codes::LOGIN_REGISTER_WITH_PAT,
];
/// Reconnections after which a dialect's run stops (each costs an argon2 login).
const RECONNECTS_MAX: usize = 20;

/// What one dialect's run saw.
#[derive(Debug, Default)]
struct Tally {
    requests: usize,
    ok: usize,
    /// Replies with a status, by status code.
    statuses: BTreeMap<u32, usize>,
    /// Connections the server ended with an eviction (VSR).
    evicted: usize,
    /// Connections the server closed without one (legacy: after a stale-client status).
    closed: usize,
    failures: Vec<String>,
}

/// `requests` random requests per dialect, on one thread with a monoio runtime.
pub fn authenticated(target: &Target, requests: usize) -> Outcome {
    let target = target.clone();
    let tallies = thread::spawn(move || {
        let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .expect("monoio runtime for the fuzzer");
        [Dialect::V011, Dialect::Legacy].map(|dialect| runtime.block_on(fuzz(&target, dialect, requests)))
    })
    .join()
    .expect("fuzz thread panicked");
    let mut outcome = Outcome::new("logged-in random requests");
    let mut lines = Vec::new();
    for (dialect, tally) in [Dialect::V011, Dialect::Legacy].iter().zip(tallies) {
        let top: Vec<String> = tally.statuses.iter().map(|(code, count)| format!("{code}×{count}")).collect();
        lines.push(format!(
            "{}: {} requests, {} ok, statuses [{}], {} evictions, {} closes",
            dialect.name(),
            tally.requests,
            tally.ok,
            top.join(" "),
            tally.evicted,
            tally.closed
        ));
        outcome.absorb(tally.failures);
    }
    outcome.summary = lines.join("; ");
    outcome
}

async fn connect(target: &Target, dialect: Dialect) -> Result<Client, String> {
    let credentials = Credentials::Password { username: ROOT_USERNAME.into(), password: ROOT_PASSWORD.into() };
    match monoio::time::timeout(CALL_LIMIT, Client::connect_and_login(target.address, dialect, &credentials)).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(error)) => Err(format!("{} fuzz login: {error}", dialect.name())),
        Err(_) => Err(format!("{} fuzz login: no reply within {CALL_LIMIT:?}", dialect.name())),
    }
}

async fn fuzz(target: &Target, dialect: Dialect, requests: usize) -> Tally {
    let mut rng = target.rng("fuzz", dialect as u64);
    let mut tally = Tally::default();
    let mut client = None;
    let mut reconnects = 0;
    let codes: Vec<u32> = codes::ALL.iter().map(|(code, _)| *code).filter(|code| !SKIPPED.contains(code)).collect();
    while tally.requests < requests && reconnects <= RECONNECTS_MAX {
        let mut connection = match client.take() {
            Some(connection) => connection,
            None => match connect(target, dialect).await {
                Ok(connection) => {
                    reconnects += 1;
                    connection
                }
                Err(error) => {
                    tally.failures.push(error);
                    return tally;
                }
            },
        };
        let code = codes[rng.usize(..codes.len())];
        let mut body = vec![0u8; if rng.u8(..5) == 0 { 0 } else { rng.usize(1..=BODY_MAX) }];
        rng.fill(&mut body);
        let mut request = Request::new(dialect, code, body.len());
        request.body_mut().buffer().extend_from_slice(&body);
        tally.requests += 1;
        let name = codes::name_of(code).unwrap_or("?");
        match monoio::time::timeout(CALL_LIMIT, connection.call_request(request)).await {
            Ok(Ok(_)) => {
                tally.ok += 1;
                client = Some(connection);
            }
            Ok(Err(ClientError::Status { code: status })) => {
                *tally.statuses.entry(status).or_default() += 1;
                client = Some(connection);
            }
            Ok(Err(ClientError::Evicted { .. })) => tally.evicted += 1,
            Ok(Err(ClientError::Io(_))) => tally.closed += 1,
            Ok(Err(error)) => {
                tally.failures.push(format!("{} {name} with {} random bytes: {error}", dialect.name(), body.len()));
            }
            Err(_) => tally.failures.push(format!(
                "{} {name} with {} random bytes: neither a reply nor a close within {CALL_LIMIT:?}",
                dialect.name(),
                body.len()
            )),
        }
    }
    tally
}
