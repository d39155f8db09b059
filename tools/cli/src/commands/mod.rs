//! One module per group of nouns: each defines its clap subcommands, what they are about (for
//! error messages) and how they run against a logged-in [`Ctx`].

pub mod groups;
pub mod messages;
pub mod permissions;
pub mod streams;
pub mod system;
pub mod topics;
pub mod users;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use whippet_client::protocol::types::Options;
use whippet_client::{Client, ClientError};

use crate::exit::CliError;
use crate::output::Output;

/// A logged-in connection and how to print. Lives on the one monoio thread of the run.
pub struct Ctx {
    pub client: Client,
    pub out: Output,
    /// The longest wait for one reply in commands that run until stopped.
    pub timeout: Duration,
}

/// Waits at most `timeout` for one call to the server at `address`.
pub async fn bounded<T>(
    timeout: Duration,
    address: SocketAddr,
    call: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, CliError> {
    match monoio::time::timeout(timeout, call).await {
        Ok(result) => result.map_err(CliError::from),
        Err(_) => Err(CliError::Timeout { address, timeout }),
    }
}

/// An options block as text: string values as they are, others as their kind and hex bytes.
pub fn options_text(options: &Options) -> BTreeMap<String, String> {
    options
        .0
        .iter()
        .map(|(key, value)| {
            let text = value.as_str().map_or_else(
                || format!("kind{}:{}", value.kind, value.bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()),
                str::to_owned,
            );
            (key.clone(), text)
        })
        .collect()
}
