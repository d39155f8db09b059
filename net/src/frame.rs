//! Reading frames. A connection's first four bytes say its dialect (protocol.md §3.3): a VSR
//! client's first frame starts with 48 zero bytes, a legacy frame with its length (≥ 4).
//! A frame longer than the configured limit is refused from its header, before the body is
//! read. A body above [`EAGER_BODY`] is read only after the shard's [`BodyBudget`] grants its
//! size, so what declared-but-unsent bodies can pin is bounded per shard, not per connection.

use std::io;

use bytes::BytesMut;
use local_sync::semaphore::{AcquireError, Semaphore, SemaphorePermit};
use monoio::buf::IoBufMut;
use monoio::io::AsyncReadRentExt;
use whippet_protocol::vsr::HEADER_SIZE;

/// Which framing a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Protocol 0.11: 256-byte VSR headers.
    Vsr,
    /// Length/code framing of SDK ≤ 0.10 and the released foreign SDKs.
    Legacy,
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("frame of {size} bytes is outside {min}..={max}")]
    BadSize { size: u64, min: u64, max: u64 },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A complete VSR frame: the 256-byte header and the body, each in its own buffer so the body
/// can become a stored record without a copy.
#[derive(Debug)]
pub struct VsrFrame {
    pub header: BytesMut,
    pub body: BytesMut,
}

/// Bodies up to this size are read without asking the budget: a connection can pin at most this
/// much by declaring a body and not sending it (10,000 connections: 640 MiB at worst).
pub const EAGER_BODY: usize = 64 << 10;

/// The budget is counted in KiB so that a `u32` of permits covers terabytes.
const BUDGET_UNIT: u64 = 1 << 10;

/// How many bytes of frame bodies larger than [`EAGER_BODY`] one shard may be receiving at
/// once. A reader waits for its share before allocating, so a crowd of clients that declare
/// 64 MiB bodies and trickle them in (or never send them) holds at most the budget, while the
/// waiting ones are held back by TCP flow control. One per shard; single-threaded.
#[derive(Debug)]
pub struct BodyBudget {
    semaphore: Semaphore,
    bytes: u64,
}

impl BodyBudget {
    /// `bytes` must be at least the largest frame allowed, or such a frame would wait forever;
    /// the server's config validation enforces it, and this rounds up to it as a backstop.
    pub fn new(bytes: u64, max_frame: u32) -> BodyBudget {
        let bytes = bytes.max(u64::from(max_frame));
        let units = bytes.div_ceil(BUDGET_UNIT).min(u64::from(u32::MAX));
        BodyBudget { semaphore: Semaphore::new(units as usize), bytes }
    }

    /// The budget's size in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes not granted to any reader now.
    pub fn available(&self) -> u64 {
        self.semaphore.available_permits() as u64 * BUDGET_UNIT
    }

    async fn reserve(&self, len: usize) -> Result<Option<SemaphorePermit<'_>>, AcquireError> {
        if len <= EAGER_BODY {
            return Ok(None);
        }
        let units = (len as u64).div_ceil(BUDGET_UNIT).min(u64::from(u32::MAX)) as u32;
        self.semaphore.acquire_many(units).await.map(Some)
    }
}

/// Reads a body of `len` bytes once the budget grants it. The grant ends when the body has
/// arrived: from then on the request is the server's to finish, bounded in time by its own work.
async fn read_body<S: AsyncReadRentExt>(
    stream: &mut S,
    len: usize,
    budget: &BodyBudget,
) -> Result<Option<BytesMut>, FrameError> {
    let _grant = budget.reserve(len).await.map_err(|_| FrameError::Closed)?;
    read_exactly(stream, len).await
}

/// Reads exactly `len` bytes into a fresh buffer. `Ok(None)` on a clean EOF before any byte.
async fn read_exactly<S: AsyncReadRentExt>(stream: &mut S, len: usize) -> Result<Option<BytesMut>, FrameError> {
    if len == 0 {
        return Ok(Some(BytesMut::new()));
    }
    let buffer = BytesMut::with_capacity(len);
    let (result, slice) = stream.read_exact(buffer.slice_mut(0..len)).await;
    match result {
        Ok(_) => Ok(Some(slice.into_inner())),
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(error) => Err(FrameError::Io(error)),
    }
}

/// Reads the first four bytes of a connection and tells the dialect. `Ok(None)` when the
/// client closed without sending anything.
pub async fn sniff<S: AsyncReadRentExt>(stream: &mut S) -> Result<Option<(BytesMut, Dialect)>, FrameError> {
    let Some(first) = read_exactly(stream, 4).await? else { return Ok(None) };
    let dialect = if first[..] == [0, 0, 0, 0] { Dialect::Vsr } else { Dialect::Legacy };
    Ok(Some((first, dialect)))
}

/// Reads one VSR frame. `prefix` holds bytes already read from its start (the sniffed four).
/// `Err(Closed)` on EOF at a frame boundary.
pub async fn read_vsr_frame<S: AsyncReadRentExt>(
    stream: &mut S,
    prefix: Option<BytesMut>,
    max_frame: u32,
    budget: &BodyBudget,
) -> Result<VsrFrame, FrameError> {
    let mut header = prefix.unwrap_or_default();
    let rest = HEADER_SIZE - header.len();
    let Some(tail) = read_exactly(stream, rest).await? else { return Err(FrameError::Closed) };
    header.extend_from_slice(&tail);
    let size = u32::from_le_bytes([header[48], header[49], header[50], header[51]]);
    if size < HEADER_SIZE as u32 || size > max_frame {
        return Err(FrameError::BadSize { size: u64::from(size), min: HEADER_SIZE as u64, max: u64::from(max_frame) });
    }
    let body_len = size as usize - HEADER_SIZE;
    let Some(body) = read_body(stream, body_len, budget).await? else { return Err(FrameError::Closed) };
    Ok(VsrFrame { header, body })
}

/// A complete legacy frame: the command code and its payload.
#[derive(Debug)]
pub struct LegacyFrame {
    pub code: u32,
    pub payload: BytesMut,
}

/// Why a legacy frame was refused from its header. The caller answers InvalidCommand and
/// closes: the body was not read, so the stream cannot be resynchronised.
#[derive(Debug, thiserror::Error)]
pub enum LegacyFrameError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("legacy frame length {length} is outside 4..={max}")]
    BadLength { length: u32, max: u64 },
}

/// Reads one legacy frame `[length u32][code u32][payload]`, where `length` counts the code
/// and the payload (protocol.md §3.2). `prefix` holds bytes already read from its start.
/// `max_payload(code)` is the largest payload allowed for that code; a longer one is refused
/// before its body is read.
pub async fn read_legacy_frame<S: AsyncReadRentExt>(
    stream: &mut S,
    prefix: Option<BytesMut>,
    max_payload: impl Fn(u32) -> u32,
    budget: &BodyBudget,
) -> Result<LegacyFrame, LegacyFrameError> {
    let mut header = prefix.unwrap_or_default();
    let rest = 8 - header.len();
    let Some(tail) = read_exactly(stream, rest).await? else { return Err(FrameError::Closed.into()) };
    header.extend_from_slice(&tail);
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let code = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let max = u64::from(max_payload(code)) + 4;
    if length < 4 || u64::from(length) > max {
        return Err(LegacyFrameError::BadLength { length, max });
    }
    let Some(payload) = read_body(stream, length as usize - 4, budget).await? else {
        return Err(FrameError::Closed.into());
    };
    Ok(LegacyFrame { code, payload })
}
