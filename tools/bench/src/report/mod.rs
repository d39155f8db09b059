//! The run's results: [`Report`] (what `--json` writes), the human summary, and the charts.

mod chart;
mod summary;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::coordinator::Finished;
use crate::error::BenchError;
use crate::machine::Machine;
use crate::scenario::{Role, stream_name};
use crate::stats::{self, ActorStats, Figures, SecondPoint};

pub use chart::write_charts;

/// Everything a run measured, with the configuration and the machine. Serialized as the
/// `--json` file; the headline figures sit at the top level under stable names
/// (`throughput_mb_s`, `messages_per_s`, `latency_ms.p50` ... `latency_ms.max`,
/// `messages_total`, `bytes_total`, `batches_total`, `elapsed_s`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    pub scenario: &'static str,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// The role the headline figures are about (producers, consumers, ...).
    pub headline_role: &'static str,
    #[serde(flatten)]
    pub figures: Figures,
    /// Figures per role, the headline's included.
    pub roles: BTreeMap<&'static str, Figures>,
    pub actors: Vec<ActorReport>,
    /// The headline role's latency per second of the measured phase.
    pub timeline: Vec<SecondPoint>,
    /// The headline role's latency distribution: `[percentile, latency ms]` pairs.
    pub latency_distribution: Vec<(f64, f64)>,
    pub config: Value,
    pub machine: Machine,
    /// The configuration in one line, for the summary and the HTML page.
    #[serde(skip)]
    pub description: String,
}

/// One actor's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ActorReport {
    pub role: &'static str,
    pub index: u32,
    pub stream: String,
    pub partition: Option<u32>,
    #[serde(flatten)]
    pub figures: Figures,
}

impl Report {
    pub fn build(config: &Config, finished: &[Finished], machine: Machine, started_at: String) -> Report {
        let headline = config.scenario.headline();
        let merged = |role: Role| ActorStats::merge(finished.iter().filter(|f| f.spec.role == role).map(|f| &f.stats));
        let mut roles_present: Vec<Role> = Vec::new();
        for role in finished.iter().map(|f| f.spec.role) {
            if !roles_present.contains(&role) {
                roles_present.push(role);
            }
        }
        let roles = roles_present.iter().map(|role| (role.name(), Figures::of(&merged(*role)))).collect();
        let headline_stats = merged(headline);
        Report {
            tool: "whippet-bench",
            version: env!("CARGO_PKG_VERSION"),
            scenario: config.scenario.name(),
            started_at,
            headline_role: headline.name(),
            figures: Figures::of(&headline_stats),
            roles,
            actors: finished
                .iter()
                .map(|f| ActorReport {
                    role: f.spec.role.name(),
                    index: f.spec.index,
                    stream: stream_name(f.spec.stream),
                    partition: f.spec.partition,
                    figures: Figures::of(&f.stats),
                })
                .collect(),
            timeline: stats::timeline(&headline_stats),
            latency_distribution: stats::distribution(&headline_stats.latency),
            config: config.to_json(),
            machine,
            description: config.describe(),
        }
    }

    /// The human summary printed at the end of a run.
    pub fn summary(&self) -> String {
        summary::render(self)
    }

    pub fn write_json(&self, path: &Path) -> Result<(), BenchError> {
        let text = serde_json::to_string_pretty(self).expect("a report serializes");
        write_file(path, text + "\n")
    }
}

pub(crate) fn write_file(path: &Path, contents: String) -> Result<(), BenchError> {
    std::fs::write(path, contents).map_err(|source| BenchError::Output { path: path.to_owned(), source })
}
