//! Latency per request kind (hdrhistogram, microseconds) and error counts. Each runtime thread
//! keeps its own [`ThreadStats`], shared by its connection tasks; the threads' are merged at
//! the end.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The range a histogram covers without resizing (1 µs to 60 s); larger values resize it.
const LATENCY_HIGHEST_US: u64 = 60_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;
/// Error messages kept verbatim (the rest are only counted).
pub const ERROR_SAMPLES_MAX: usize = 10;

/// What a measured call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Connect and log in.
    Connect,
    Send,
    Poll,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Connect => "connect",
            Kind::Send => "send",
            Kind::Poll => "poll",
        }
    }
}

/// Latency and errors of one kind of call.
#[derive(Debug, Clone)]
pub struct KindStats {
    pub latency: Histogram<u64>,
    pub errors: u64,
}

impl Default for KindStats {
    fn default() -> Self {
        let mut latency = Histogram::new_with_bounds(1, LATENCY_HIGHEST_US, SIGNIFICANT_DIGITS)
            .expect("constant histogram bounds are valid");
        latency.auto(true);
        KindStats { latency, errors: 0 }
    }
}

impl KindStats {
    fn merge(&mut self, other: &KindStats) {
        self.latency.add(&other.latency).expect("auto-resizing histograms merge");
        self.errors += other.errors;
    }

    /// The figures of a report.
    pub fn figures(&self) -> Figures {
        let h = &self.latency;
        let at = |quantile: f64| if h.is_empty() { 0 } else { h.value_at_quantile(quantile) };
        Figures {
            count: h.len(),
            errors: self.errors,
            mean_us: if h.is_empty() { 0.0 } else { h.mean() },
            p50_us: at(0.50),
            p90_us: at(0.90),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: if h.is_empty() { 0 } else { h.max() },
        }
    }
}

/// One kind's figures: successful calls and their latency, and failed calls.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figures {
    pub count: u64,
    pub errors: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

/// Everything one runtime thread measured.
#[derive(Debug, Clone, Default)]
pub struct ThreadStats {
    pub connect: KindStats,
    pub send: KindStats,
    pub poll: KindStats,
    pub messages_sent: u64,
    pub messages_polled: u64,
    /// Connections that stopped early because a call failed.
    pub connections_lost: u64,
    /// The first [`ERROR_SAMPLES_MAX`] error messages.
    pub error_samples: Vec<String>,
}

impl ThreadStats {
    fn kind_mut(&mut self, kind: Kind) -> &mut KindStats {
        match kind {
            Kind::Connect => &mut self.connect,
            Kind::Send => &mut self.send,
            Kind::Poll => &mut self.poll,
        }
    }

    /// A successful call that took `latency`.
    pub fn record(&mut self, kind: Kind, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1);
        self.kind_mut(kind).latency.record(micros).expect("auto-resizing histogram takes any value");
    }

    /// A failed call.
    pub fn error(&mut self, kind: Kind, what: String) {
        self.kind_mut(kind).errors += 1;
        if self.error_samples.len() < ERROR_SAMPLES_MAX {
            self.error_samples.push(format!("{}: {what}", kind.name()));
        }
    }

    pub fn merge(&mut self, other: &ThreadStats) {
        self.connect.merge(&other.connect);
        self.send.merge(&other.send);
        self.poll.merge(&other.poll);
        self.messages_sent += other.messages_sent;
        self.messages_polled += other.messages_polled;
        self.connections_lost += other.connections_lost;
        let room = ERROR_SAMPLES_MAX.saturating_sub(self.error_samples.len());
        self.error_samples.extend(other.error_samples.iter().take(room).cloned());
    }

    /// Failed calls of every kind.
    pub fn errors(&self) -> u64 {
        self.connect.errors + self.send.errors + self.poll.errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_merge_and_keep_a_bounded_error_sample() {
        let mut first = ThreadStats::default();
        first.record(Kind::Send, Duration::from_micros(100));
        first.record(Kind::Send, Duration::from_millis(2));
        let mut second = ThreadStats::default();
        second.record(Kind::Poll, Duration::ZERO);
        for index in 0..ERROR_SAMPLES_MAX + 3 {
            second.error(Kind::Connect, format!("refused #{index}"));
        }
        first.merge(&second);
        let send = first.send.figures();
        assert_eq!((send.count, send.errors), (2, 0));
        assert!(send.max_us >= 2_000 && send.p50_us <= 101, "{send:?}");
        assert_eq!(first.poll.figures().p99_us, 1, "a zero latency is recorded as 1 µs");
        assert_eq!(first.errors(), ERROR_SAMPLES_MAX as u64 + 3);
        assert_eq!(first.error_samples.len(), ERROR_SAMPLES_MAX);
        assert_eq!(first.error_samples[0], "connect: refused #0");
    }
}
