//! What a load run measured, as text for people and JSON for scripts.

use std::fmt::Write as _;

use serde::Serialize;

use super::stats::{Figures, ThreadStats};
use crate::descriptors::OpenFiles;
use crate::memory::{Memory, RssSummary, mib};

/// A finished run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub connections: usize,
    pub threads: usize,
    pub dialect: String,
    pub login: String,
    pub seconds: f64,
    pub interval_ms: u64,
    pub batch: u32,
    pub message_size: usize,
    pub partitions: u32,
    /// From the first connect to the last login.
    pub connect_all_seconds: f64,
    pub connected: usize,
    /// Length of the measured phase.
    pub elapsed_seconds: f64,
    /// Successful sends and polls per second.
    pub requests_per_second: f64,
    pub messages_sent: u64,
    pub messages_polled: u64,
    pub connections_lost: u64,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub connect: Figures,
    pub send: Figures,
    pub poll: Figures,
    pub server_memory: Option<ServerMemory>,
    pub open_files: OpenFiles,
}

/// The server's memory over the run (`--server-pid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ServerMemory {
    pub before: Option<Memory>,
    /// After every connection logged in.
    pub connected: Option<Memory>,
    /// Largest `VmRSS` sampled during the run (every 100 ms), and the last readings.
    pub during: RssSummary,
}

impl LoadReport {
    pub(crate) fn requests(stats: &ThreadStats) -> u64 {
        stats.send.latency.len() + stats.poll.latency.len()
    }

    /// Several lines of text.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "whippet-abuse load: {} connections ({}, {} login) on {} threads, {:.0} s, {} × {} B per send, \
             one request per connection every {} ms, {} partitions",
            self.connections,
            self.dialect,
            self.login,
            self.threads,
            self.seconds,
            self.batch,
            self.message_size,
            self.interval_ms,
            self.partitions
        );
        let _ = writeln!(
            out,
            "connect: {}/{} connected and logged in in {:.2} s",
            self.connected, self.connections, self.connect_all_seconds
        );
        let _ = writeln!(
            out,
            "requests: {} in {:.1} s = {:.0} req/s; messages sent {} ({:.0}/s), polled {}",
            self.send.count + self.poll.count,
            self.elapsed_seconds,
            self.requests_per_second,
            self.messages_sent,
            self.messages_sent as f64 / self.elapsed_seconds.max(f64::EPSILON),
            self.messages_polled
        );
        let _ = writeln!(out, "latency (ms)   count     errors   p50     p90     p99     p99.9   max");
        for (name, figures) in [("connect", &self.connect), ("send", &self.send), ("poll", &self.poll)] {
            let _ = writeln!(out, "  {name:<10} {}", figures_line(figures));
        }
        let _ = writeln!(out, "errors: {} ({} connections lost)", self.errors, self.connections_lost);
        for sample in &self.error_samples {
            let _ = writeln!(out, "  {sample}");
        }
        if let Some(memory) = &self.server_memory {
            let _ = writeln!(out, "server memory: {}", memory_line(memory));
        }
        let raised = self.open_files.raised_from.map_or(String::new(), |from| format!(", raised from {from}"));
        let _ = writeln!(out, "open files: soft {} hard {}{raised}", self.open_files.soft, self.open_files.hard);
        out
    }
}

fn figures_line(figures: &Figures) -> String {
    let ms = |us: u64| us as f64 / 1000.0;
    format!(
        "{:<9} {:<8} {:<7.3} {:<7.3} {:<7.3} {:<7.3} {:.3}",
        figures.count,
        figures.errors,
        ms(figures.p50_us),
        ms(figures.p90_us),
        ms(figures.p99_us),
        ms(figures.p999_us),
        ms(figures.max_us)
    )
}

fn memory_line(memory: &ServerMemory) -> String {
    let rss = |reading: Option<Memory>| reading.map_or("?".to_string(), |m| format!("{:.1} MiB", mib(m.rss_bytes)));
    let hwm = memory.during.last.map_or("?".to_string(), |m| format!("{:.1} MiB", mib(m.hwm_bytes)));
    format!(
        "RSS before {}, all connected {}, peak during the run {:.1} MiB, end {}; VmHWM {hwm}",
        rss(memory.before),
        rss(memory.connected),
        mib(memory.during.peak_rss_bytes),
        rss(memory.during.last)
    )
}
