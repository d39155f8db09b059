//! Whippet's own client for both Iggy dialects, on monoio, used by the `whippet` CLI and
//! `whippet-bench`. It can drive any Iggy-compatible server: 0.11 servers speak only the VSR
//! dialect, Iggy 0.8 servers only the legacy one, Whippet both on one port.
//!
//! - [`transport`]: one TCP connection and its framing (lock-step, as every Iggy SDK).
//! - [`Tls`]: optional TLS for that connection (a CA file or the system's trust store).
//! - [`Client`]: typed methods, one per command; system and session commands in `client`,
//!   the operator's commands in `admin`, messages and offsets in `messages`.
//!
//! ```no_run
//! use whippet_client::{Client, Credentials, Dialect, Message};
//! use whippet_protocol::types::{Identifier, Partitioning};
//!
//! monoio::start::<monoio::LegacyDriver, _>(async {
//!     let credentials = Credentials::Password { username: "iggy".into(), password: "iggy".into() };
//!     let address = "127.0.0.1:8090".parse().unwrap();
//!     let mut client = Client::connect_and_login(address, Dialect::V011, &credentials).await?;
//!     let stream = Identifier::named("orders")?;
//!     let topic = Identifier::named("created")?;
//!     client.send_messages(&stream, &topic, Partitioning::Balanced, &[Message::new("hello")]).await?;
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! }).unwrap();
//! ```

// No unwrap on external input or I/O outside tests: errors are values here.
#![warn(clippy::unwrap_used)]

mod admin;
mod client;
mod error;
mod messages;
mod tls;
pub mod transport;

pub use admin::{TopicSpec, USER_STATUS_ACTIVE, USER_STATUS_INACTIVE, UserSpec};
pub use client::{Client, Credentials, SDK_NAME, Session};
pub use error::{ClientError, status_name};
pub use messages::{Message, PollSpec, Polled, PolledMessage, PreparedSend, now_micros};
pub use tls::{Tls, TlsSettings};
pub use transport::{Dialect, Request};
pub use whippet_protocol as protocol;
