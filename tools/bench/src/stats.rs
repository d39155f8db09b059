//! Latency histograms (hdrhistogram, microseconds) and the figures derived from them.
//!
//! Each actor records one sample per batch into its own [`Recorder`], kept on the actor's
//! thread; the coordinator merges the finished [`ActorStats`]. Only the measured phase is
//! recorded: warmup batches never reach a recorder.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::config::BYTES_PER_MB;

/// The range a histogram covers without resizing (1 µs to 60 s); larger values resize it.
const LATENCY_HIGHEST_US: u64 = 60_000_000;
/// Precision of the whole-run histograms and of the per-second ones (smaller: one a second).
const SIGNIFICANT_DIGITS_RUN: u8 = 3;
const SIGNIFICANT_DIGITS_SECOND: u8 = 2;

fn histogram(significant_digits: u8) -> Histogram<u64> {
    let mut histogram = Histogram::new_with_bounds(1, LATENCY_HIGHEST_US, significant_digits)
        .expect("constant histogram bounds are valid");
    histogram.auto(true);
    histogram
}

fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// One actor's measurements while it runs.
pub struct Recorder {
    measure_from: Instant,
    stats: ActorStats,
}

impl Recorder {
    pub fn new(measure_from: Instant) -> Recorder {
        Recorder {
            measure_from,
            stats: ActorStats {
                latency: histogram(SIGNIFICANT_DIGITS_RUN),
                seconds: Vec::new(),
                messages: 0,
                bytes: 0,
                batches: 0,
                elapsed: Duration::ZERO,
            },
        }
    }

    /// One batch that moved `messages` messages of `bytes` payload bytes, finished at `at`.
    pub fn record(&mut self, latency: Duration, at: Instant, messages: u64, bytes: u64) {
        let value = micros(latency);
        let stats = &mut self.stats;
        stats.latency.record(value).expect("auto-resizing histogram takes any value");
        let second = at.saturating_duration_since(self.measure_from).as_secs() as usize;
        while stats.seconds.len() <= second {
            stats.seconds.push(histogram(SIGNIFICANT_DIGITS_SECOND));
        }
        stats.seconds[second].record(value).expect("auto-resizing histogram takes any value");
        stats.messages += messages;
        stats.bytes += bytes;
        stats.batches += 1;
    }

    /// Batches recorded so far.
    pub fn batches(&self) -> u64 {
        self.stats.batches
    }

    pub fn finish(mut self, end: Instant) -> ActorStats {
        self.stats.elapsed = end.saturating_duration_since(self.measure_from);
        self.stats
    }
}

/// What one actor (or several, merged) measured.
#[derive(Debug, Clone)]
pub struct ActorStats {
    /// One sample per batch, µs.
    pub latency: Histogram<u64>,
    /// The same samples split by the second of the measured phase they finished in.
    pub seconds: Vec<Histogram<u64>>,
    pub messages: u64,
    /// Payload bytes.
    pub bytes: u64,
    pub batches: u64,
    /// From the start of the measured phase to the actor's last batch.
    pub elapsed: Duration,
}

impl ActorStats {
    /// The sum of several actors: counts and histograms add, elapsed is the longest.
    pub fn merge<'a>(all: impl IntoIterator<Item = &'a ActorStats>) -> ActorStats {
        let mut merged = Recorder::new(Instant::now()).finish(Instant::now());
        for stats in all {
            merged.latency.add(&stats.latency).expect("auto-resizing histograms add");
            if merged.seconds.len() < stats.seconds.len() {
                merged.seconds.resize_with(stats.seconds.len(), || histogram(SIGNIFICANT_DIGITS_SECOND));
            }
            for (total, second) in merged.seconds.iter_mut().zip(&stats.seconds) {
                total.add(second).expect("auto-resizing histograms add");
            }
            merged.messages += stats.messages;
            merged.bytes += stats.bytes;
            merged.batches += stats.batches;
            merged.elapsed = merged.elapsed.max(stats.elapsed);
        }
        merged
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyMs {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub p9999: f64,
    pub max: f64,
    pub mean: f64,
    /// Batches sampled.
    pub samples: u64,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

impl LatencyMs {
    pub fn of(histogram: &Histogram<u64>) -> LatencyMs {
        let at = |quantile: f64| ms(histogram.value_at_quantile(quantile));
        LatencyMs {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            p9999: at(0.9999),
            max: ms(histogram.max()),
            mean: histogram.mean() / 1000.0,
            samples: histogram.len(),
        }
    }
}

/// Throughput and latency of a set of actors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Payload bytes over elapsed wall time, in MB/s (10^6 bytes).
    pub throughput_mb_s: f64,
    pub messages_per_s: f64,
    pub messages_total: u64,
    pub bytes_total: u64,
    pub batches_total: u64,
    pub elapsed_s: f64,
    pub latency_ms: LatencyMs,
}

impl Figures {
    pub fn of(stats: &ActorStats) -> Figures {
        let elapsed_s = stats.elapsed.as_secs_f64();
        let per_second = |count: u64| if elapsed_s > 0.0 { count as f64 / elapsed_s } else { 0.0 };
        Figures {
            throughput_mb_s: per_second(stats.bytes) / BYTES_PER_MB,
            messages_per_s: per_second(stats.messages),
            messages_total: stats.messages,
            bytes_total: stats.bytes,
            batches_total: stats.batches,
            elapsed_s,
            latency_ms: LatencyMs::of(&stats.latency),
        }
    }
}

/// One second of the measured phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecondPoint {
    pub second: u64,
    pub batches: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Latency per second (seconds without a batch are left out).
pub fn timeline(stats: &ActorStats) -> Vec<SecondPoint> {
    (0u64..)
        .zip(&stats.seconds)
        .filter(|(_, histogram)| !histogram.is_empty())
        .map(|(second, histogram)| SecondPoint {
            second,
            batches: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
        })
        .collect()
}

/// `(percentile, latency ms)` points of the distribution, denser towards the tail.
pub fn distribution(histogram: &Histogram<u64>) -> Vec<(f64, f64)> {
    if histogram.is_empty() {
        return Vec::new();
    }
    histogram
        .iter_quantiles(4)
        .map(|step| (step.quantile_iterated_to() * 100.0, ms(step.value_iterated_to())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(latencies_ms: &[u64]) -> ActorStats {
        let start = Instant::now();
        let mut recorder = Recorder::new(start);
        for (index, latency) in latencies_ms.iter().enumerate() {
            let at = start + Duration::from_millis(500 * index as u64);
            recorder.record(Duration::from_millis(*latency), at, 10, 1000);
        }
        recorder.finish(start + Duration::from_secs(2))
    }

    #[test]
    fn figures_count_and_rate() {
        let figures = Figures::of(&recorded(&[1, 2, 3, 4]));
        assert_eq!((figures.messages_total, figures.bytes_total, figures.batches_total), (40, 4000, 4));
        assert!((figures.messages_per_s - 20.0).abs() < 1e-9);
        assert!((figures.throughput_mb_s - 0.002).abs() < 1e-12);
        assert!((figures.latency_ms.max - 4.0).abs() < 0.01);
        assert!((figures.latency_ms.p50 - 2.0).abs() < 0.01);
    }

    #[test]
    fn merge_adds_counts_and_seconds() {
        let merged = ActorStats::merge([&recorded(&[1, 2]), &recorded(&[5, 6, 7])]);
        assert_eq!((merged.batches, merged.messages), (5, 50));
        let points = timeline(&merged);
        assert_eq!(points.iter().map(|p| p.batches).collect::<Vec<_>>(), vec![4, 1]);
        assert!((points[1].max_ms - 7.0).abs() < 0.1);
        assert_eq!(merged.elapsed, Duration::from_secs(2));
    }

    #[test]
    fn distribution_is_monotonic() {
        let points = distribution(&recorded(&[1, 1, 2, 3, 50]).latency);
        assert!(points.windows(2).all(|pair| pair[0].0 <= pair[1].0 && pair[0].1 <= pair[1].1));
        assert!((points.last().unwrap().0 - 100.0).abs() < 1e-9);
    }
}
