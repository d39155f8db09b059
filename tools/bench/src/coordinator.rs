//! The coordinator, on the main thread: starts one thread per actor, waits until every actor
//! is connected and ready, starts them all at once, prints the progress line, and collects
//! their measurements. The first failure stops the run; every wait is bounded.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::actors::{self, ActorContext, Event, Shared, Start};
use crate::config::{BYTES_PER_MB, Config};
use crate::error::BenchError;
use crate::scenario::ActorSpec;
use crate::stats::ActorStats;

/// How long every actor may take to connect, log in and prepare.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// After a failure, how long the other actors may take to notice and stop.
const FAILURE_GRACE: Duration = Duration::from_secs(15);
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// One actor's measurements.
pub struct Finished {
    pub spec: ActorSpec,
    pub stats: ActorStats,
}

/// Runs every actor of `plan` to the end.
pub fn run(config: &Arc<Config>, plan: Vec<ActorSpec>) -> Result<Vec<Finished>, BenchError> {
    let shared = Arc::new(Shared::new(config));
    let (events_sender, events) = mpsc::channel();
    let mut starts = Vec::with_capacity(plan.len());
    for (id, spec) in plan.iter().enumerate() {
        let (start_sender, start) = mpsc::channel();
        let context = ActorContext { config: Arc::clone(config), shared: Arc::clone(&shared), spec: spec.clone() };
        if let Err(source) = actors::spawn(id, context, events_sender.clone(), start) {
            shared.stop();
            return Err(BenchError::Runtime { what: format!("the thread of {}", spec.label()), source });
        }
        starts.push(start_sender);
    }
    drop(events_sender);
    let mut run = Run {
        results: (0..plan.len()).map(|_| None).collect(),
        reported: vec![false; plan.len()],
        plan,
        shared,
        events,
        failure: None,
        progress: None,
    };
    run.wait_ready(config, starts)?;
    run.collect()
}

struct Run {
    plan: Vec<ActorSpec>,
    shared: Arc<Shared>,
    events: Receiver<Event>,
    results: Vec<Option<ActorStats>>,
    /// Which actors have sent their last event (Done or Failed).
    reported: Vec<bool>,
    failure: Option<BenchError>,
    progress: Option<Progress>,
}

/// The progress line's schedule.
struct Progress {
    start: Start,
    next: Instant,
}

impl Run {
    /// Waits for every actor's Ready, then sends them all the same [`Start`].
    fn wait_ready(&mut self, config: &Config, starts: Vec<Sender<Start>>) -> Result<(), BenchError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut ready = vec![false; self.plan.len()];
        while ready.iter().any(|ready| !ready) {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(wait) {
                Ok(Event::Ready(id)) => ready[id] = true,
                Ok(Event::Failed(id, error)) => {
                    self.reported[id] = true;
                    return Err(self.abort(starts, error));
                }
                Ok(Event::Done(id, _)) => unreachable!("actor {id} finished before it started"),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    let late: Vec<String> =
                        self.plan.iter().zip(&ready).filter(|(_, ready)| !**ready).map(|(s, _)| s.label()).collect();
                    let error = BenchError::Timeout(format!(
                        "not ready (connected and prepared) within {READY_TIMEOUT:?}: {}",
                        late.join(", ")
                    ));
                    return Err(self.abort(starts, error));
                }
            }
        }
        let measure_from = Instant::now() + config.warmup;
        let start = Start { measure_from, until: config.duration.map(|duration| measure_from + duration) };
        for sender in &starts {
            // An actor gone already has reported why; collect() hears it.
            let _ = sender.send(start);
        }
        self.progress = Some(Progress { start, next: Instant::now() + PROGRESS_INTERVAL });
        Ok(())
    }

    /// Stops every actor after `error`, waits (bounded) for them to end, and returns `error`.
    fn abort(&mut self, starts: Vec<Sender<Start>>, error: BenchError) -> BenchError {
        self.shared.stop();
        drop(starts);
        self.failure = Some(error);
        match self.collect() {
            Err(error) => error,
            Ok(_) => unreachable!("a run with a failure returns it"),
        }
    }

    /// Waits for every actor's end (bounded by [`FAILURE_GRACE`] once one failed), printing
    /// the progress line meanwhile.
    fn collect(&mut self) -> Result<Vec<Finished>, BenchError> {
        let mut grace_until = self.failure.as_ref().map(|_| Instant::now() + FAILURE_GRACE);
        while self.reported.iter().any(|reported| !reported) {
            let now = Instant::now();
            let tick = self.progress.as_ref().map_or(PROGRESS_INTERVAL, |p| p.next.saturating_duration_since(now));
            let wait = grace_until.map_or(tick, |until| tick.min(until.saturating_duration_since(now)));
            match self.events.recv_timeout(wait) {
                Ok(Event::Ready(_)) => {}
                Ok(Event::Done(id, stats)) => {
                    self.reported[id] = true;
                    self.results[id] = Some(stats);
                }
                Ok(Event::Failed(id, error)) => {
                    self.reported[id] = true;
                    if self.failure.is_none() {
                        self.shared.stop();
                        self.failure = Some(error);
                        grace_until = Some(Instant::now() + FAILURE_GRACE);
                    }
                }
                Err(RecvTimeoutError::Timeout) if grace_until.is_some_and(|until| Instant::now() >= until) => break,
                Err(RecvTimeoutError::Timeout) => self.print_progress(),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if let Some(error) = self.failure.take() {
            return Err(error);
        }
        let mut finished = Vec::with_capacity(self.plan.len());
        for (spec, stats) in self.plan.iter().zip(self.results.iter_mut()) {
            let stats = stats.take().ok_or_else(|| BenchError::Actor {
                actor: spec.label(),
                action: "run",
                reason: "its thread ended without a result".into(),
            })?;
            finished.push(Finished { spec: spec.clone(), stats });
        }
        Ok(finished)
    }

    fn print_progress(&mut self) {
        let Some(progress) = &mut self.progress else { return };
        let now = Instant::now();
        if now < progress.next || self.failure.is_some() {
            return;
        }
        progress.next += PROGRESS_INTERVAL;
        let since_start = now.saturating_duration_since(progress.start.measure_from);
        if now < progress.start.measure_from {
            let left = progress.start.measure_from - now;
            eprintln!("[warmup] {:.0} s left", left.as_secs_f64().ceil());
            return;
        }
        let bytes = self.shared.progress_bytes.load(Ordering::Relaxed);
        let messages = self.shared.progress_messages.load(Ordering::Relaxed);
        let elapsed_s = since_start.as_secs_f64().max(1e-9);
        eprintln!("[{:>5.0} s] {:.2} MB/s, {messages} messages", elapsed_s, bytes as f64 / BYTES_PER_MB / elapsed_s);
    }
}
