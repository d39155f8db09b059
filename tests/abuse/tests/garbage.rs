//! Garbage traffic against the real `whippet-server` (2 shards, durability `never`, heartbeat
//! 2 s, so the window that drops silent or stuck clients is 2.4 s), all at once:
//!
//! - random bytes in both dialect shapes, and well-framed random commands with random bodies;
//! - frames cut off mid-body, by FIN or by reset;
//! - declared lengths the server must refuse from the header (u32::MAX, max_frame + 1, below
//!   the minimum), which must close well inside the heartbeat window;
//! - the memory-exhaustion attack: 200 connections declaring a 60 MiB body, sending 8 MiB of
//!   it and stalling, with the server's RSS watched;
//! - slowloris, one byte a second, which must be dropped within the window;
//! - 3,000 connections opened and dropped;
//! - logged-in random requests, which must each get a reply or an orderly close.
//!
//! Meanwhile a well-behaved client per dialect sends and polls back every ~50 ms (logging in
//! again every 20 rounds): every call must succeed and return exactly what it sent. At the
//! end the server must be alive, must never have logged a panic, must have let go of every
//! attacking connection, and its peak RSS (sampled every 20 ms, and its VmHWM) must stay under
//! `WHIPPET_ABUSE_RSS_LIMIT_MIB` (default 512).
//!
//! Environment: `WHIPPET_ABUSE_SEED` replays the bytes sent (printed on every run; thread
//! timing is not replayed), `WHIPPET_ABUSE_STALLED_MIB` (body bytes each stalled connection
//! sends, default 8), `WHIPPET_ABUSE_STALLED_CONNECTIONS` (default 200). Run with
//! `--nocapture` to see the per-attack summary.

mod attacks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use attacks::good::{self, GoodReport};
use attacks::oversized::Stalled;
use attacks::{Outcome, Target};
use whippet_abuse::memory::{self, BYTES_PER_MIB, RssSampler, mib};
use whippet_client::{Client, Credentials, Dialect};
use whippet_testkit::{ROOT_PASSWORD, ROOT_USERNAME, TestServer};

const HEARTBEAT_INTERVAL: &str = "2s";
const WINDOW: Duration = Duration::from_millis(2400);
/// The server's default `server.max_frame_size`.
const MAX_FRAME: u32 = 64 << 20;
const RSS_LIMIT_MIB_DEFAULT: u64 = 512;
const READY_LIMIT: Duration = Duration::from_secs(30);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

fn seed() -> u64 {
    std::env::var("WHIPPET_ABUSE_SEED")
        .ok()
        .and_then(|value| u64::from_str_radix(value.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| fastrand::u64(..))
}

type Attack = Box<dyn FnOnce(&Target) -> Outcome + Send>;

/// Every attack on its own thread, all at once; returns their outcomes once all ended.
fn attack(target: &Target) -> Vec<Outcome> {
    let stalled = Stalled {
        connections: env_u64("WHIPPET_ABUSE_STALLED_CONNECTIONS", 200) as usize,
        declared: 60 << 20,
        sent: (env_u64("WHIPPET_ABUSE_STALLED_MIB", 8) * BYTES_PER_MIB) as usize,
        threads: 8,
    };
    let runs: Vec<Attack> = vec![
        Box::new(|target| attacks::random::random_bytes(target, 90)),
        Box::new(|target| attacks::random::truncated(target, 100)),
        Box::new(attacks::oversized::huge_lengths),
        Box::new(move |target| attacks::oversized::stalled_bodies(target, stalled)),
        Box::new(|target| attacks::slow::slowloris(target, 6)),
        Box::new(|target| attacks::churn::churn(target, 3000)),
        Box::new(|target| attacks::fuzz::authenticated(target, 300)),
    ];
    let threads: Vec<_> = runs
        .into_iter()
        .map(|run| {
            let target = target.clone();
            thread::spawn(move || {
                let started = Instant::now();
                let mut outcome = run(&target);
                outcome.took = started.elapsed();
                outcome
            })
        })
        .collect();
    threads.into_iter().map(|thread| thread.join().expect("an attack thread panicked")).collect()
}

/// Waits until the server lists only the asking connection: every attacker has been let go.
/// Returns how many others were listed last, and after how long.
fn connections_left(address: SocketAddr, limit: Duration) -> Result<(usize, Duration), String> {
    let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new().enable_timer().build().expect("runtime");
    runtime.block_on(async {
        let credentials = Credentials::Password { username: ROOT_USERNAME.into(), password: ROOT_PASSWORD.into() };
        let started = Instant::now();
        let login = Client::connect_and_login(address, Dialect::V011, &credentials);
        let mut client = monoio::time::timeout(good::CALL_LIMIT, login)
            .await
            .map_err(|_| "drain check: login timed out".to_string())?
            .map_err(|e| format!("drain check: login: {e}"))?;
        loop {
            let clients = monoio::time::timeout(good::CALL_LIMIT, client.clients())
                .await
                .map_err(|_| "drain check: GET_CLIENTS timed out".to_string())?
                .map_err(|e| format!("drain check: GET_CLIENTS: {e}"))?;
            let others = clients.len().saturating_sub(1);
            if others == 0 || started.elapsed() >= limit {
                return Ok((others, started.elapsed()));
            }
            monoio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

fn good_clients(address: SocketAddr, stop: &Arc<AtomicBool>) -> Vec<thread::JoinHandle<GoodReport>> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let clients: Vec<_> = [Dialect::V011, Dialect::Legacy]
        .into_iter()
        .map(|dialect| good::spawn(address, dialect, stop.clone(), ready_tx.clone()))
        .collect();
    for _ in &clients {
        ready_rx.recv_timeout(READY_LIMIT).expect("the good clients did not get ready");
    }
    clients
}

#[test]
fn garbage_traffic_leaves_the_server_serving_in_bounded_memory() {
    let seed = seed();
    println!("garbage: seed {seed:#x} (WHIPPET_ABUSE_SEED={seed:x} replays the bytes)");
    let rss_limit = env_u64("WHIPPET_ABUSE_RSS_LIMIT_MIB", RSS_LIMIT_MIB_DEFAULT) * BYTES_PER_MIB;
    let mut server =
        TestServer::start_with(&["--shards", "2", "--durability", "never", "--heartbeat-interval", HEARTBEAT_INTERVAL]);
    let pid = server.pid().expect("server pid");
    let started = memory::read(pid).expect("server memory");
    let sampler = RssSampler::start(pid, Duration::from_millis(20));
    let target = Target { address: server.address(), pid, window: WINDOW, max_frame: MAX_FRAME, seed };

    let stop = Arc::new(AtomicBool::new(false));
    let good = good_clients(target.address, &stop);
    let attacks_started = Instant::now();
    let outcomes = attack(&target);
    let attacks_took = attacks_started.elapsed();
    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Release);
    let good: Vec<GoodReport> = good.into_iter().map(|client| client.join().expect("good client panicked")).collect();
    let drained = connections_left(target.address, WINDOW * 2 + Duration::from_secs(5));
    let rss = sampler.stop();
    let hwm = memory::read(pid).map(|m| m.hwm_bytes).unwrap_or(rss.peak_rss_bytes);

    println!("garbage: all attacks ended after {} ms", attacks_took.as_millis());
    for outcome in &outcomes {
        println!("  {} ({} ms): {}", outcome.name, outcome.took.as_millis(), outcome.summary);
        for failure in &outcome.failures {
            println!("    FAILED: {failure}");
        }
    }
    for report in &good {
        println!("  well-behaved client {}", report.summary());
        for error in &report.errors {
            println!("    FAILED: {error}");
        }
    }
    println!("  attackers still connected at the end: {drained:?}");
    println!(
        "  server RSS: {:.1} MiB at start, peak {:.1} MiB sampled ({} samples), VmHWM {:.1} MiB, {:.1} MiB at the end; limit {:.0} MiB",
        mib(started.rss_bytes),
        mib(rss.peak_rss_bytes),
        rss.samples,
        mib(hwm),
        mib(rss.last.map_or(0, |m| m.rss_bytes)),
        mib(rss_limit)
    );

    assert!(server.is_running(), "whippet-server died under garbage traffic\n{}", server.log_tail());
    assert!(!server.panicked(), "whippet-server logged a panic\n{}", server.log_tail());
    let failed: Vec<&str> = outcomes.iter().filter(|o| !o.failures.is_empty()).map(|o| o.name).collect();
    assert!(failed.is_empty(), "attacks with failed checks: {failed:?} (see FAILED lines above)");
    for report in &good {
        assert!(report.errors.is_empty(), "the well-behaved {} client failed: {:?}", report.dialect, report.errors);
        assert!(report.messages > 0, "the well-behaved {} client made no progress", report.dialect);
    }
    match drained {
        Ok((0, _)) => {}
        other => panic!("attacking connections still open after two heartbeat windows: {other:?}"),
    }
    assert!(
        rss.peak_rss_bytes.max(hwm) <= rss_limit,
        "server peak RSS {:.1} MiB (VmHWM {:.1} MiB) is over the {:.0} MiB limit",
        mib(rss.peak_rss_bytes),
        mib(hwm),
        mib(rss_limit)
    );
    let status = server.stop();
    assert!(status.success(), "whippet-server exited with {status} after the attacks\n{}", server.log_tail());
}
