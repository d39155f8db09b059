//! The human summary: throughput and latency percentiles per role, headline first.

use std::fmt::Write;

use super::Report;
use crate::stats::Figures;

pub fn render(report: &Report) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "{}", report.description);
    let _ = writeln!(text, "{}", line(report.headline_role, &report.figures));
    for (role, figures) in &report.roles {
        if *role != report.headline_role {
            let _ = writeln!(text, "{}", line(role, figures));
        }
    }
    text
}

fn line(role: &str, figures: &Figures) -> String {
    let latency = &figures.latency_ms;
    format!(
        "{role}s: {:.2} MB/s, {:.0} messages/s ({} messages, {} batches, {} bytes in {:.3} s)\n  \
         latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  p99.99 {:.3}  max {:.3}",
        figures.throughput_mb_s,
        figures.messages_per_s,
        figures.messages_total,
        figures.batches_total,
        figures.bytes_total,
        figures.elapsed_s,
        latency.p50,
        latency.p90,
        latency.p99,
        latency.p999,
        latency.p9999,
        latency.max,
    )
}
