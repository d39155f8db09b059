//! The server's failure policy for environmental failures: what a client is told, what is
//! logged (throttled, so a client retrying in a loop cannot flood the log) and when the whole
//! process stops instead of running half-alive. The README's "Failure policy" is the summary.
//!
//! - A full disk refuses the writes that need space, with a clear status, and nothing else:
//!   reads go on, and writes succeed again once space returns (the storage and the metadata
//!   log leave no trace of a refused write).
//! - An I/O error on a partition fails that partition (the storage crate's policy): it refuses
//!   changes until a restart, reads go on.
//! - Any other failure of the metadata log stops the process ([`EXIT_METADATA_LOG`]): the
//!   leader could no longer tell which changes are durable, and every shard's replica follows it.
//! - A panic on any thread stops the process ([`EXIT_PANIC`]): a shard thread that died would
//!   leave its partitions and connections unserved while the rest of the server answers.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use whippet_metadata::LogError;
use whippet_protocol::status::ErrorCode;

use crate::messages::MetadataFailure;

/// Exit status when the metadata log failed (other than a refused write on a full disk).
pub const EXIT_METADATA_LOG: i32 = 3;
/// Exit status when a thread of the server panicked.
pub const EXIT_PANIC: i32 = 4;
/// How often a repeated refusal is logged again.
pub const REPEAT_LOG_EVERY: Duration = Duration::from_secs(10);

/// Rate limit for a log line a client can trigger in a loop: the first occurrence is logged,
/// then at most one per period, with the count of those left out in between.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    pub const fn new(every: Duration) -> Throttle {
        Throttle { every, last: None, suppressed: 0 }
    }

    /// `Some(occurrences left out since the last logged one)` when this one is to be logged.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        if self.last.is_some_and(|last| now.duration_since(last) < self.every) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

thread_local! {
    /// The metadata leader's refusals (it runs on shard 0's thread).
    static METADATA_REFUSALS: RefCell<Throttle> = const { RefCell::new(Throttle::new(REPEAT_LOG_EVERY)) };
}

/// What the leader does when the metadata log failed: a write refused on a full disk left the
/// log as it was, so the change is refused with [`ErrorCode::CannotWriteToFile`] and the server
/// goes on; any other failure stops the process with [`EXIT_METADATA_LOG`].
pub fn metadata_log_failed(error: &LogError) -> MetadataFailure {
    if matches!(error, LogError::WriteUndone { .. }) && error.is_no_space() {
        if let Some(suppressed) = METADATA_REFUSALS.with_borrow_mut(|t| t.allow(Instant::now())) {
            tracing::warn!(%error, suppressed, "metadata change refused: the disk is full");
        }
        let reason = format!("the disk is full: {error}");
        return MetadataFailure { code: ErrorCode::CannotWriteToFile.as_u32(), reason };
    }
    tracing::error!(%error, exit = EXIT_METADATA_LOG, "metadata log failed: stopping the server; a restart replays the log");
    eprintln!("whippet-server: metadata log failed, stopping (exit {EXIT_METADATA_LOG}): {error}");
    std::process::exit(EXIT_METADATA_LOG);
}

/// Makes a panic on any thread stop the whole process with [`EXIT_PANIC`] after the usual panic
/// message, rather than leave a shard dead and the others serving. Acknowledged data is safe as
/// after a kill: the next start recovers. For the binary only (tests keep the default hook).
pub fn exit_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
        tracing::error!(thread, exit = EXIT_PANIC, "a server thread panicked: stopping the whole server");
        eprintln!("whippet-server: thread {thread} panicked, stopping the whole server (exit {EXIT_PANIC})");
        std::process::exit(EXIT_PANIC);
    }));
}

/// Debug builds only, for the tests of [`exit_on_panic`]: shard `WHIPPET_DEBUG_PANIC_SHARD`
/// panics as it starts serving.
pub fn debug_panic_on_start(shard: usize) {
    if cfg!(debug_assertions) && std::env::var("WHIPPET_DEBUG_PANIC_SHARD").is_ok_and(|v| v == shard.to_string()) {
        panic!("shard {shard}: panic requested by WHIPPET_DEBUG_PANIC_SHARD");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_logs_the_first_then_one_per_period_with_the_count_left_out() {
        let mut throttle = Throttle::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(throttle.allow(start), Some(0));
        for i in 1..=5 {
            assert_eq!(throttle.allow(start + Duration::from_secs(i)), None);
        }
        assert_eq!(throttle.allow(start + Duration::from_secs(10)), Some(5));
        assert_eq!(throttle.allow(start + Duration::from_secs(11)), None);
        assert_eq!(throttle.allow(start + Duration::from_secs(25)), Some(1));
    }

    #[test]
    fn a_metadata_write_undone_on_a_full_disk_is_refused_with_a_clear_code() {
        let source = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let error = LogError::WriteUndone { path: "events.log".into(), source };
        let failure = metadata_log_failed(&error);
        assert_eq!(failure.code, ErrorCode::CannotWriteToFile.as_u32());
        assert!(failure.reason.contains("disk is full"), "{}", failure.reason);
    }
}
