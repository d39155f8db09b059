//! The Eviction header (§3.1): a header-only, session-terminal frame the server sends instead
//! of a reply when a login is refused or a session dies.

use super::{Command, FrameError, HEADER_SIZE, REQUEST_CLIENT, frame_part, header_of, put, u32_at, u128_at};
use crate::status::ErrorCode;

const CLIENT: usize = REQUEST_CLIENT;
const PROTOCOL_VERSION: usize = 144;
const PROTOCOL_VERSION_MIN: usize = 148;
const REASON: usize = 255;

/// Why a client was evicted (`EvictionReason` of the reference crate).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EvictionReason {
    NoSession = 1,
    ClientReleaseTooLow = 2,
    ClientReleaseTooHigh = 3,
    InvalidRequestOperation = 4,
    InvalidRequestBody = 5,
    InvalidRequestBodySize = 6,
    SessionTooLow = 7,
    SessionReleaseMismatch = 8,
    /// Wrong username or password.
    InvalidCredentials = 9,
    /// Wrong personal access token.
    InvalidToken = 10,
    UserInactive = 11,
    SessionError = 12,
    /// Silent past the heartbeat deadline.
    StaleClient = 13,
    /// Login version outside the window; the header carries the window.
    IncompatibleProtocol = 14,
    /// Login body without a decodable ClientVersionInfo prefix.
    MalformedLogin = 15,
}

impl EvictionReason {
    pub fn from_u8(value: u8) -> Option<EvictionReason> {
        use EvictionReason::*;
        const ALL: [EvictionReason; 15] = [
            NoSession,
            ClientReleaseTooLow,
            ClientReleaseTooHigh,
            InvalidRequestOperation,
            InvalidRequestBody,
            InvalidRequestBodySize,
            SessionTooLow,
            SessionReleaseMismatch,
            InvalidCredentials,
            InvalidToken,
            UserInactive,
            SessionError,
            StaleClient,
            IncompatibleProtocol,
            MalformedLogin,
        ];
        ALL.iter().copied().find(|reason| *reason as u8 == value)
    }
}

/// A parsed eviction, as the client reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvictionHeader {
    pub client: u128,
    pub reason: EvictionReason,
    /// Only set for IncompatibleProtocol.
    pub server_protocol_version: u32,
    pub server_protocol_version_min: u32,
}

impl EvictionHeader {
    pub fn parse(bytes: &[u8]) -> Result<EvictionHeader, FrameError> {
        let header = header_of(bytes, Command::Eviction)?;
        let value = header[REASON];
        Ok(EvictionHeader {
            client: u128_at(header, CLIENT),
            reason: EvictionReason::from_u8(value).ok_or(FrameError::UnknownEvictionReason { value })?,
            server_protocol_version: u32_at(header, PROTOCOL_VERSION),
            server_protocol_version_min: u32_at(header, PROTOCOL_VERSION_MIN),
        })
    }

    /// The error the SDK turns this eviction into (`eviction_reason_to_error`): an
    /// IncompatibleProtocol with a degenerate window (min 0 or max < min) degrades to
    /// Unauthenticated.
    pub fn error_code(&self) -> ErrorCode {
        use EvictionReason::*;
        match self.reason {
            InvalidCredentials => ErrorCode::InvalidCredentials,
            InvalidToken => ErrorCode::InvalidPersonalAccessToken,
            NoSession | SessionTooLow | SessionReleaseMismatch | UserInactive | SessionError => {
                ErrorCode::Unauthenticated
            }
            StaleClient => ErrorCode::StaleClient,
            IncompatibleProtocol
                if self.server_protocol_version_min != 0
                    && self.server_protocol_version >= self.server_protocol_version_min =>
            {
                ErrorCode::IncompatibleProtocolVersion
            }
            IncompatibleProtocol => ErrorCode::Unauthenticated,
            MalformedLogin => ErrorCode::InvalidFormat,
            ClientReleaseTooLow
            | ClientReleaseTooHigh
            | InvalidRequestOperation
            | InvalidRequestBody
            | InvalidRequestBodySize => ErrorCode::InvalidCommand,
        }
    }
}

/// The 256-byte eviction frame: command 13, size 256, the client id at 128, the
/// `(server version, minimum)` window at 144/148 when given, the reason at 255, zeros
/// elsewhere. Pass [`super::PROTOCOL_WINDOW`] with IncompatibleProtocol (trap 18).
pub fn encode_eviction(client: u128, reason: EvictionReason, window: Option<(u32, u32)>) -> [u8; HEADER_SIZE] {
    let mut header = frame_part(Command::Eviction, HEADER_SIZE as u32, 0, 0, 0, 0);
    put(&mut header, CLIENT, &client.to_le_bytes());
    if let Some((version, version_min)) = window {
        put(&mut header, PROTOCOL_VERSION, &version.to_le_bytes());
        put(&mut header, PROTOCOL_VERSION_MIN, &version_min.to_le_bytes());
    }
    header[REASON] = reason as u8;
    header
}
