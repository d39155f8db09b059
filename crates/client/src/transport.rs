//! One TCP connection (plain or TLS) and its framing, in either dialect (protocol.md §3).
//! Lock-step, like every Iggy SDK: one request in flight, the next only after the reply.
//!
//! A [`Request`] owns the whole outgoing frame, header room included, so a caller can build a
//! large body once and send it many times (the bench patches timestamps in place between
//! sends) without the transport copying it.

use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncReadRentExt, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio_rustls::ClientTlsStream;
use whippet_protocol::legacy::framing::{self as legacy_framing, LegacyRequestHeader, LegacyResponseHeader};
use whippet_protocol::responses::{ResultSection, split_result};
use whippet_protocol::status::ErrorCode;
use whippet_protocol::vsr::{self, EvictionHeader, HEADER_SIZE, Operation, ReplyHeader, RequestHeader};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::ClientError;
use crate::tls::Tls;

/// Which of Iggy's two wire protocols a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Protocol 0.11: 256-byte VSR headers (SDK 0.11, Python 0.9, iggy-cli 0.14).
    V011,
    /// Length/code framing (SDK ≤ 0.10, Python ≤ 0.8, Go/Java/C#/Node, server ≤ 0.8).
    Legacy,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::V011 => "0.11",
            Dialect::Legacy => "legacy",
        }
    }

    fn header_len(self) -> usize {
        match self {
            Dialect::V011 => HEADER_SIZE,
            Dialect::Legacy => legacy_framing::HEADER_SIZE,
        }
    }
}

impl std::str::FromStr for Dialect {
    type Err = String;

    fn from_str(text: &str) -> Result<Dialect, String> {
        match text {
            "0.11" | "v011" | "vsr" => Ok(Dialect::V011),
            "legacy" | "0.10" | "0.8" => Ok(Dialect::Legacy),
            other => Err(format!("dialect must be 0.11 or legacy, not `{other}`")),
        }
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

/// An outgoing frame: header room followed by the body the caller appends.
#[derive(Debug)]
pub struct Request {
    code: u32,
    header_len: usize,
    frame: BytesMut,
}

impl Request {
    /// An empty request for `code`, with room for `body_capacity` body bytes.
    pub fn new(dialect: Dialect, code: u32, body_capacity: usize) -> Request {
        let header_len = dialect.header_len();
        let mut frame = BytesMut::with_capacity(header_len + body_capacity);
        frame.put_bytes(0, header_len);
        Request { code, header_len, frame }
    }

    pub fn code(&self) -> u32 {
        self.code
    }

    /// The body, to append to or patch in place.
    pub fn body_mut(&mut self) -> BodyMut<'_> {
        BodyMut { frame: &mut self.frame, start: self.header_len }
    }

    pub fn body(&self) -> &[u8] {
        &self.frame[self.header_len..]
    }

    pub fn body_len(&self) -> usize {
        self.frame.len() - self.header_len
    }
}

/// The body part of a [`Request`]'s frame: appends go to the end, indexes are body-relative.
pub struct BodyMut<'a> {
    frame: &'a mut BytesMut,
    start: usize,
}

impl BodyMut<'_> {
    /// The frame buffer, for the protocol crate's `encode(&mut BytesMut)` functions, which only
    /// append.
    pub fn buffer(&mut self) -> &mut BytesMut {
        self.frame
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.frame[self.start..]
    }
}

/// The socket under a transport. TLS state is large, so it is boxed: a plain connection
/// pays one predictable branch per read or write.
enum Stream {
    Plain(TcpStream),
    Tls(Box<ClientTlsStream<TcpStream>>),
}

impl Stream {
    async fn write_all(&mut self, frame: BytesMut) -> (std::io::Result<usize>, BytesMut) {
        match self {
            Stream::Plain(stream) => stream.write_all(frame).await,
            Stream::Tls(stream) => stream.write_all(frame).await,
        }
    }

    async fn read_exact(&mut self, len: usize) -> Result<BytesMut, ClientError> {
        match self {
            Stream::Plain(stream) => read_exact(stream, len).await,
            Stream::Tls(stream) => read_exact(stream.as_mut(), len).await,
        }
    }
}

/// One connection to a server.
pub struct Transport {
    stream: Stream,
    dialect: Dialect,
    /// VSR client id: random per login, never 0.
    client: u128,
    session: u64,
    /// Last request number a replicated operation consumed.
    request_number: u64,
    address: SocketAddr,
}

impl Transport {
    /// Connects over plain TCP.
    pub async fn connect(address: SocketAddr, dialect: Dialect) -> Result<Transport, ClientError> {
        Transport::connect_with(address, dialect, None).await
    }

    /// Connects, over TLS when `tls` is given (the handshake completes before this returns).
    pub async fn connect_with(
        address: SocketAddr,
        dialect: Dialect,
        tls: Option<&Tls>,
    ) -> Result<Transport, ClientError> {
        let socket = TcpStream::connect(address).await?;
        socket.set_nodelay(true)?;
        let stream = match tls {
            None => Stream::Plain(socket),
            Some(tls) => Stream::Tls(Box::new(tls.connect(socket).await?)),
        };
        Ok(Transport { stream, dialect, client: new_client_id(), session: 0, request_number: 0, address })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Binds the session a 0.11 login returned; later requests carry it.
    pub(crate) fn bind_session(&mut self, session: u64) {
        self.session = session;
        self.request_number = 0;
    }

    /// Forgets the session (logout), and mints a new client id for the next login, as the SDK does.
    pub(crate) fn reset_session(&mut self) {
        self.session = 0;
        self.request_number = 0;
        self.client = new_client_id();
    }

    /// Sends `request` and returns the reply payload (result section already removed) and the
    /// request, so its buffer can be sent again.
    pub async fn call(&mut self, request: Request) -> Result<(Bytes, Request), ClientError> {
        match self.dialect {
            Dialect::V011 => self.call_vsr(request).await,
            Dialect::Legacy => self.call_legacy(request).await,
        }
    }

    async fn call_vsr(&mut self, mut request: Request) -> Result<(Bytes, Request), ClientError> {
        let operation = Operation::for_command(request.code);
        let (session, number) = match operation {
            Operation::Register => (0, 0),
            Operation::NonReplicated => (self.session, self.request_number),
            _ => {
                self.request_number += 1;
                (self.session, self.request_number)
            }
        };
        let body = request.body();
        let header = RequestHeader {
            size: frame_size_u32(HEADER_SIZE + body.len())?,
            client: self.client,
            request_checksum: if operation.stamps_request_checksum() { u128::from(xxh3_64(body)) } else { 0 },
            request: number,
            operation: operation.as_u8(),
            session,
            non_replicated_code: if operation == Operation::NonReplicated { request.code } else { 0 },
            ..RequestHeader::default()
        };
        request.frame[..HEADER_SIZE].copy_from_slice(&header.encode());
        let frame = std::mem::take(&mut request.frame);
        let (result, frame) = self.stream.write_all(frame).await;
        request.frame = frame;
        result?;

        let reply_header = self.stream.read_exact(HEADER_SIZE).await?;
        match vsr::peek_command(&reply_header) {
            Ok(vsr::Command::Reply) => {}
            Ok(vsr::Command::Eviction) => {
                let eviction = EvictionHeader::parse(&reply_header)
                    .map_err(|error| ClientError::Protocol(format!("bad eviction header: {error}")))?;
                self.reset_session();
                return Err(ClientError::Evicted { reason: eviction.reason, code: eviction.error_code() });
            }
            other => return Err(ClientError::Protocol(format!("unexpected frame from the server: {other:?}"))),
        }
        let reply = ReplyHeader::parse(&reply_header)
            .map_err(|error| ClientError::Protocol(format!("bad reply header: {error}")))?;
        let body = self.stream.read_exact(reply.body_len()).await?.freeze();
        if reply.status != 0 {
            return Err(ClientError::Status { code: reply.status });
        }
        let echoed = Operation::from_u8(reply.operation)
            .map_err(|error| ClientError::Protocol(format!("reply echoes operation {}: {error}", reply.operation)))?;
        if echoed != operation {
            return Err(ClientError::Protocol(format!("reply echoes {echoed:?}, request was {operation:?}")));
        }
        if !echoed.reply_is_result_framed(body.len()) {
            return Ok((body, request));
        }
        match split_result(&body) {
            Ok(ResultSection::Ok(payload)) => {
                let from = body.len() - payload.len();
                Ok((body.slice(from..), request))
            }
            Ok(ResultSection::Rejected(code)) => Err(ClientError::Status { code }),
            Err(_) => Err(ClientError::Protocol(format!("result section of {} bytes is too short", body.len()))),
        }
    }

    async fn call_legacy(&mut self, mut request: Request) -> Result<(Bytes, Request), ClientError> {
        let header = LegacyRequestHeader::new(request.code, request.body_len());
        request.frame[..legacy_framing::HEADER_SIZE].copy_from_slice(&header.encode());
        let frame = std::mem::take(&mut request.frame);
        let (result, frame) = self.stream.write_all(frame).await;
        request.frame = frame;
        result?;

        let raw = self.stream.read_exact(legacy_framing::HEADER_SIZE).await?;
        let mut header = [0u8; legacy_framing::HEADER_SIZE];
        header.copy_from_slice(&raw);
        let reply = LegacyResponseHeader::parse(&header);
        if reply.status != 0 {
            return Err(ClientError::Status { code: reply.status });
        }
        let body = self.stream.read_exact(reply.body_len() as usize).await?.freeze();
        Ok((body, request))
    }
}

/// A server status that means "stale client": the connection is gone for good.
pub fn is_stale(error: &ClientError) -> bool {
    error.status() == Some(ErrorCode::StaleClient as u32)
}

async fn read_exact<S: AsyncReadRent>(stream: &mut S, len: usize) -> Result<BytesMut, ClientError> {
    if len == 0 {
        return Ok(BytesMut::new());
    }
    let buffer = BytesMut::with_capacity(len);
    let (result, slice) = stream.read_exact(buffer.slice_mut(0..len)).await;
    result?;
    Ok(slice.into_inner())
}

fn frame_size_u32(size: usize) -> Result<u32, ClientError> {
    u32::try_from(size).map_err(|_| ClientError::InvalidRequest(format!("a frame of {size} bytes exceeds 4 GiB")))
}

/// A random, non-zero VSR client id.
fn new_client_id() -> u128 {
    loop {
        let id = fastrand::u128(..);
        if id != 0 {
            return id;
        }
    }
}
