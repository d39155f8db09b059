//! One client connection on its shard: sniff the dialect, read frames, check the session, run
//! the command, write the reply. Replies go out strictly in request order (the SDKs are
//! lock-step), and every reply echoes the request's operation and number.

use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use whippet_net::{Dialect, FrameError, Output, read_vsr_frame, sniff};
use whippet_protocol::status::ErrorCode;
use whippet_protocol::vsr::{self, EvictionReason, Operation, RequestHeader};

use crate::shard::Shard;

/// Who is on the other end.
#[derive(Debug)]
pub struct Session {
    pub client_id: u32,
    pub peer: SocketAddr,
    /// Set by a successful login.
    pub user_id: Option<u32>,
    /// Non-zero once logged in.
    pub session: u64,
}

/// A command's answer before framing.
#[derive(Debug, Default)]
pub struct Reply {
    /// Payload bytes built by the handler (without the result-section prefix).
    pub body: BytesMut,
    /// Stored record bytes that follow `body` (polls), written without a copy.
    pub records: Vec<Bytes>,
}

/// How a command ended, if not with a reply.
#[derive(Debug)]
pub enum Denied {
    /// A status code; the body stays empty.
    Status(ErrorCode),
    /// The session ends: an eviction frame is sent and the connection closed.
    Evict(EvictionReason, Option<(u32, u32)>),
}

impl From<ErrorCode> for Denied {
    fn from(code: ErrorCode) -> Self {
        Denied::Status(code)
    }
}

pub type Outcome = Result<Reply, Denied>;

/// Serves one connection until the client leaves or breaks the protocol.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream, peer: SocketAddr) {
    let mut stream = match monoio::net::TcpStream::from_std(stream) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(shard = shard.id, %peer, %error, "cannot adopt connection");
            return;
        }
    };
    let mut session = Session { client_id: shard.new_client_id(), peer, user_id: None, session: 0 };
    let span = tracing::debug_span!("connection", shard = shard.id, client = session.client_id, %peer);
    let _entered = span.enter();
    let (prefix, dialect) = match sniff(&mut stream).await {
        Ok(Some(sniffed)) => sniffed,
        Ok(None) => return,
        Err(error) => {
            tracing::debug!(%error, "connection failed before its first frame");
            return;
        }
    };
    match dialect {
        Dialect::Vsr => serve_vsr(&shard, &mut stream, prefix, &mut session).await,
        Dialect::Legacy => {
            // The legacy dialect arrives with the full protocol work; close cleanly until then.
            tracing::info!("legacy-dialect client refused: this build speaks protocol 0.11 only");
        }
    }
}

async fn serve_vsr(shard: &Rc<Shard>, stream: &mut monoio::net::TcpStream, prefix: BytesMut, session: &mut Session) {
    let mut prefix = Some(prefix);
    let mut output = Output::new();
    loop {
        let frame = match read_vsr_frame(stream, prefix.take(), shard.shared.max_frame_size).await {
            Ok(frame) => frame,
            Err(FrameError::Closed) => return,
            Err(error) => {
                // A frame too large or too small is refused from its header; nothing more of
                // it is read, and the stream cannot be resynchronised.
                tracing::info!(%error, "closing connection");
                return;
            }
        };
        let header = match RequestHeader::parse(&frame.header) {
            Ok(header) => header,
            Err(error) => {
                tracing::info!(%error, "malformed request header; closing connection");
                return;
            }
        };
        let (status, reply, close) = match header.validate() {
            Ok(operation) => match crate::handlers::dispatch(shard, session, &header, operation, frame.body).await {
                Ok(reply) => (0, Some(reply), false),
                Err(Denied::Status(code)) => (code.as_u32(), None, false),
                Err(Denied::Evict(reason, window)) => {
                    output.put(&vsr::encode_eviction(header.client, reason, window));
                    let _ = output.flush(stream).await;
                    return;
                }
            },
            Err(error) => (error.code().as_u32(), None, false),
        };
        let mut reply = reply.unwrap_or_default();
        if status == 0 && result_framed(&header, &reply) {
            let mut framed = BytesMut::with_capacity(4 + reply.body.len());
            framed.extend_from_slice(&0u32.to_le_bytes());
            framed.extend_from_slice(&reply.body);
            reply.body = framed;
        }
        let body_len = reply.body.len() + reply.records.iter().map(Bytes::len).sum::<usize>();
        let commit = shard.applied_version();
        output.put(&vsr::encode_reply_header(&header, status, body_len, commit));
        output.put(&reply.body);
        for record in reply.records {
            output.put_bytes(record);
        }
        if let Err(error) = output.flush(stream).await {
            tracing::debug!(%error, "write failed; closing connection");
            return;
        }
        if close {
            return;
        }
    }
}

/// Metadata ops and offset writes carry the `[u32 0]` result section on success; a login
/// reply too, since its body is never empty (protocol.md §3.1, traps 2 and 5).
fn result_framed(header: &RequestHeader, reply: &Reply) -> bool {
    match Operation::from_u8(header.operation) {
        Ok(operation) => operation.reply_is_result_framed(reply.body.len() + reply.records.len()),
        Err(_) => false,
    }
}
