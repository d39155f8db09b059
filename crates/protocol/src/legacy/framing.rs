//! Legacy framing (protocol.md §3.2).
//!
//! Request: `[length u32][code u32][payload]` where `length` = 4 + payload length (it counts
//! the code, not itself). Response: `[status u32][length u32][payload]` where `length` counts
//! the payload only (trap 20: the two length fields mean different things).

use crate::codes;
use crate::status::ErrorCode;

/// Size of the request header and of the response header.
pub const HEADER_SIZE: usize = 8;

/// Largest payload server 0.8 accepts for any command but SendMessages
/// (`MAX_CONTROL_FRAME_PAYLOAD` in its `binary/dispatch.rs`, "10 MB"); beyond it, and for a
/// length below 4, it answers InvalidCommand. Control payloads are a few hundred bytes at
/// most, so the cap only bounds what a hostile peer can make us buffer.
pub const MAX_CONTROL_PAYLOAD_SIZE: u32 = 10 * 1024 * 1024;

/// Why a request header was refused. Both answer InvalidCommand, as server 0.8 does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("request length {length} is below 4, so it cannot hold the command code")]
    LengthTooSmall { length: u32 },
    #[error("command {code} carries {payload_length} payload bytes, more than its cap of {cap}")]
    PayloadTooLarge { code: u32, payload_length: u32, cap: u32 },
}

impl FrameError {
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidCommand
    }
}

impl From<FrameError> for ErrorCode {
    fn from(error: FrameError) -> ErrorCode {
        error.code()
    }
}

/// The 8 bytes in front of every legacy request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyRequestHeader {
    /// 4 + payload length; never below 4 once parsed.
    pub length: u32,
    pub code: u32,
}

impl LegacyRequestHeader {
    /// A header for a request carrying `payload_length` bytes. Panics when the length does
    /// not fit the u32 field: no frame can carry that much.
    pub fn new(code: u32, payload_length: usize) -> LegacyRequestHeader {
        let length = u32::try_from(payload_length).ok().and_then(|length| length.checked_add(4));
        let Some(length) = length else {
            panic!("payload of {payload_length} bytes does not fit a legacy frame");
        };
        LegacyRequestHeader { length, code }
    }

    /// Reads the header. Only the length is checked here; the size cap needs the server's
    /// configuration ([`LegacyRequestHeader::check_size`]) and the code is the dispatcher's.
    pub fn parse(bytes: &[u8; HEADER_SIZE]) -> Result<LegacyRequestHeader, FrameError> {
        let [l0, l1, l2, l3, c0, c1, c2, c3] = *bytes;
        let length = u32::from_le_bytes([l0, l1, l2, l3]);
        let code = u32::from_le_bytes([c0, c1, c2, c3]);
        if length < 4 {
            return Err(FrameError::LengthTooSmall { length });
        }
        Ok(LegacyRequestHeader { length, code })
    }

    /// Bytes of payload that follow the header.
    pub fn payload_len(&self) -> u32 {
        self.length.saturating_sub(4)
    }

    /// Refuses a payload over the cap of its command ([`payload_cap`]) before any of it is
    /// read, so a peer cannot make the server buffer more than the cap.
    pub fn check_size(&self, max_frame_size: u32) -> Result<(), FrameError> {
        let cap = payload_cap(self.code, max_frame_size);
        let payload_length = self.payload_len();
        if payload_length > cap {
            return Err(FrameError::PayloadTooLarge { code: self.code, payload_length, cap });
        }
        Ok(())
    }

    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut bytes = [0u8; HEADER_SIZE];
        bytes[..4].copy_from_slice(&self.length.to_le_bytes());
        bytes[4..].copy_from_slice(&self.code.to_le_bytes());
        bytes
    }
}

/// The largest payload a request with `code` may carry when whole frames (header included)
/// are limited to `max_frame_size`: SendMessages may use the whole frame, every other
/// command at most [`MAX_CONTROL_PAYLOAD_SIZE`] (server 0.8 streams SendMessages and checks
/// it message by message; we buffer it, so the configured frame limit bounds it instead).
pub fn payload_cap(code: u32, max_frame_size: u32) -> u32 {
    let frame_cap = max_frame_size.saturating_sub(HEADER_SIZE as u32);
    if code == codes::SEND_MESSAGES { frame_cap } else { frame_cap.min(MAX_CONTROL_PAYLOAD_SIZE) }
}

/// Writes the response header: `[status u32][length u32]`, `length` = payload bytes only.
///
/// Panics on the two replies a legacy client misreads (trap 20, trap 6): a non-zero status
/// with a payload (the SDK never reads the body of an error, so the bytes would be taken for
/// the next reply) and a 1-byte payload (the SDK treats `length <= 1` as empty and leaves the
/// byte in the socket). Both are bugs in the caller, never input.
pub fn encode_response_header(status: u32, payload_length: u32) -> [u8; HEADER_SIZE] {
    assert!(status == 0 || payload_length == 0, "error {status} must not carry a payload");
    assert!(payload_length != 1, "a 1-byte legacy reply is never read by the SDK");
    let mut bytes = [0u8; HEADER_SIZE];
    bytes[..4].copy_from_slice(&status.to_le_bytes());
    bytes[4..].copy_from_slice(&payload_length.to_le_bytes());
    bytes
}

/// `[0][length]`: a success with `payload_length` bytes after it (`[0][0]` when empty).
/// Panics when the length does not fit a u32 or is 1 (see [`encode_response_header`]).
pub fn encode_ok_header(payload_length: usize) -> [u8; HEADER_SIZE] {
    let Ok(length) = u32::try_from(payload_length) else {
        panic!("reply of {payload_length} bytes does not fit a legacy frame");
    };
    encode_response_header(0, length)
}

/// `[code][0]`: an error, never with a body (trap 6).
pub fn encode_error_header(code: ErrorCode) -> [u8; HEADER_SIZE] {
    encode_response_header(code.as_u32(), 0)
}

/// The 8 bytes in front of every legacy response, as our client reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyResponseHeader {
    /// 0 = OK, otherwise an Iggy status code.
    pub status: u32,
    /// Payload bytes that follow.
    pub length: u32,
}

impl LegacyResponseHeader {
    pub fn parse(bytes: &[u8; HEADER_SIZE]) -> LegacyResponseHeader {
        let [s0, s1, s2, s3, l0, l1, l2, l3] = *bytes;
        LegacyResponseHeader {
            status: u32::from_le_bytes([s0, s1, s2, s3]),
            length: u32::from_le_bytes([l0, l1, l2, l3]),
        }
    }

    /// Payload bytes a client must read after the header: none for an error and none for a
    /// length of 1, exactly as SDK 0.10 does, so our client stays in step with it.
    pub fn body_len(&self) -> u32 {
        if self.status != 0 || self.length <= 1 { 0 } else { self.length }
    }
}

#[cfg(test)]
mod tests;
