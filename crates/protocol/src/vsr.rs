//! VSR framing of protocol 0.11 (protocol.md §3.1): every frame, in both directions, is a
//! 256-byte header followed by `size - 256` body bytes.
//!
//! Only the three header shapes a client connection sees are modelled: Request (5, client to
//! server), Reply (8) and Eviction (13). Client frames are never sealed, so the frame
//! checksums stay zero in both directions, as the reference mock did against the real SDK.

use crate::status::ErrorCode;

mod eviction;
mod operation;
mod version;

pub use eviction::{EvictionHeader, EvictionReason, encode_eviction};
pub use operation::Operation;
pub use version::{PROTOCOL_WINDOW, SERVER_PROTOCOL_VERSION, SERVER_PROTOCOL_VERSION_MIN, is_compatible, pack, unpack};

/// Size of every VSR header.
pub const HEADER_SIZE: usize = 256;
/// Largest frame the reference server accepts (`message_bus.max_message_size`, 64 MiB).
pub const MAX_FRAME_SIZE: u32 = 64 * 1024 * 1024;

// The frame part, shared by every header shape.
const CLUSTER: usize = 32;
const SIZE: usize = 48;
const VIEW: usize = 52;
const RELEASE: usize = 56;
const COMMAND: usize = 60;
const REPLICA: usize = 61;

// RequestHeader fields.
const REQUEST_CLIENT: usize = 128;
const REQUEST_CHECKSUM: usize = 144;
const REQUEST_TIMESTAMP: usize = 160;
const REQUEST_NUMBER: usize = 168;
const REQUEST_OPERATION: usize = 176;
const REQUEST_SESSION: usize = 184;
const REQUEST_USER_ID: usize = 192;
const REQUEST_CODE: usize = 196;

// ReplyHeader fields.
const REPLY_REQUEST_CHECKSUM: usize = 128;
const REPLY_CONTEXT: usize = 144;
const REPLY_CLIENT: usize = 160;
const REPLY_OP: usize = 176;
const REPLY_COMMIT: usize = 184;
const REPLY_TIMESTAMP: usize = 192;
const REPLY_REQUEST: usize = 200;
const REPLY_OPERATION: usize = 208;
const REPLY_STATUS: usize = 216;

/// The header shape, byte 60 of every header.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Request = 5,
    Reply = 8,
    Eviction = 13,
}

impl Command {
    /// The shapes of a client connection; anything else is replica traffic.
    pub fn from_u8(value: u8) -> Option<Command> {
        match value {
            5 => Some(Command::Request),
            8 => Some(Command::Reply),
            13 => Some(Command::Eviction),
            _ => None,
        }
    }
}

/// Why a header was refused. [`FrameError::code`] gives the status to answer with where an
/// answer is possible; the size and command faults mean the stream cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("header of {length} bytes is shorter than 256")]
    ShortHeader { length: usize },
    #[error("command {found} is not one a client connection carries")]
    UnknownCommand { found: u8 },
    #[error("command {found} where {expected:?} was expected")]
    UnexpectedCommand { found: u8, expected: Command },
    #[error("frame size {size} is smaller than the 256-byte header")]
    SizeTooSmall { size: u32 },
    #[error("frame size {size} is over the {max}-byte limit")]
    SizeTooLarge { size: u32, max: u32 },
    #[error("operation 0 is reserved")]
    ReservedOperation,
    #[error("operation {value} is server-internal")]
    InternalOperation { value: u8 },
    #[error("operation {value} is unknown")]
    UnknownOperation { value: u8 },
    #[error("client id is 0")]
    ZeroClient,
    #[error("a Register must carry session 0 and request 0, not {session} and {request}")]
    RegisterNotFresh { session: u64, request: u64 },
    #[error("{operation:?} needs a session")]
    MissingSession { operation: Operation },
    #[error("{operation:?} needs a request number above 0")]
    MissingRequestNumber { operation: Operation },
    #[error("request_checksum does not match the body")]
    RequestChecksum,
    #[error("eviction reason {value} is unknown")]
    UnknownEvictionReason { value: u8 },
}

impl FrameError {
    /// The reply status for a request refused for this reason: InvalidCommand for malformed
    /// headers and operations (what the reference server denies undeclared operations with),
    /// Unauthenticated for a replicated request without a session, InvalidFormat for a
    /// request checksum that does not match (the reference server's checksum deny).
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::MissingSession { .. } => ErrorCode::Unauthenticated,
            FrameError::RequestChecksum => ErrorCode::InvalidFormat,
            _ => ErrorCode::InvalidCommand,
        }
    }
}

/// Reads the command byte of any header.
pub fn peek_command(header: &[u8]) -> Result<Command, FrameError> {
    let found = *header.get(COMMAND).ok_or(FrameError::ShortHeader { length: header.len() })?;
    Command::from_u8(found).ok_or(FrameError::UnknownCommand { found })
}

/// The total frame length (header included) a request header announces, checked against the
/// bounds of §3.1 (at least 256, at most [`MAX_FRAME_SIZE`]). The network layer reads this
/// many bytes, then hands the header to a parser.
pub fn frame_size(header: &[u8]) -> Result<usize, FrameError> {
    let raw = header.get(SIZE..SIZE + 4).ok_or(FrameError::ShortHeader { length: header.len() })?;
    let size = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
    if (size as usize) < HEADER_SIZE {
        return Err(FrameError::SizeTooSmall { size });
    }
    if size > MAX_FRAME_SIZE {
        return Err(FrameError::SizeTooLarge { size, max: MAX_FRAME_SIZE });
    }
    Ok(size as usize)
}

/// A client request header (§3.1). The operation byte stays raw so that a request with an
/// unknown operation can still be answered: the deny reply must echo it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestHeader {
    pub cluster: u128,
    /// Whole frame, header included.
    pub size: u32,
    pub view: u32,
    pub release: u32,
    pub replica: u8,
    /// Random per login, never 0.
    pub client: u128,
    /// `xxh3_64(body)` for Register, Logout, metadata ops and DeleteSegments; 0 otherwise.
    pub request_checksum: u128,
    pub timestamp: u64,
    pub request: u64,
    pub operation: u8,
    pub session: u64,
    /// Sent as 0; never trusted.
    pub user_id: u32,
    /// Header bytes 196..200: the command code of a NonReplicated request, else 0.
    pub non_replicated_code: u32,
}

impl RequestHeader {
    /// Parses the first 256 bytes of `bytes`: command must be Request and `size` within
    /// bounds. Operation and session rules are checked by [`RequestHeader::validate`].
    pub fn parse(bytes: &[u8]) -> Result<RequestHeader, FrameError> {
        let header = header_of(bytes, Command::Request)?;
        Ok(RequestHeader {
            cluster: u128_at(header, CLUSTER),
            size: u32_at(header, SIZE),
            view: u32_at(header, VIEW),
            release: u32_at(header, RELEASE),
            replica: header[REPLICA],
            client: u128_at(header, REQUEST_CLIENT),
            request_checksum: u128_at(header, REQUEST_CHECKSUM),
            timestamp: u64_at(header, REQUEST_TIMESTAMP),
            request: u64_at(header, REQUEST_NUMBER),
            operation: header[REQUEST_OPERATION],
            session: u64_at(header, REQUEST_SESSION),
            user_id: u32_at(header, REQUEST_USER_ID),
            non_replicated_code: u32_at(header, REQUEST_CODE),
        })
    }

    /// Body bytes following the header.
    pub fn body_len(&self) -> usize {
        (self.size as usize).saturating_sub(HEADER_SIZE)
    }

    /// The typed operation; refuses 0, the server-internal 64..=68 and unknown values.
    pub fn operation(&self) -> Result<Operation, FrameError> {
        Operation::from_u8(self.operation)
    }

    /// The command code this request stands for (see [`Operation::command_code`]).
    pub fn command_code(&self) -> Result<u32, FrameError> {
        Ok(self.operation()?.command_code(self))
    }

    /// Applies the reference server's header rules: client != 0; a Register carries session 0
    /// and request 0; every other operation except NonReplicated carries a session and a
    /// request number above 0. NonReplicated may come without a session (PING before login).
    /// Request numbers are not checked for order (trap 15).
    pub fn validate(&self) -> Result<Operation, FrameError> {
        let operation = self.operation()?;
        if self.client == 0 {
            return Err(FrameError::ZeroClient);
        }
        match operation {
            Operation::Register if self.session != 0 || self.request != 0 => {
                Err(FrameError::RegisterNotFresh { session: self.session, request: self.request })
            }
            Operation::Register | Operation::NonReplicated => Ok(operation),
            _ if self.session == 0 => Err(FrameError::MissingSession { operation }),
            _ if self.request == 0 => Err(FrameError::MissingRequestNumber { operation }),
            _ => Ok(operation),
        }
    }

    /// Verifies a non-zero `request_checksum` against the body; a zero stamp is unstamped and
    /// passes (trap 16).
    pub fn verify_request_checksum(&self, body: &[u8]) -> Result<(), FrameError> {
        if self.request_checksum == 0 || self.request_checksum == u128::from(xxhash_rust::xxh3::xxh3_64(body)) {
            return Ok(());
        }
        Err(FrameError::RequestChecksum)
    }

    /// The 256 header bytes, as a client sends them.
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut header = frame_part(Command::Request, self.size, self.cluster, self.view, self.release, self.replica);
        put(&mut header, REQUEST_CLIENT, &self.client.to_le_bytes());
        put(&mut header, REQUEST_CHECKSUM, &self.request_checksum.to_le_bytes());
        put(&mut header, REQUEST_TIMESTAMP, &self.timestamp.to_le_bytes());
        put(&mut header, REQUEST_NUMBER, &self.request.to_le_bytes());
        header[REQUEST_OPERATION] = self.operation;
        put(&mut header, REQUEST_SESSION, &self.session.to_le_bytes());
        put(&mut header, REQUEST_USER_ID, &self.user_id.to_le_bytes());
        put(&mut header, REQUEST_CODE, &self.non_replicated_code.to_le_bytes());
        header
    }
}

/// A reply header (§3.1), as the client reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplyHeader {
    pub cluster: u128,
    pub size: u32,
    pub view: u32,
    pub release: u32,
    pub replica: u8,
    pub request_checksum: u128,
    pub context: u128,
    pub client: u128,
    /// The reference server writes the session number here; the SDK ignores it.
    pub op: u64,
    /// Metadata commit watermark; any monotonic value (or 0) works.
    pub commit: u64,
    pub timestamp: u64,
    pub request: u64,
    /// Echo of the request's operation: the SDK decides result framing from it.
    pub operation: u8,
    /// 0 = OK; otherwise a status code and an empty body.
    pub status: u32,
}

impl ReplyHeader {
    /// The reply a server sends for `request`: echoes request_checksum, client, timestamp,
    /// request number and operation (trap 4), copies the frame part, puts the session in
    /// `op` as the reference server does.
    ///
    /// Panics on a non-zero status with a body (trap 6) or a frame over 4 GiB: both are bugs.
    pub fn for_request(request: &RequestHeader, status: u32, body_len: usize, commit: u64) -> ReplyHeader {
        assert!(status == 0 || body_len == 0, "a reply with status {status} must have an empty body");
        let Some(size) = HEADER_SIZE.checked_add(body_len).and_then(|size| u32::try_from(size).ok()) else {
            panic!("reply body of {body_len} bytes does not fit a frame");
        };
        ReplyHeader {
            cluster: request.cluster,
            size,
            view: request.view,
            release: request.release,
            replica: request.replica,
            request_checksum: request.request_checksum,
            context: 0,
            client: request.client,
            op: request.session,
            commit,
            timestamp: request.timestamp,
            request: request.request,
            operation: request.operation,
            status,
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<ReplyHeader, FrameError> {
        let header = header_of(bytes, Command::Reply)?;
        Ok(ReplyHeader {
            cluster: u128_at(header, CLUSTER),
            size: u32_at(header, SIZE),
            view: u32_at(header, VIEW),
            release: u32_at(header, RELEASE),
            replica: header[REPLICA],
            request_checksum: u128_at(header, REPLY_REQUEST_CHECKSUM),
            context: u128_at(header, REPLY_CONTEXT),
            client: u128_at(header, REPLY_CLIENT),
            op: u64_at(header, REPLY_OP),
            commit: u64_at(header, REPLY_COMMIT),
            timestamp: u64_at(header, REPLY_TIMESTAMP),
            request: u64_at(header, REPLY_REQUEST),
            operation: header[REPLY_OPERATION],
            status: u32_at(header, REPLY_STATUS),
        })
    }

    /// Body bytes following the header.
    pub fn body_len(&self) -> usize {
        (self.size as usize).saturating_sub(HEADER_SIZE)
    }

    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut header = frame_part(Command::Reply, self.size, self.cluster, self.view, self.release, self.replica);
        put(&mut header, REPLY_REQUEST_CHECKSUM, &self.request_checksum.to_le_bytes());
        put(&mut header, REPLY_CONTEXT, &self.context.to_le_bytes());
        put(&mut header, REPLY_CLIENT, &self.client.to_le_bytes());
        put(&mut header, REPLY_OP, &self.op.to_le_bytes());
        put(&mut header, REPLY_COMMIT, &self.commit.to_le_bytes());
        put(&mut header, REPLY_TIMESTAMP, &self.timestamp.to_le_bytes());
        put(&mut header, REPLY_REQUEST, &self.request.to_le_bytes());
        header[REPLY_OPERATION] = self.operation;
        put(&mut header, REPLY_STATUS, &self.status.to_le_bytes());
        header
    }
}

/// The 256-byte reply header for `request` (see [`ReplyHeader::for_request`]). Result framing
/// is part of the body and is not added here.
pub fn encode_reply_header(request: &RequestHeader, status: u32, body_len: usize, commit: u64) -> [u8; HEADER_SIZE] {
    ReplyHeader::for_request(request, status, body_len, commit).encode()
}

/// Checks length, command and size, and returns the 256 header bytes.
fn header_of(bytes: &[u8], expected: Command) -> Result<&[u8], FrameError> {
    let header = bytes.get(..HEADER_SIZE).ok_or(FrameError::ShortHeader { length: bytes.len() })?;
    if header[COMMAND] != expected as u8 {
        return Err(FrameError::UnexpectedCommand { found: header[COMMAND], expected });
    }
    // The 64 MiB cap guards what we accept from clients. Replies are bounded by whoever
    // reads them (the SDK sets no limit), so a client parsing one only needs the lower bound.
    match expected {
        Command::Request => frame_size(header).map(|_| header),
        Command::Reply | Command::Eviction => match u32_at(header, SIZE) {
            size if (size as usize) < HEADER_SIZE => Err(FrameError::SizeTooSmall { size }),
            _ => Ok(header),
        },
    }
}

fn frame_part(command: Command, size: u32, cluster: u128, view: u32, release: u32, replica: u8) -> [u8; HEADER_SIZE] {
    let mut header = [0u8; HEADER_SIZE];
    put(&mut header, CLUSTER, &cluster.to_le_bytes());
    put(&mut header, SIZE, &size.to_le_bytes());
    put(&mut header, VIEW, &view.to_le_bytes());
    put(&mut header, RELEASE, &release.to_le_bytes());
    header[COMMAND] = command as u8;
    header[REPLICA] = replica;
    header
}

fn put(header: &mut [u8; HEADER_SIZE], at: usize, bytes: &[u8]) {
    header[at..at + bytes.len()].copy_from_slice(bytes);
}

fn u32_at(header: &[u8], at: usize) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&header[at..at + 4]);
    u32::from_le_bytes(raw)
}

fn u64_at(header: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&header[at..at + 8]);
    u64::from_le_bytes(raw)
}

fn u128_at(header: &[u8], at: usize) -> u128 {
    let mut raw = [0u8; 16];
    raw.copy_from_slice(&header[at..at + 16]);
    u128::from_le_bytes(raw)
}

#[cfg(test)]
mod tests;
