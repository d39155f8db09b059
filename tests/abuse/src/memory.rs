//! A process's memory as the kernel counts it, from `/proc/<pid>/status`: `VmRSS` (resident
//! now) and `VmHWM` (the largest resident size since the process started), and a sampler
//! thread that keeps the largest `VmRSS` it saw.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde::Serialize;

const BYTES_PER_KIB: u64 = 1024;
pub const BYTES_PER_MIB: u64 = 1024 * 1024;

/// One reading of `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Memory {
    pub rss_bytes: u64,
    /// Peak resident size since the process started ("high water mark").
    pub hwm_bytes: u64,
}

/// Reads `VmRSS` and `VmHWM` of process `pid`.
pub fn read(pid: u32) -> io::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status(&status)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("/proc/{pid}/status has no VmRSS/VmHWM")))
}

fn parse_status(status: &str) -> Option<Memory> {
    let field = |name: &str| {
        let line = status.lines().find(|line| line.starts_with(name))?;
        let kib: u64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * BYTES_PER_KIB)
    };
    Some(Memory { rss_bytes: field("VmRSS:")?, hwm_bytes: field("VmHWM:")? })
}

/// Mebibytes, for reports.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / BYTES_PER_MIB as f64
}

/// What the sampler threads share.
#[derive(Debug, Default)]
struct Readings {
    stop: AtomicBool,
    current_rss_bytes: AtomicU64,
    peak_rss_bytes: AtomicU64,
    samples: AtomicU64,
    /// Readings that failed (the process is gone, or /proc is not mounted).
    failures: AtomicU64,
}

/// Reads a process's `VmRSS` every `period` on its own thread until stopped.
pub struct RssSampler {
    pid: u32,
    readings: Arc<Readings>,
    thread: Option<JoinHandle<()>>,
}

/// What a sampler saw, from its start to its stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RssSummary {
    pub peak_rss_bytes: u64,
    /// The last reading at the stop, `None` when it failed.
    pub last: Option<Memory>,
    pub samples: u64,
    pub failures: u64,
}

impl RssSampler {
    pub fn start(pid: u32, period: Duration) -> RssSampler {
        let readings = Arc::new(Readings::default());
        let shared = Arc::clone(&readings);
        let thread = thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || {
                while !shared.stop.load(Ordering::Acquire) {
                    sample(pid, &shared);
                    thread::sleep(period);
                }
            })
            .expect("spawn the rss sampler thread");
        RssSampler { pid, readings, thread: Some(thread) }
    }

    /// The latest `VmRSS` reading (0 before the first).
    pub fn current_rss_bytes(&self) -> u64 {
        self.readings.current_rss_bytes.load(Ordering::Acquire)
    }

    /// The largest `VmRSS` seen so far.
    pub fn peak_rss_bytes(&self) -> u64 {
        self.readings.peak_rss_bytes.load(Ordering::Acquire)
    }

    /// Stops and joins the thread, takes a last reading and reports.
    pub fn stop(mut self) -> RssSummary {
        self.readings.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let last = read(self.pid).ok();
        if let Some(memory) = last {
            self.readings.peak_rss_bytes.fetch_max(memory.rss_bytes, Ordering::AcqRel);
        }
        RssSummary {
            peak_rss_bytes: self.peak_rss_bytes(),
            last,
            samples: self.readings.samples.load(Ordering::Acquire),
            failures: self.readings.failures.load(Ordering::Acquire),
        }
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.readings.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn sample(pid: u32, readings: &Readings) {
    match read(pid) {
        Ok(memory) => {
            readings.current_rss_bytes.store(memory.rss_bytes, Ordering::Release);
            readings.peak_rss_bytes.fetch_max(memory.rss_bytes, Ordering::AcqRel);
            readings.samples.fetch_add(1, Ordering::AcqRel);
        }
        Err(_) => {
            readings.failures.fetch_add(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_two_fields_in_bytes() {
        let status = "Name:\twhippet-server\nVmPeak:\t  900 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(parse_status(status), Some(Memory { rss_bytes: 1024 * 1024, hwm_bytes: 2048 * 1024 }));
        assert_eq!(parse_status("Name:\tkthreadd\n"), None, "kernel threads have no Vm fields");
    }

    #[test]
    fn reads_this_process() {
        let memory = read(std::process::id()).expect("own /proc status");
        assert!(memory.rss_bytes > 0 && memory.hwm_bytes >= memory.rss_bytes, "{memory:?}");
        let sampler = RssSampler::start(std::process::id(), Duration::from_millis(5));
        thread::sleep(Duration::from_millis(30));
        let summary = sampler.stop();
        assert!(summary.samples >= 1 && summary.peak_rss_bytes > 0, "{summary:?}");
    }
}
