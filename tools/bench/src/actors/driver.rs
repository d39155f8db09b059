//! [`Driver`]: the loop every actor runs — warmup, then the measured phase, paced by
//! `--rate-limit`, ended by `--batches`, `--duration` or a failure elsewhere — and
//! [`Stall`], the bound on waiting for data that does not come.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{ActorContext, Start};
use crate::error::BenchError;
use crate::pacing::{Pacer, Turn};
use crate::stats::{ActorStats, Recorder};

/// How long a consumer waits for data the run says must come before it gives up.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a paced actor sleeps before it looks at the stop flag again.
const STOP_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// When an actor's measured phase ends (besides a failure elsewhere).
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// After this many measured batches.
    pub batches: Option<u64>,
    /// At this instant.
    pub until: Option<Instant>,
}

impl Limit {
    /// `--batches` or `--duration`, as the command line says.
    pub fn from_config(context: &ActorContext, start: &Start) -> Limit {
        let by_count = context.config.duration.is_none();
        Limit { batches: by_count.then_some(context.config.batches), until: start.until }
    }

    /// Only the actor knows when it is done (consumers that drain what was sent).
    pub fn open() -> Limit {
        Limit { batches: None, until: None }
    }
}

/// One actor's loop state.
pub struct Driver<'a> {
    context: &'a ActorContext,
    measure_from: Instant,
    limit: Limit,
    pacer: Pacer,
    recorder: Recorder,
    /// Whether the measured phase has begun.
    measuring: bool,
    /// Whether the batch `next` let through is measured (it started after warmup).
    current_measured: bool,
    /// Only the paced role sleeps for `--rate-limit`.
    paced: bool,
    /// Only the headline role feeds the progress line.
    headline: bool,
}

impl<'a> Driver<'a> {
    pub fn new(context: &'a ActorContext, start: &Start, limit: Limit) -> Driver<'a> {
        let scenario = context.config.scenario;
        let paced = context.spec.role == scenario.paced();
        let rate = if paced { context.config.rate_per_actor_bytes_s() } else { None };
        Driver {
            context,
            measure_from: start.measure_from,
            limit,
            pacer: Pacer::new(rate, Instant::now()),
            recorder: Recorder::new(start.measure_from),
            measuring: false,
            current_measured: false,
            paced,
            headline: context.spec.role == scenario.headline(),
        }
    }

    /// Waits for the next batch's turn and returns the instant its latency counts from, or
    /// `None` when the actor is done.
    pub async fn next(&mut self) -> Option<Instant> {
        // A batch the actor slept for starts on time: it counts from its actual start, so
        // the timer's own lateness is not charged to the server.
        let mut slept = false;
        loop {
            if self.context.shared.stopped() {
                return None;
            }
            let now = Instant::now();
            if !self.measuring && now >= self.measure_from {
                self.measuring = true;
                self.pacer.restart(now);
            }
            if self.measuring {
                let counted_out = self.limit.batches.is_some_and(|batches| self.recorder.batches() >= batches);
                let timed_out = self.limit.until.is_some_and(|until| now >= until);
                if counted_out || timed_out {
                    return None;
                }
            }
            match self.pacer.turn(now) {
                // Re-check after sleeping: the warmup or the duration may have ended meanwhile.
                Turn::Wait(pause) => {
                    monoio::time::sleep(self.bounded(pause, now)).await;
                    slept = true;
                }
                Turn::Go(due) => {
                    self.current_measured = self.measuring;
                    return Some(if slept { now } else { due });
                }
            }
        }
    }

    /// A pause cut short at the next phase boundary, and short enough to notice a stop.
    fn bounded(&self, pause: Duration, now: Instant) -> Duration {
        let boundary = if self.measuring { self.limit.until } else { Some(self.measure_from) };
        let pause = pause.min(STOP_CHECK_INTERVAL);
        boundary.map_or(pause, |boundary| pause.min(boundary.saturating_duration_since(now)))
    }

    pub fn measuring(&self) -> bool {
        self.measuring
    }

    /// Ends a batch that started at `reference` and moved `messages` messages of `bytes`
    /// payload bytes.
    pub fn record(&mut self, reference: Instant, messages: u64, bytes: u64) {
        let now = Instant::now();
        self.record_latency(now.saturating_duration_since(reference), messages, bytes);
    }

    /// Ends a batch whose latency the actor measured itself.
    pub fn record_latency(&mut self, latency: Duration, messages: u64, bytes: u64) {
        if self.paced {
            self.pacer.advance(bytes);
        }
        if !self.current_measured {
            return;
        }
        self.recorder.record(latency, Instant::now(), messages, bytes);
        if !self.headline {
            return;
        }
        let shared = &self.context.shared;
        shared.progress_messages.fetch_add(messages, Ordering::Relaxed);
        shared.progress_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn finish(self) -> ActorStats {
        self.recorder.finish(Instant::now())
    }
}

/// Bounds a wait for data: fails once nothing has arrived for [`STALL_TIMEOUT`].
pub struct Stall {
    last_progress: Instant,
}

impl Stall {
    pub fn new() -> Stall {
        Stall { last_progress: Instant::now() }
    }

    pub fn progressed(&mut self) {
        self.last_progress = Instant::now();
    }

    /// `what` says what was awaited, for the error.
    pub fn check(&self, context: &ActorContext, what: impl FnOnce() -> String) -> Result<(), BenchError> {
        if self.last_progress.elapsed() < STALL_TIMEOUT {
            return Ok(());
        }
        Err(context.error("poll", format!("{}; nothing new for {STALL_TIMEOUT:?}", what())))
    }
}
