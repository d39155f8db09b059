//! Reading frames. A connection's first four bytes say its dialect (protocol.md §3.3): a VSR
//! client's first frame starts with 48 zero bytes, a legacy frame with its length (≥ 4).
//! A frame longer than the configured limit is refused from its header, before the body is
//! read, so no client can make the server allocate without bound.

use std::io;

use bytes::BytesMut;
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
    let Some(body) = read_exactly(stream, body_len).await? else { return Err(FrameError::Closed) };
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
    let Some(payload) = read_exactly(stream, length as usize - 4).await? else {
        return Err(FrameError::Closed.into());
    };
    Ok(LegacyFrame { code, payload })
}
