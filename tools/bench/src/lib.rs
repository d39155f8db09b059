//! whippet-bench, the load generator: iggy-bench's scenarios against any Iggy-compatible
//! server, in either dialect.
//!
//! A run: resolve the [`Config`] from the [`Args`]; set up (recreate streams `bench-1`..,
//! create groups, seed what consumers read; not measured); run one thread per actor, each
//! with its own monoio runtime and connection ([`actors`]), started together by the
//! [`coordinator`]; merge their hdrhistograms into a [`Report`]; write `--json` and
//! `--report`. [`run`] does it all in-process; the binary prints [`Report::summary`].

pub mod actors;
pub mod args;
pub mod config;
pub mod coordinator;
pub mod error;
pub mod machine;
pub mod pacing;
pub mod report;
pub mod scenario;
mod setup;
pub mod stats;

use std::sync::Arc;
use std::time::SystemTime;

pub use args::Args;
pub use config::Config;
pub use error::BenchError;
pub use report::Report;

/// Runs the benchmark `args` describe and writes its `--json` and `--report` files.
pub fn run(args: &Args) -> Result<Report, BenchError> {
    let config = Arc::new(Config::from_args(args)?);
    eprintln!("{}", config.describe());
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .map_err(|source| BenchError::Runtime { what: "the setup runtime".into(), source })?;
    runtime.block_on(setup::prepare(&config))?;
    drop(runtime);
    let finished = coordinator::run(&config, scenario::plan(&config))?;
    let report = Report::build(&config, &finished, machine::collect(), started_at);
    if let Some(path) = &args.json {
        report.write_json(path)?;
    }
    if let Some(path) = &args.report {
        report::write_charts(path, &report)?;
    }
    Ok(report)
}
