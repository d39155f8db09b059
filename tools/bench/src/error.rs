//! What a bench run can fail with, precise enough to say what to fix.

use std::path::PathBuf;

use whippet_client::ClientError;

/// Why a run ended without figures.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The options contradict each other or the dialect.
    #[error("{0}")]
    Config(String),
    /// `--address` does not name a socket address.
    #[error("cannot resolve --address `{address}`: {reason}")]
    Address { address: String, reason: String },
    /// Creating streams, topics or groups, or seeding, failed (not measured).
    #[error("setup failed ({step}): {source}")]
    Setup { step: String, source: ClientError },
    /// One actor's connection, send or poll failed; the run stopped there.
    #[error("{actor}: {action} failed: {reason}")]
    Actor { actor: String, action: &'static str, reason: String },
    /// The operating system refused a thread or a runtime.
    #[error("cannot start {what}: {source}")]
    Runtime { what: String, source: std::io::Error },
    /// A bounded wait ran out.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The JSON or the report could not be written.
    #[error("cannot write {path}: {source}")]
    Output { path: PathBuf, source: std::io::Error },
    /// plotters could not draw a chart.
    #[error("cannot draw the report charts: {0}")]
    Chart(String),
}

impl BenchError {
    pub(crate) fn setup(step: impl Into<String>) -> impl FnOnce(ClientError) -> BenchError {
        let step = step.into();
        move |source| BenchError::Setup { step, source }
    }
}
