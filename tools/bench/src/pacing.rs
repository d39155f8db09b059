//! `--rate-limit`: when each batch is due, and where its latency counts from.
//!
//! The schedule is in bytes, not batches: the next batch is due when the bytes moved so far
//! would have taken the actor's share of the rate. An actor ahead of schedule sleeps until
//! the batch is due and times it from its actual start; an actor behind schedule starts at
//! once and times it from when it was due, so a slow server cannot hide its stalls by
//! slowing the load down (coordinated omission).

use std::time::{Duration, Instant};

/// One actor's schedule.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Bytes per second; `None` runs flat out.
    rate_bytes_s: Option<f64>,
    origin: Instant,
    bytes_done: u64,
}

/// What to do before the next batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Ahead of schedule: sleep this long, then start (and time from the actual start).
    Wait(Duration),
    /// Go now, timing the batch from this instant (its due time when behind).
    Go(Instant),
}

impl Pacer {
    pub fn new(rate_bytes_s: Option<f64>, origin: Instant) -> Pacer {
        Pacer { rate_bytes_s, origin, bytes_done: 0 }
    }

    /// Starts the schedule again from `origin` (the measured phase after warmup).
    pub fn restart(&mut self, origin: Instant) {
        self.origin = origin;
        self.bytes_done = 0;
    }

    /// When the next batch is due; `None` when unpaced.
    pub fn due(&self) -> Option<Instant> {
        self.rate_bytes_s.map(|rate| self.origin + Duration::from_secs_f64(self.bytes_done as f64 / rate))
    }

    pub fn turn(&self, now: Instant) -> Turn {
        match self.due() {
            Some(due) if due > now => Turn::Wait(due - now),
            Some(due) => Turn::Go(due),
            None => Turn::Go(now),
        }
    }

    /// Counts bytes moved, moving the next due time on.
    pub fn advance(&mut self, bytes: u64) {
        self.bytes_done += bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpaced_goes_now() {
        let now = Instant::now();
        let mut pacer = Pacer::new(None, now);
        pacer.advance(1 << 30);
        assert_eq!(pacer.turn(now), Turn::Go(now));
    }

    #[test]
    fn ahead_waits_and_behind_counts_from_due() {
        let origin = Instant::now();
        // 1 MB/s, 100 kB batches: one batch every 100 ms.
        let mut pacer = Pacer::new(Some(1_000_000.0), origin);
        assert_eq!(pacer.turn(origin), Turn::Go(origin));
        pacer.advance(100_000);
        assert_eq!(pacer.turn(origin + Duration::from_millis(40)), Turn::Wait(Duration::from_millis(60)));
        // 250 ms in, the batch due at 100 ms is 150 ms late: its latency counts from 100 ms.
        assert_eq!(pacer.turn(origin + Duration::from_millis(250)), Turn::Go(origin + Duration::from_millis(100)));
        pacer.restart(origin + Duration::from_secs(1));
        assert_eq!(pacer.due(), Some(origin + Duration::from_secs(1)));
    }
}
