//! What a client call can fail with, precise enough for a CLI to say what to do next.

use whippet_protocol::status::ErrorCode;
use whippet_protocol::vsr::EvictionReason;
use whippet_protocol::wire::DecodeError;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket failed or the server closed the connection.
    #[error("connection to the server failed: {0}")]
    Io(#[from] std::io::Error),
    /// The server refused the request with an Iggy status code.
    #[error("server refused the request: {name} ({code})", name = status_name(*code))]
    Status { code: u32 },
    /// The server ended the session (0.11 only).
    #[error("server ended the session: {reason:?} (status {code})", code = *code as u32)]
    Evicted { reason: EvictionReason, code: ErrorCode },
    /// The reply did not decode as the request's reply layout.
    #[error("server sent a reply this client cannot decode: {0}")]
    Decode(#[from] DecodeError),
    /// The server broke the framing rules (wrong command byte, short result section, ...).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The caller asked for something the dialect cannot express.
    #[error("not supported over the {dialect} dialect: {what}")]
    Unsupported { dialect: &'static str, what: &'static str },
    /// A request was built with a value the protocol cannot carry.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// TLS could not be set up (CA file, server name) or its handshake failed.
    #[error("TLS: {0}")]
    Tls(String),
}

impl ClientError {
    /// The Iggy status code behind this error, when there is one.
    pub fn status(&self) -> Option<u32> {
        match self {
            ClientError::Status { code } => Some(*code),
            ClientError::Evicted { code, .. } => Some(*code as u32),
            _ => None,
        }
    }

    /// Whether the server said the thing does not exist (stream, topic, user, ...).
    pub fn is_not_found(&self) -> bool {
        self.status().and_then(ErrorCode::from_u32).is_some_and(|code| code.name().ends_with("NotFound"))
    }
}

/// The Iggy name of a status code, or "unknown status" for codes this build does not know.
pub fn status_name(code: u32) -> &'static str {
    ErrorCode::from_u32(code).map_or("unknown status", ErrorCode::name)
}
