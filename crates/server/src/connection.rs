//! One client connection on its shard: sniff the dialect, read frames, run the command, write
//! the reply. Replies go out strictly in request order (the SDKs are lock-step). A VSR reply
//! echoes the request's operation and number; a legacy reply is `[status][length][payload]`.
//!
//! Any request counts as a heartbeat: a client silent past the heartbeat window is dropped
//! (VSR: Eviction StaleClient). However a connection ends, the client leaves the clients list
//! and every consumer group it joined.
//!
//! With TLS on, the handshake comes first, bounded by [`handshake_limit`]; the loops below are
//! generic over the stream, so plain TCP runs the same code, monomorphised, with no TLS in it.
//! Every timeout here ends the connection: a TLS stream whose read was cancelled must never
//! be read again (monoio-rustls's read buffer is gone with the cancelled read), only written
//! (the eviction notice) and dropped.

use std::future::Future;
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use whippet_metadata::USER_STATUS_ACTIVE;
use whippet_net::{Dialect, FrameError, LegacyFrameError, Output, read_legacy_frame, read_vsr_frame, sniff};
use whippet_protocol::codes;
use whippet_protocol::legacy;
use whippet_protocol::permissions::Permissions;
use whippet_protocol::status::ErrorCode;
use whippet_protocol::vsr::{self, EvictionReason, Operation, RequestHeader};

use crate::shard::Shard;

/// Who is on the other end.
#[derive(Debug)]
pub struct Session {
    pub client_id: u32,
    pub peer: SocketAddr,
    pub dialect: Dialect,
    /// Set by a successful login.
    pub user_id: Option<u32>,
    /// Non-zero once logged in (VSR).
    pub session: u64,
    /// The logged-in user's permissions, parsed once per metadata version.
    permissions: Option<(u64, Option<Rc<Permissions>>)>,
    /// Legacy group polls without a partition take the member's partitions in turn.
    pub group_cursor: u32,
    /// The metadata version at which the user was last seen to exist and be active.
    user_checked_at: Option<u64>,
}

impl Session {
    pub fn new(client_id: u32, peer: SocketAddr, dialect: Dialect) -> Session {
        Session {
            client_id,
            peer,
            dialect,
            user_id: None,
            session: 0,
            permissions: None,
            group_cursor: 0,
            user_checked_at: None,
        }
    }

    pub fn is_legacy(&self) -> bool {
        self.dialect == Dialect::Legacy
    }

    /// The user's permissions as of the shard's replica; `None` when the user has none (or
    /// was deleted since logging in).
    pub fn permissions(&mut self, shard: &Shard) -> Option<Rc<Permissions>> {
        let user_id = self.user_id?;
        let version = shard.applied_version();
        if let Some((cached_at, permissions)) = &self.permissions
            && *cached_at == version
        {
            return permissions.clone();
        }
        let parsed = shard.with_metadata(|m| {
            let bytes = m.user_by_id(user_id)?.permissions.as_ref()?;
            match Permissions::decode(bytes) {
                Ok(permissions) => Some(Rc::new(permissions)),
                Err(error) => {
                    tracing::error!(user_id, %error, "stored permissions do not decode; granting none");
                    None
                }
            }
        });
        self.permissions = Some((version, parsed.clone()));
        parsed
    }

    /// Forgets the cached permissions and user check (login, logout).
    pub fn reset_permissions(&mut self) {
        self.permissions = None;
        self.user_checked_at = None;
    }

    /// Whether the logged-in user still exists and is active. Looked up again only when the
    /// metadata version has moved since the last look, so the request path pays a compare.
    pub fn user_still_active(&mut self, shard: &Shard) -> bool {
        let Some(user_id) = self.user_id else { return false };
        let version = shard.applied_version();
        if self.user_checked_at == Some(version) {
            return true;
        }
        let active =
            shard.with_metadata(|m| m.user_by_id(user_id).is_some_and(|user| user.status == USER_STATUS_ACTIVE));
        if active {
            self.user_checked_at = Some(version);
        }
        active
    }
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
    /// The session ends: an eviction frame is sent (VSR) and the connection closed.
    Evict(EvictionReason, Option<(u32, u32)>),
}

impl From<ErrorCode> for Denied {
    fn from(code: ErrorCode) -> Self {
        Denied::Status(code)
    }
}

pub type Outcome = Result<Reply, Denied>;

/// Serves one connection until the client leaves, breaks the protocol or goes silent.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream, peer: SocketAddr) {
    let stream = match monoio::net::TcpStream::from_std(stream) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(shard = shard.id, %peer, %error, "cannot adopt connection");
            return;
        }
    };
    let Some(acceptor) = shard.shared.tls.clone() else {
        return serve_stream(shard, stream, peer).await;
    };
    let limit = handshake_limit(shard.shared.heartbeat_window);
    match whippet_net::tls::accept(&acceptor, stream, limit).await {
        Ok(stream) => serve_stream(shard, stream, peer).await,
        // Plain-TCP clients on a TLS port, wrong CAs, port scanners: common, and the client's
        // own error says why; one line each at debug.
        Err(error) => tracing::debug!(shard = shard.id, %peer, %error, "TLS handshake failed; connection closed"),
    }
}

/// How long a TLS handshake may take: the heartbeat window, at most 10 s. A client that
/// opens TCP and never completes the handshake holds a descriptor no longer than this.
pub fn handshake_limit(heartbeat_window: Option<Duration>) -> Duration {
    const HANDSHAKE_MAX: Duration = Duration::from_secs(10);
    heartbeat_window.map_or(HANDSHAKE_MAX, |window| window.min(HANDSHAKE_MAX))
}

/// Serves one connection, plain or TLS, from its first byte.
async fn serve_stream<S: AsyncReadRent + AsyncWriteRent>(shard: Rc<Shard>, mut stream: S, peer: SocketAddr) {
    let client_id = shard.new_client_id();
    let span = tracing::debug_span!("connection", shard = shard.id, client = client_id, %peer);
    let _entered = span.enter();
    let window = shard.shared.heartbeat_window;
    let (prefix, dialect) = match within(window, sniff(&mut stream)).await {
        Some(Ok(Some(sniffed))) => sniffed,
        Some(Ok(None)) | None => return,
        Some(Err(error)) => {
            tracing::debug!(%error, "connection failed before its first frame");
            return;
        }
    };
    let mut session = Session::new(client_id, peer, dialect);
    shard.shared.clients.connected(client_id, peer, dialect);
    match dialect {
        Dialect::Vsr => serve_vsr(&shard, &mut stream, prefix, &mut session).await,
        Dialect::Legacy => serve_legacy(&shard, &mut stream, prefix, &mut session).await,
    }
    shard.client_gone(client_id).await;
}

/// Runs `future` within the heartbeat window; `None` when the window passed first.
async fn within<F: Future>(window: Option<Duration>, future: F) -> Option<F::Output> {
    match window {
        Some(window) => monoio::time::timeout(window, future).await.ok(),
        None => Some(future.await),
    }
}

async fn serve_vsr<S: AsyncReadRent + AsyncWriteRent>(
    shard: &Rc<Shard>,
    stream: &mut S,
    prefix: BytesMut,
    session: &mut Session,
) {
    let mut prefix = Some(prefix);
    let mut output = Output::new();
    let mut last_client = 0u128;
    loop {
        let read = read_vsr_frame(stream, prefix.take(), shard.shared.max_frame_size, &shard.body_budget);
        let frame = match within(shard.shared.heartbeat_window, read).await {
            Some(Ok(frame)) => frame,
            Some(Err(FrameError::Closed)) => return,
            Some(Err(error)) => {
                // A frame too large or too small is refused from its header; nothing more of
                // it is read, and the stream cannot be resynchronised.
                tracing::info!(%error, "closing connection");
                return;
            }
            None => {
                tracing::info!("client silent past the heartbeat window; evicting");
                output.put(&vsr::encode_eviction(last_client, EvictionReason::StaleClient, None));
                let _ = output.flush(stream).await;
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
        last_client = header.client;
        let (status, reply) = match header.validate() {
            Ok(operation) => {
                let code = operation.command_code(&header);
                let result = if operation == Operation::Register {
                    crate::handlers::login_register(shard, session, &frame.body).await
                } else {
                    crate::handlers::dispatch(shard, session, code, frame.body).await
                };
                match result {
                    Ok(reply) => (0, Some(reply)),
                    Err(Denied::Status(code)) => (code.as_u32(), None),
                    Err(Denied::Evict(reason, window)) => {
                        output.put(&vsr::encode_eviction(header.client, reason, window));
                        let _ = output.flush(stream).await;
                        return;
                    }
                }
            }
            Err(error) => (error.code().as_u32(), None),
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

async fn serve_legacy<S: AsyncReadRent + AsyncWriteRent>(
    shard: &Rc<Shard>,
    stream: &mut S,
    prefix: BytesMut,
    session: &mut Session,
) {
    let mut prefix = Some(prefix);
    let mut output = Output::new();
    let max_frame = shard.shared.max_frame_size;
    loop {
        let read =
            read_legacy_frame(stream, prefix.take(), |code| legacy::payload_cap(code, max_frame), &shard.body_budget);
        let frame = match within(shard.shared.heartbeat_window, read).await {
            Some(Ok(frame)) => frame,
            Some(Err(LegacyFrameError::Frame(FrameError::Closed))) => return,
            Some(Err(LegacyFrameError::BadLength { length, max })) => {
                // Refused from its header, as server 0.8 does; the body is never read.
                tracing::info!(length, max, "legacy frame length refused; closing connection");
                output.put(&legacy::encode_response_header(ErrorCode::InvalidCommand.as_u32(), 0));
                let _ = output.flush(stream).await;
                return;
            }
            Some(Err(error)) => {
                tracing::info!(%error, "closing connection");
                return;
            }
            None => {
                tracing::info!("legacy client silent past the heartbeat window; closing");
                output.put(&legacy::encode_response_header(ErrorCode::StaleClient.as_u32(), 0));
                let _ = output.flush(stream).await;
                return;
            }
        };
        let result = match frame.code {
            codes::LOGIN_USER | codes::LOGIN_WITH_PERSONAL_ACCESS_TOKEN => {
                crate::handlers::login_legacy(shard, session, frame.code, &frame.payload).await
            }
            code => crate::handlers::dispatch(shard, session, code, frame.payload).await,
        };
        let (status, reply) = match result {
            Ok(reply) => (0, reply),
            Err(Denied::Status(code)) => (code.as_u32(), Reply::default()),
            Err(Denied::Evict(reason, _)) => (legacy_eviction_status(reason), Reply::default()),
        };
        let body_len = reply.body.len() + reply.records.iter().map(Bytes::len).sum::<usize>();
        // The 0.10 SDK never reads a 1-byte payload (trap 20); no reply of ours has one.
        debug_assert_ne!(body_len, 1);
        output.put(&legacy::encode_response_header(status, body_len as u32));
        output.put(&reply.body);
        for record in reply.records {
            output.put_bytes(record);
        }
        if let Err(error) = output.flush(stream).await {
            tracing::debug!(%error, "write failed; closing connection");
            return;
        }
        if matches!(ErrorCode::from_u32(status), Some(ErrorCode::StaleClient | ErrorCode::ClientNotFound)) {
            // Server 0.8 closes after these two.
            return;
        }
    }
}

/// The status a legacy client gets where a VSR one would be evicted.
fn legacy_eviction_status(reason: EvictionReason) -> u32 {
    let code = match reason {
        EvictionReason::InvalidCredentials => ErrorCode::InvalidCredentials,
        EvictionReason::InvalidToken => ErrorCode::InvalidPersonalAccessToken,
        EvictionReason::UserInactive => ErrorCode::UserInactive,
        EvictionReason::StaleClient => ErrorCode::StaleClient,
        EvictionReason::MalformedLogin => ErrorCode::InvalidFormat,
        _ => ErrorCode::Unauthenticated,
    };
    code.as_u32()
}
